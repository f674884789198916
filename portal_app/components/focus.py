"""Keyboard focus that survives a redraw (assets/focus_keeper.js), on every page."""

from __future__ import annotations

import reflex as rx


def focus_keeper() -> rx.Component:
    """When the focused element is redrawn away (a form replaced by its answer, a button by its
    opposite, a dialog whose opener is gone), focus moves to the nearest message, heading or
    control still on the page instead of falling back to the top of the page."""
    return rx.script(src="/focus_keeper.js")
