"""Outbound messages: the outbox table first, then a transport."""
