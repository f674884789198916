"""One pager for every list: a back and a forward button, with the page status beside them.

Each list keeps its own words ("Previous page", "Newer", "Previous documents"...): people and the
end-to-end tests find the buttons by them.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

# (visible text, on_click event, disabled var)
PageButton = tuple[str, Any, Any]

# Radix's default gap between the buttons of an hstack.
STACK_GAP = "var(--space-3)"


def pager(back: PageButton, forward: PageButton, status: rx.Component | None = None, *,
          status_first: bool = False, aria_label: str | None = None, size: str | None = None,
          show: rx.Var | None = None, style: dict | None = None) -> rx.Component:
    """The pager of a list.

    Args:
        back: the button to earlier pages (text, event, disabled).
        forward: the button to later pages.
        status: "Page 2 of 5" or similar, shown between the buttons (or before them).
        status_first: put the status before both buttons.
        aria_label: makes the pager a navigation landmark with this name (else a plain group).
        size: the buttons' size ("1" for a compact pager inside a section).
        show: when given, the pager is shown only while this is true.
        style: added to the pager's flex row.
    """
    props = {"size": size} if size else {}
    back_button, forward_button = (
        rx.button(text, on_click=on_click, disabled=disabled, variant="outline", **props)
        for text, on_click, disabled in (back, forward))
    parts = [back_button, forward_button]
    if status is not None:
        parts.insert(0 if status_first else 1, status)
    box_style = {"display": "flex", "align_items": "center", **(style or {})}
    box = (rx.el.nav(*parts, aria_label=aria_label, style=box_style) if aria_label
           else rx.el.div(*parts, style=box_style))
    return box if show is None else rx.cond(show, box)


def previous_next_pager(state, singular: str, plural: str) -> rx.Component:
    """Server-paged staff lists (onboarding, User Management).

    Needs `prev_page`, `next_page`, `has_prev`, `has_next`, `page_number` and `rows` on `state`.
    """
    status = rx.el.span("Page ", state.page_number, " · Showing ", state.rows.length(),
                        rx.cond(state.rows.length() == 1, f" {singular}", f" {plural}"),
                        aria_live="polite", style={"margin": "0 1em"})
    return pager(("Previous page", state.prev_page, ~state.has_prev),
                 ("Next page", state.next_page, ~state.has_next), status,
                 aria_label="Pages", style={"margin": "1em 0"})


def counted_status(state, **props) -> rx.Component:
    """ "Showing 51-100 of 50,000 patients · Page 2 of 1,000" (`showing_text`, `page_text`)."""
    return rx.el.span(state.showing_text, " \u00b7 ", state.page_text, **props)


def jump_bar(state, *jumps: rx.Component, status_id: str) -> rx.Component:
    """Above a long server-paged list: how many match, where this page is, and the list's jump
    forms, so that they come before the rows' controls in Tab order."""
    return rx.el.div(
        rx.el.p(counted_status(state, id=status_id, aria_live="polite"),
                style={"margin": "0 0 0.5em", "font_weight": "600"}),
        rx.el.div(*jumps, style={"display": "flex", "flex_wrap": "wrap", "align_items": "flex-end",
                                 "gap": "1.2em"}),
        style={"margin_bottom": "1em"},
    )


def counted_keyset_pager(state) -> rx.Component:
    """Below the list: Previous page / Next page around the same count as the jump bar.

    Needs `prev_page`, `next_page`, `has_prev`, `has_next`, `showing_text` and `page_text` on `state`.
    """
    return pager(("Previous page", state.prev_page, ~state.has_prev),
                 ("Next page", state.next_page, ~state.has_next),
                 counted_status(state, style={"margin": "0 1em"}),
                 aria_label="Pages", style={"margin": "1em 0", "flex_wrap": "wrap", "row_gap": "0.5em"})


def newer_older_pager(newer: Any, has_newer: rx.Var, older: Any, has_older: rx.Var) -> rx.Component:
    """The logs, newest first (Audit Log, Outbox): Newer / Older."""
    return pager(("Newer", newer, ~has_newer), ("Older", older, ~has_older),
                 style={"gap": "0.8em", "margin_top": "1em"})


def counted_pager(state, noun: str = "Items") -> rx.Component:
    """My Tasks and Communication: "12 Items 1 of 2", then Previous page / Next page.

    Needs `total`, `page`, `pages`, `prev_page` and `next_page` on `state`.
    """
    status = rx.el.p(state.total, f" {noun} ", state.page, " of ", state.pages, role="status",
                     style={"margin": "0", "font_weight": "600"})
    return pager(("Previous page", state.prev_page, state.page <= 1),
                 ("Next page", state.next_page, state.page >= state.pages), status, status_first=True,
                 style={"gap": "0.8em", "margin_top": "0.8em", "flex_wrap": "wrap"})


def portal_pager(state, aria_label: str) -> rx.Component:
    """Portal lists: Newer / "Page n of m" / Older, shown only with 2+ pages.

    Needs `page`, `pages`, `prev_page` and `next_page` on `state` (PortalListPaging).
    """
    return pager(("Newer", state.prev_page, state.page <= 1),
                 ("Older", state.next_page, state.page >= state.pages),
                 rx.text("Page ", state.page, " of ", state.pages, size="2"),
                 aria_label=aria_label, show=state.pages > 1, style={"gap": "1em", "margin_top": "1em"})
