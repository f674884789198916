"""Form pieces with real labels and an error line tied to the field (aria-describedby)."""

from __future__ import annotations

import reflex as rx

from portal_app.components.styles import CHECK_ROW, DISABLED_FIELDSET, ERROR_COLOR, FIELD, HINT, INPUT, LABEL


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


def invalid_flag(error: rx.Var) -> rx.Var:
    """The `aria-invalid` value of a field whose error message is `error`."""
    return rx.cond(error != "", "true", "false")


def submit_button(text: str) -> rx.Component:
    """The large submit button of a portal form."""
    return rx.button(text, type="submit", size="3", margin_top="0.5em")


def textarea_field(label: str, field_id: str, *, error: rx.Var, hint: str, max_length: int,
                   rows: int = 8) -> rx.Component:
    """A labelled multi-line field for form submission (`name` is `field_id`), with its hint."""
    return rx.el.div(
        rx.el.label(label, html_for=field_id, style=LABEL),
        rx.el.textarea(id=field_id, name=field_id, rows=rows, max_length=max_length,
                       aria_describedby=f"{field_id}-error {field_id}-hint", aria_invalid=invalid_flag(error),
                       style={**INPUT, "font_family": "inherit"}),
        rx.el.p(hint, id=f"{field_id}-hint", style=HINT),
        field_error(field_id, error),
        style={"margin_bottom": "1em", "max_width": "40em"},
    )


def checkbox_field(label: str, field_id: str, checked: rx.Var, on_change, *,
                   margin_bottom: str = "0.8em") -> rx.Component:
    """A controlled checkbox (`name` is `field_id`) with its label beside it."""
    return rx.el.div(
        rx.el.input(type="checkbox", id=field_id, name=field_id, checked=checked, on_change=on_change,
                    style={"width": "1.1em", "height": "1.1em"}),
        rx.el.label(label, html_for=field_id),
        style={**CHECK_ROW, "margin_bottom": margin_bottom},
    )


def editable_fieldset(can_edit: rx.Var, *fields: rx.Component, error: rx.Var, notice: rx.Var,
                      submit: str) -> rx.Component:
    """The fields of a staff form, its error and notice, and its submit button; all disabled for
    a user who may only view (`can_edit` false)."""
    return rx.el.fieldset(
        *fields,
        form_alert(error),
        form_notice(notice),
        rx.button(submit, type="submit", disabled=~can_edit),
        disabled=~can_edit,
        style=DISABLED_FIELDSET,
    )
