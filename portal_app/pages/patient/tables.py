"""Portal lists: tables that fit a phone (on a narrow screen each row becomes a card and every
cell says what it is, "Status: Requested", so nothing scrolls sideways) and numbered pages. UI only."""

from __future__ import annotations

import reflex as rx

CELL = {"text_align": "left", "padding": "0.4em 0.6em", "border_bottom": "1px solid #ccc",
        "vertical_align": "top"}
HEAD = {**CELL, "border_bottom": "2px solid #767676"}

# Below 40em (640px): the header row is kept for screen readers only, rows are cards, and each
# cell shows its column name (from data-label) before its value.
_STACK_ON_PHONE = {
    "@media screen and (max-width: 40em)": {
        "& thead": {"position": "absolute", "width": "1px", "height": "1px", "overflow": "hidden",
                    "clip": "rect(0 0 0 0)", "white_space": "nowrap"},
        "& tbody tr": {"display": "block", "border": "1px solid #ccc", "border_radius": "8px",
                       "padding": "0.5em 0.8em", "margin_bottom": "0.8em"},
        "& tbody th, & tbody td": {"display": "block", "border": "none", "padding": "0.2em 0"},
        "& tbody td[data-label]::before": {"content": "attr(data-label) \": \"", "font_weight": "600"},
        # An empty cell (a document without a note) is left out of the card.
        "& tbody td[data-label]:empty": {"display": "none"},
    },
}


def cell(label: str, *children, style: dict | None = None, **props) -> rx.Component:
    """A data cell that names its column on a phone."""
    return rx.el.td(*children, custom_attrs={"data-label": label}, style={**CELL, **(style or {})}, **props)


def row_header(*children, style: dict | None = None) -> rx.Component:
    """The cell that names the row (its card's title on a phone)."""
    return rx.el.th(*children, scope="row", style={**CELL, "font_weight": "600", **(style or {})})


def table(headers: tuple[str, ...], rows: rx.Component, *, caption: str = "") -> rx.Component:
    return rx.el.table(
        rx.el.caption(caption, style={"text_align": "left", "color": "#333", "margin_bottom": "0.3em"})
        if caption else rx.fragment(),
        rx.el.thead(rx.el.tr(*[rx.el.th(title, scope="col", style=HEAD) for title in headers])),
        rx.el.tbody(rows),
        style={"border_collapse": "collapse", "width": "100%", **_STACK_ON_PHONE},
    )


def pager(state, aria_label: str) -> rx.Component:
    """Newer / "Page n of m" / Older for a state with PortalListPaging; shown only with 2+ pages."""
    return rx.cond(
        state.pages > 1,
        rx.el.nav(
            rx.button("Newer", on_click=state.prev_page, disabled=state.page <= 1, variant="outline"),
            rx.text("Page ", state.page, " of ", state.pages, size="2"),
            rx.button("Older", on_click=state.next_page, disabled=state.page >= state.pages, variant="outline"),
            aria_label=aria_label,
            style={"display": "flex", "gap": "1em", "align_items": "center", "margin_top": "1em"},
        ),
    )
