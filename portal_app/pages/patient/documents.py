"""Portal Documents (`/portal/documents`): share a file with the practice; the chart's documents.
UI only."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.forms import form_alert, form_notice
from portal_app.components.layout import portal_page
from portal_app.components.paging import pager
from portal_app.components.table import PHONE_CELL, cell, phone_table, row_header
from portal_app.components.uploads import file_picker, note_field
from portal_app.state.patient_documents import UPLOAD_ID, DocumentsState


def _row(row) -> rx.Component:
    return rx.el.tr(
        row_header(row.filename),
        cell("From", row.from_label),
        cell("Date", row.when),
        cell("Size", row.size_label),
        cell("Note", row.note, style={"white_space": "pre-wrap", "overflow_wrap": "anywhere"}),
        rx.el.td(rx.button("Download", aria_label="Download " + row.filename.to(str), variant="outline",
                           on_click=DocumentsState.download(row.id)), style=PHONE_CELL),
    )


def _list() -> rx.Component:
    return rx.el.section(
        rx.heading("Your documents", as_="h2", size="4", margin_bottom="0.5em"),
        rx.cond(
            DocumentsState.total > 0,
            rx.fragment(
                phone_table(("File", "From", "Date", "Size", "Note", "Action"), DocumentsState.rows, _row,
                      caption="Documents you shared and documents the practice shared with you"),
                pager(("Previous", DocumentsState.previous_page, ~DocumentsState.has_previous),
                      ("Next", DocumentsState.next_page, ~DocumentsState.has_next),
                      rx.text(DocumentsState.page_label, size="2"), aria_label="Pages of documents",
                      show=DocumentsState.has_previous | DocumentsState.has_next,
                      style={"gap": "1em", "margin_top": "0.8em"}),
            ),
            rx.el.p("No documents yet."),
        ),
        aria_label="Your documents",
    )


def _share_form() -> rx.Component:
    return rx.el.section(
        rx.heading("Share a document with the practice", as_="h2", size="4", margin_bottom="0.5em"),
        form_alert(DocumentsState.form_error),
        file_picker(UPLOAD_ID, "document-file", DocumentsState.file_error, DocumentsState.file_error_for),
        note_field("document-note", DocumentsState.note, DocumentsState.set_note, DocumentsState.note_error,
                   DocumentsState.form_key),
        rx.button("Share document", size="3",
                  on_click=DocumentsState.share(rx.upload_files(upload_id=UPLOAD_ID))),
        aria_label="Share a document",
        style={"margin_bottom": "2em"},
    )


def documents_page() -> rx.Component:
    return portal_page(
        "Documents",
        DocumentsState.ready,
        rx.fragment(form_notice(DocumentsState.notice), _share_form(), _list()),
    )


def add_pages(app: rx.App) -> None:
    app.add_page(documents_page, route=routes.PORTAL_DOCUMENTS, title="Documents | Patient Portal",
                 on_load=DocumentsState.load)
