"""Outbox page (UI only): messages newest first, their text, retry for failed ones."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.forms import form_alert, form_notice
from portal_app.components.layout import staff_layout
from portal_app.components.paging import newer_older_pager
from portal_app.components.styles import (
    ERROR_COLOR,
    HEAD_BG,
    HIDDEN_CAPTION,
    LABEL,
    LOG_HEAD,
    MUTED,
    NOWRAP,
    OK_COLOR,
    SELECT,
)
from portal_app.components.styles import (
    LOG_CELL as CELL,
)
from portal_app.components.table import data_table
from portal_app.services.outbox import MessageRow
from portal_app.state.outbox import OutboxState


def _filter() -> rx.Component:
    return rx.hstack(
        rx.el.div(
            rx.el.label("Status", html_for="outbox-status", style=LABEL),
            rx.el.select(
                rx.el.option("All messages", value=""),
                rx.el.option("Queued", value="queued"),
                rx.el.option("Sent", value="sent"),
                rx.el.option("Failed", value="failed"),
                id="outbox-status", value=OutboxState.status_filter,
                on_change=OutboxState.set_status_filter,
                style=SELECT,
            ),
        ),
        rx.button("Refresh", on_click=OutboxState.refresh, variant="outline"),
        align="end", gap="1em", margin_bottom="1em",
    )


def _row(row: MessageRow) -> rx.Component:
    return rx.el.tr(
        rx.el.td(row.created, style={**CELL, **NOWRAP}),
        rx.el.td(row.channel, style=CELL),
        rx.el.td(row.kind, style=CELL),
        rx.el.td(row["to"], style={**CELL, "word_break": "break-all"}),
        rx.el.td(row.subject, style=CELL),
        rx.el.td(rx.el.strong(row.status, style={"color": rx.match(row.status, ("failed", ERROR_COLOR),
                                                                   ("sent", OK_COLOR), MUTED)}),
                 style=CELL),
        rx.el.td(row.error, style={**CELL, "color": ERROR_COLOR, "max_width": "18em"}),
        rx.el.td(
            rx.hstack(
                rx.button("View", size="1", variant="outline", aria_label="View message #" + row.id.to_string(),
                          on_click=OutboxState.view_body(row.id)),
                rx.cond(row.has_pdf,
                        rx.button("Download PDF", size="1", variant="outline",
                                  aria_label="Download PDF of letter #" + row.id.to_string(),
                                  on_click=OutboxState.download_pdf(row.id))),
                rx.cond(row.can_reprint & OutboxState.can_reprint,
                        rx.button("Reprint with a new key", size="1", variant="outline",
                                  aria_label="Reprint letter #" + row.id.to_string() + " with a new key",
                                  on_click=OutboxState.reprint_letter(row.id))),
                rx.cond((row.status == "failed") & OutboxState.can_retry,
                        rx.button("Retry", size="1", color_scheme="red", variant="soft",
                                  aria_label="Retry message #" + row.id.to_string(),
                                  on_click=OutboxState.retry(row.id))),
                gap="0.4em",
            ),
            style=CELL,
        ),
    )


def _table() -> rx.Component:
    headers = ("Created", "Channel", "Kind", "To", "Subject", "Status", "Error", "Actions")
    return data_table(headers, OutboxState.rows, _row, caption="Outbox messages, newest first",
                      caption_style=HIDDEN_CAPTION, head=LOG_HEAD, style={"font_size": "0.92em"})


def _body_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(OutboxState.body_subject),
            rx.dialog.description("To: ", OutboxState.body_to, size="2", margin_bottom="0.8em"),
            rx.el.pre(OutboxState.body_text,
                      style={"white_space": "pre-wrap", "word_break": "break-word",
                             "background": HEAD_BG, "padding": "0.8em", "border_radius": "6px",
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
        rx.text("Every email, text message (sms) and letter is stored here first. With an email or "
                "text provider, a message is \u201cqueued\u201d until the provider takes it (a few "
                "seconds). Without one, messages stay here (status \u201csent\u201d) for staff "
                "to read; letters are printed from their PDF. Live links, keys and codes show only "
                "with the Outbox Secrets permission (each view is audited), and a letter's PDF "
                "downloads once: the outbox keeps no copy of its key.",
                color=MUTED, margin_bottom="1em"),
        _filter(),
        form_notice(OutboxState.notice),
        form_alert(OutboxState.error),
        rx.cond(OutboxState.rows.length() > 0, _table(),
                rx.text("No messages.", role="status")),
        newer_older_pager(OutboxState.newer, OutboxState.has_newer, OutboxState.older, OutboxState.has_older),
        _body_dialog(),
    )


def add_pages(app: rx.App) -> None:
    """Register this module's pages (with their on_load guards) on the app."""
    app.add_page(outbox_page, route=routes.OUTBOX, title="Outbox", on_load=OutboxState.load)
