"""Every rule and every query. Plain Python: nothing here imports Reflex."""
