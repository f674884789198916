"""Outbound messages: transports, templates and letters (the outbox itself is services/outbox.py)."""
