"""Outbox page (UI only): messages newest first, their text, retry for failed ones."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.forms import form_alert, form_notice
from portal_app.components.layout import staff_layout
from portal_app.services.outbox import MessageRow
from portal_app.state.outbox import OutboxState

CELL = {"padding": "0.45em 0.6em", "border_bottom": "1px solid #d0d7de", "text_align": "left",
        "vertical_align": "top"}


def _filter() -> rx.Component:
    return rx.hstack(
        rx.el.div(
            rx.el.label("Status", html_for="outbox-status",
                        style={"display": "block", "font_weight": "600", "margin_bottom": "0.25em"}),
            rx.el.select(
                rx.el.option("All messages", value=""),
                rx.el.option("Queued", value="queued"),
                rx.el.option("Sent", value="sent"),
                rx.el.option("Failed", value="failed"),
                id="outbox-status", value=OutboxState.status_filter,
                on_change=OutboxState.set_status_filter,
                style={"padding": "0.45em", "border": "1px solid #767676", "border_radius": "6px"},
            ),
        ),
        rx.button("Refresh", on_click=OutboxState.refresh, variant="outline"),
        align="end", gap="1em", margin_bottom="1em",
    )


def _row(row: MessageRow) -> rx.Component:
    return rx.el.tr(
        rx.el.td(row.created, style={**CELL, "white_space": "nowrap"}),
        rx.el.td(row.channel, style=CELL),
        rx.el.td(row.kind, style=CELL),
        rx.el.td(row["to"], style={**CELL, "word_break": "break-all"}),
        rx.el.td(row.subject, style=CELL),
        rx.el.td(rx.el.strong(row.status, style={"color": rx.match(row.status, ("failed", "#b3261e"),
                                                                   ("sent", "#1a7f37"), "#444")}),
                 style=CELL),
        rx.el.td(row.error, style={**CELL, "color": "#b3261e", "max_width": "18em"}),
        rx.el.td(
            rx.hstack(
                rx.button("View", size="1", variant="outline", aria_label="View message #" + row.id.to_string(),
                          on_click=OutboxState.view_body(row.id)),
                rx.cond(row.has_pdf,
                        rx.button("Download PDF", size="1", variant="outline",
                                  aria_label="Download PDF of letter #" + row.id.to_string(),
                                  on_click=OutboxState.download_pdf(row.id))),
                rx.cond((row.status == "failed") & OutboxState.can_retry,
                        rx.button("Retry", size="1", color_scheme="red",
                                  aria_label="Retry message #" + row.id.to_string(),
                                  on_click=OutboxState.retry(row.id))),
                gap="0.4em",
            ),
            style=CELL,
        ),
    )


def _table() -> rx.Component:
    headers = ("Created", "Channel", "Kind", "To", "Subject", "Status", "Error", "Actions")
    return rx.el.div(
        rx.el.table(
            rx.el.caption("Outbox messages, newest first", style={"position": "absolute",
                                                                  "left": "-999px"}),
            rx.el.thead(rx.el.tr(*[rx.el.th(h, scope="col", style={**CELL, "background": "#f6f8fa"})
                                   for h in headers])),
            rx.el.tbody(rx.foreach(OutboxState.rows, _row)),
            style={"border_collapse": "collapse", "width": "100%", "font_size": "0.92em"},
        ),
        style={"overflow_x": "auto"},
    )


def _pager() -> rx.Component:
    return rx.hstack(
        rx.button("Newer", on_click=OutboxState.newer, disabled=~OutboxState.has_newer,
                  variant="outline"),
        rx.button("Older", on_click=OutboxState.older, disabled=~OutboxState.has_older,
                  variant="outline"),
        gap="0.8em", margin_top="1em",
    )


def _body_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(OutboxState.body_subject),
            rx.dialog.description("To: ", OutboxState.body_to, size="2", margin_bottom="0.8em"),
            rx.el.pre(OutboxState.body_text,
                      style={"white_space": "pre-wrap", "word_break": "break-word",
                             "background": "#f6f8fa", "padding": "0.8em", "border_radius": "6px",
                             "font_size": "0.9em", "max_height": "60vh", "overflow_y": "auto"}),
            rx.flex(rx.dialog.close(rx.button("Close", on_click=OutboxState.close_body)),
                    justify="end", margin_top="1em"),
            max_width="44em",
        ),
        open=OutboxState.body_open,
        on_open_change=OutboxState.set_body_open,
    )


def outbox_page() -> rx.Component:
    return staff_layout(
        "Outbox",
        rx.text("Every email, text message (sms) and letter is stored here first. Without an "
                "email or text provider, messages stay here (status \u201csent\u201d) for staff "
                "to read; letters are printed from their PDF.",
                color="#444", margin_bottom="1em"),
        _filter(),
        form_notice(OutboxState.notice),
        form_alert(OutboxState.error),
        rx.cond(OutboxState.rows.length() > 0, _table(),
                rx.text("No messages.", role="status")),
        _pager(),
        _body_dialog(),
    )


def add_pages(app: rx.App) -> None:
    """Register this module's pages (with their on_load guards) on the app."""
    app.add_page(outbox_page, route=routes.OUTBOX, title="Outbox", on_load=OutboxState.load)
