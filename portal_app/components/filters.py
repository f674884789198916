"""The search field and the option filter above a server-paged staff list (onboarding, User Management)."""

from __future__ import annotations

import reflex as rx

from portal_app.components.styles import CONTROL, HINT, LABEL

# How long after the last keystroke the list asks the server. A search at 500,000 patients
# answers in a few milliseconds, so the pause is what a person waits for: short enough that the
# rows follow the typing, long enough that a quick typist's word is one search, not five.
SEARCH_PAUSE_MS = 120


def search_box(field_id: str, value: rx.Var, on_change, *, placeholder: str, hint: str,
               hint_style: dict = HINT) -> rx.Component:
    """A labelled search field that asks the server a moment after typing stops, with its hint."""
    return rx.el.div(
        rx.el.label("Search", html_for=field_id, style=LABEL),
        rx.debounce_input(
            rx.el.input(id=field_id, type="search", value=value, on_change=on_change, autocomplete="off",
                        max_length=200, placeholder=placeholder, aria_describedby=f"{field_id}-hint",
                        style={**CONTROL, "width": "26em", "max_width": "100%"}),
            debounce_timeout=SEARCH_PAUSE_MS,
        ),
        rx.el.p(hint, id=f"{field_id}-hint", style=hint_style),
        style={"margin_right": "1.5em"},
    )


def option_filter(label: str, field_id: str, options, value: rx.Var, on_change) -> rx.Component:
    """A labelled select of (value, label) options."""
    return rx.el.div(
        rx.el.label(label, html_for=field_id, style=LABEL),
        rx.el.select(*[rx.el.option(text, value=option) for option, text in options],
                     id=field_id, value=value, on_change=on_change, style=CONTROL),
    )


def filter_bar(*children: rx.Component) -> rx.Component:
    """The filters side by side, wrapping on a narrow screen."""
    return rx.el.div(*children, style={"display": "flex", "flex_wrap": "wrap", "align_items": "flex-start",
                                       "gap": "0.5em", "margin_bottom": "1em"})


def no_match(state, what: str) -> rx.Component:
    """Once a searched list (`state.loaded`, `state.rows`) has loaded empty: "No <what> match this
    search and filter."."""
    return rx.cond(state.loaded & (state.rows.length() == 0),
                   rx.el.p(f"No {what} match this search and filter.", role="status", style={"margin": "1em 0"}))
