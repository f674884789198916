"""The Previous / Next pager of the server-paged staff lists (onboarding, User Management)."""

from __future__ import annotations

import reflex as rx


def previous_next_pager(state, singular: str, plural: str) -> rx.Component:
    """Needs `prev_page`, `next_page`, `has_prev`, `has_next`, `page_number` and `rows` on `state`."""
    return rx.el.nav(
        rx.button("Previous page", on_click=state.prev_page, disabled=~state.has_prev, variant="outline"),
        rx.el.span("Page ", state.page_number, " · Showing ", state.rows.length(),
                   rx.cond(state.rows.length() == 1, f" {singular}", f" {plural}"),
                   aria_live="polite", style={"margin": "0 1em"}),
        rx.button("Next page", on_click=state.next_page, disabled=~state.has_next, variant="outline"),
        aria_label="Pages",
        style={"display": "flex", "align_items": "center", "margin": "1em 0"},
    )
