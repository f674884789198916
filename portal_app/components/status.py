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


# The rectangle's look, as rules for the table that holds the rectangles (merged into the
# onboarding list's row rules): a class per state instead of a style object on each of 50
# buttons, which React would have to style again whenever a page of rows is drawn.
STATUS_RULES = {
    "& .status": {"display": "inline-flex", "align_items": "center"},
    "& .status-button": {
        "color": "white",
        "width": "2.6em",
        "height": "1.6em",
        "border": "2px solid",
        "border_radius": "4px",
        "cursor": "pointer",
        "font_weight": "700",
        "line_height": "1",
        "_focus_visible": FOCUS_RING,
        "_hover": {"filter": "brightness(1.15)"},
    },
    "& .status-on .status-button": {"background": GREEN, "border_color": GREEN},
    "& .status-off .status-button": {"background": RED, "border_color": RED},
    "& .status-label": {"font_weight": "600", "margin_left": "0.5em", "white_space": "nowrap"},
    "& .status-on .status-label": {"color": GREEN},
    "& .status-off .status-label": {"color": RED},
}


def status_rectangle(*, enabled: rx.Var[bool], name: rx.Var[str], on_click,
                     button_id: rx.Var[str] | str | None = None) -> rx.Component:
    """The rectangle and its text label (styled by `STATUS_RULES` on the table around it).

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
            class_name="status-button",
        ),
        rx.el.span(rx.cond(enabled, "Enabled", "Not enabled"), class_name="status-label"),
        class_name=rx.cond(enabled, "status status-on", "status status-off"),
    )
