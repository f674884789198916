"""Reflex state: thin handlers that check access and call services."""
