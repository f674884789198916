"""Form pieces with real labels and an error line tied to the field (aria-describedby)."""

from __future__ import annotations

import reflex as rx

from portal_app.components.styles import ERROR_COLOR, FIELD, HINT, INPUT, LABEL

__all__ = ["ERROR_COLOR", "field_error", "form_alert", "form_notice", "text_field"]


def field_error(field_id: str, message: rx.Var | str) -> rx.Component:
    return rx.cond(
        message != "",
        rx.el.p(message, id=f"{field_id}-error", role="alert",
                style={"color": ERROR_COLOR, "font_size": "0.9em", "margin": "0.2em 0 0"}),
    )


def text_field(label: str, field_id: str, *, error: rx.Var | str = "", input_type: str = "text",
               hint: str = "", **input_props) -> rx.Component:
    """A labelled input. Pass `name=` for form submission, or value/on_change for live checks."""
    props = {"id": field_id, "name": input_props.pop("name", field_id), "type": input_type,
             "aria_describedby": f"{field_id}-error {field_id}-hint",
             "style": INPUT}
    props.update(input_props)
    return rx.el.div(
        rx.el.label(label, html_for=field_id, style=LABEL),
        rx.el.input(**props),
        rx.el.p(hint, id=f"{field_id}-hint", style=HINT) if hint else rx.fragment(),
        field_error(field_id, error),
        style=FIELD,
    )


def form_alert(message: rx.Var | str) -> rx.Component:
    """A message for the whole form (e.g. a failed sign-in), announced to screen readers."""
    return rx.cond(message != "", rx.callout(message, icon="triangle_alert", color_scheme="red",
                                             role="alert", margin_bottom="1em", high_contrast=True))


def form_notice(message: rx.Var | str) -> rx.Component:
    return rx.cond(message != "", rx.callout(message, icon="info", color_scheme="green",
                                             role="status", margin_bottom="1em", high_contrast=True))
