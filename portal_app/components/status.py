"""The status rectangle: red = portal access not enabled, green = enabled.

One real <button> whose accessible name says what a click does ("Enable portal access for
Lopez, Maria"), with a text label beside it so colour is never the only signal. It stays
the same element when it changes colour, so keyboard focus stays on it.
"""

from __future__ import annotations

import reflex as rx

from portal_app.components.styles import ERROR_COLOR, FOCUS_RING

RED = ERROR_COLOR
GREEN = "#1e7a34"  # 5.4:1 on white


def status_rectangle(*, enabled: rx.Var[bool], name: rx.Var[str], on_click,
                     button_id: rx.Var[str] | str | None = None) -> rx.Component:
    """The rectangle and its text label.

    Args:
        enabled: whether portal access is on.
        name: the patient's name, for the button's accessible name.
        on_click: the event for a click (the state decides: enable, or ask to disable).
        button_id: the button's DOM id (focus returns to it after the confirmation).
    """
    return rx.el.span(
        rx.el.button(
            rx.el.span(rx.cond(enabled, "✓", "✕"), aria_hidden="true"),
            type="button",
            id=button_id,
            on_click=on_click,
            aria_label=rx.cond(enabled, f"Disable portal access for {name}",
                               f"Enable portal access for {name}"),
            title=rx.cond(enabled, "Portal access is enabled. Click to disable.",
                          "Portal access is not enabled. Click to enable."),
            style={
                "background": rx.cond(enabled, GREEN, RED),
                "color": "white",
                "width": "2.6em",
                "height": "1.6em",
                "border": "2px solid",
                "border_color": rx.cond(enabled, GREEN, RED),
                "border_radius": "4px",
                "cursor": "pointer",
                "font_weight": "700",
                "line_height": "1",
                "_focus_visible": FOCUS_RING,
                "_hover": {"filter": "brightness(1.15)"},
            },
        ),
        rx.el.span(
            rx.cond(enabled, "Enabled", "Not enabled"),
            style={"color": rx.cond(enabled, GREEN, RED), "font_weight": "600",
                   "margin_left": "0.5em", "white_space": "nowrap"},
        ),
        style={"display": "inline-flex", "align_items": "center"},
    )
