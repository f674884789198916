"""The to-dos on the portal home: forms the practice asked for, until they are sent. UI only."""

import reflex as rx

from portal_app.components.styles import PAGE_LINK, TEXT_SOFT
from portal_app.state.patient_forms import FormTodosState

# The home page runs this after HomeState.load (see pages/patient/home.py).
ON_LOAD = [FormTodosState.load]


def _todo(row) -> rx.Component:
    return rx.el.li(
        rx.link(row["label"], href=row["href"], style=PAGE_LINK),
        rx.el.span(" (requested ", row["requested_on"], ")", style={"color": TEXT_SOFT}),
        style={"margin_bottom": "0.4em"},
    )


def todos() -> rx.Component:
    return rx.cond(
        FormTodosState.todos.length() > 0,
        rx.el.section(
            rx.heading("Forms to fill in", as_="h2", size="4", margin_bottom="0.4em"),
            rx.el.p("The practice asked you to fill in these forms:", style={"margin_bottom": "0.4em"}),
            rx.el.ul(rx.foreach(FormTodosState.todos, _todo), style={"padding_left": "1.2em"}),
            aria_label="Forms to fill in",
            style={"margin_bottom": "1.5em", "padding": "0.8em 1em", "border": "1px solid #b58900",
                   "border_radius": "8px", "background": "#fff8e1"},
        ),
    )
