"""Moving keyboard focus after the page has redrawn (dialogs, replaced rows, new sections)."""

from __future__ import annotations

import json

import reflex as rx


def focus_later(*element_ids: str) -> rx.event.EventSpec:
    """Focus the first of these elements that exists, once the page has redrawn.

    A dialog opened from a list row has no trigger for Radix to hand focus back to; after the
    action the row's button may be gone too, so callers name fall-backs (the row, a heading).
    """
    lookups = " || ".join(f"document.getElementById({json.dumps(i)})" for i in element_ids)
    return rx.call_script(f"setTimeout(() => ({lookups})?.focus(), 50)")
