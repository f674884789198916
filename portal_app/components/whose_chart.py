""""Whose chart is this?": asked wherever a person redeems a connection key (creating an account,
connecting another chart). Their own chart connects as Self; the chart of someone they care for
connects them as that patient's authorized representative, with their relationship."""

from __future__ import annotations

import reflex as rx

from portal_app.components.forms import field_error, invalid_flag
from portal_app.components.styles import CHECK_ROW, FIELD, HINT, INPUT, LABEL
from portal_app.services.accounts import RELATIONSHIPS
from portal_app.services.keys import WHOSE_CARED_FOR, WHOSE_SELF

CHOICES = (
    (WHOSE_SELF, "My own chart (I am the patient)"),
    (WHOSE_CARED_FOR, "The chart of someone I care for (for example my child)"),
)


def _choice(value: str, label: str) -> rx.Component:
    field_id = f"whose-{value}"
    return rx.el.div(
        rx.el.input(type="radio", id=field_id, name="whose", value=value, aria_describedby="whose-error",
                    style={"width": "1.1em", "height": "1.1em"}),
        rx.el.label(label, html_for=field_id),
        style={**CHECK_ROW, "margin_bottom": "0.4em"},
    )


def whose_chart_fields(whose_error: rx.Var, relationship_error: rx.Var) -> rx.Component:
    """The fields `whose` (radio) and `relationship` (select) of a key-redeeming form."""
    return rx.fragment(
        rx.el.fieldset(
            rx.el.legend("Whose chart is this?", style={**LABEL, "padding": "0 0.3em"}),
            *[_choice(value, label) for value, label in CHOICES],
            field_error("whose", whose_error),
            aria_invalid=invalid_flag(whose_error),
            style={**FIELD, "border": "none", "padding": "0", "margin_left": "0"},
        ),
        rx.el.div(
            rx.el.label("Your relationship to the patient", html_for="relationship", style=LABEL),
            rx.el.select(rx.el.option("Choose (only for someone you care for)", value=""),
                         *[rx.el.option(text, value=key) for key, text in RELATIONSHIPS.items()],
                         id="relationship", name="relationship", default_value="",
                         aria_describedby="relationship-error relationship-hint",
                         aria_invalid=invalid_flag(relationship_error),
                         style={**INPUT, "width": "auto", "min_width": "16em"}),
            rx.el.p("You will see the areas the practice opens to representatives; the practice can "
                    "change them.", id="relationship-hint", style=HINT),
            field_error("relationship", relationship_error),
            style=FIELD,
        ),
    )
