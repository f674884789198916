"""One table for every list: a header row, then one row per item (rx.foreach), UI only.

Staff lists scroll sideways on a narrow screen; portal lists (`phone_table`) instead turn each
row into a card on a phone, where every cell says what it is ("Status: Requested").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import reflex as rx

from portal_app.components.styles import CAPTION, CONTROL_BORDER, HEAD, PANEL_LINE, TEXT_SOFT

SCROLL = {"overflow_x": "auto"}


def data_table(headers: Sequence[str | rx.Component], rows: rx.Var, row: Callable[..., rx.Component], *,
               caption: tuple | str | rx.Component | None = None, caption_style: dict = CAPTION,
               head: dict = HEAD, style: dict | None = None,
               scroll: dict | None = SCROLL) -> rx.Component:
    """A table of `row(item)` for each item of `rows`.

    Args:
        headers: the column headers (text, or a component such as a select-all box).
        rows: the list var.
        row: builds one `<tr>` (or a fragment of them) from an item.
        caption: the caption's children (a tuple for several), or None for no caption.
        caption_style: its style (muted, bold, or visually hidden).
        head: the style of each header cell.
        style: added to the table's own style (min width, font size...).
        scroll: the style of the wrapper that scrolls sideways, or None for no wrapper.
    """
    children = caption if isinstance(caption, tuple) else (caption,)
    table = rx.el.table(
        *([rx.el.caption(*children, style=caption_style)] if caption is not None else []),
        rx.el.thead(rx.el.tr(*[rx.el.th(h, scope="col", style=head) for h in headers])),
        rx.el.tbody(rx.foreach(rows, row)),
        style={"border_collapse": "collapse", "width": "100%", **(style or {})},
    )
    return table if scroll is None else rx.el.div(table, style=scroll)


# ---- portal lists: a card per row on a phone -------------------------------------------------

PHONE_CELL = {"text_align": "left", "padding": "0.4em 0.6em", "border_bottom": f"1px solid {PANEL_LINE}",
              "vertical_align": "top"}
PHONE_HEAD = {**PHONE_CELL, "border_bottom": f"2px solid {CONTROL_BORDER}"}

# Below 40em (640px): the header row is kept for screen readers only, rows are cards, and each
# cell shows its column name (from data-label) before its value.
_STACK_ON_PHONE = {
    "@media screen and (max-width: 40em)": {
        "& thead": {"position": "absolute", "width": "1px", "height": "1px", "overflow": "hidden",
                    "clip": "rect(0 0 0 0)", "white_space": "nowrap"},
        "& tbody tr": {"display": "block", "border": f"1px solid {PANEL_LINE}", "border_radius": "8px",
                       "padding": "0.5em 0.8em", "margin_bottom": "0.8em"},
        "& tbody th, & tbody td": {"display": "block", "border": "none", "padding": "0.2em 0"},
        "& tbody td[data-label]::before": {"content": "attr(data-label) \": \"", "font_weight": "600"},
        # An empty cell (a document without a note) is left out of the card.
        "& tbody td[data-label]:empty": {"display": "none"},
    },
}


def cell(label: str, *children, style: dict | None = None, **props) -> rx.Component:
    """A data cell that names its column on a phone."""
    return rx.el.td(*children, custom_attrs={"data-label": label}, style={**PHONE_CELL, **(style or {})}, **props)


def row_header(*children, style: dict | None = None) -> rx.Component:
    """The cell that names the row (its card's title on a phone)."""
    return rx.el.th(*children, scope="row", style={**PHONE_CELL, "font_weight": "600", **(style or {})})


def phone_table(headers: tuple[str, ...], rows: rx.Var, row: Callable[..., rx.Component], *,
                caption: str | None = None) -> rx.Component:
    """A portal list: `data_table` whose rows become cards on a narrow screen."""
    return data_table(headers, rows, row, caption=caption, head=PHONE_HEAD, scroll=None,
                      caption_style={"text_align": "left", "color": TEXT_SOFT, "margin_bottom": "0.3em"},
                      style=_STACK_ON_PHONE)
