"""Slot: filled in by the helper that owns this page."""

import reflex as rx


def add_pages(app: rx.App) -> None:
    """Register this module's pages (none yet)."""
