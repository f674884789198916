"""Portal Documents (`/portal/documents`): share a file with the practice; the chart's documents.
UI only."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.forms import field_error, form_alert, form_notice
from portal_app.components.layout import portal_layout
from portal_app.pages.patient.login import loading
from portal_app.pages.patient.tables import CELL, cell, row_header, table
from portal_app.state.patient_documents import UPLOAD_ID, DocumentsState

LABEL_STYLE = {"display": "block", "font_weight": "600", "margin_bottom": "0.25em"}
INPUT_STYLE = {"width": "100%", "padding": "0.5em", "border": "1px solid #767676", "border_radius": "6px",
               "font_size": "1em"}
FILE_HINT = "PDF, PNG or JPEG, up to 10 MB."


def file_picker(upload_id: str, field_id: str, error) -> rx.Component:
    """A labelled file control ("File") built on rx.upload: the label names the real file input,
    and a real button opens the file chooser (keyboard too); dropping a file also works."""
    zone = rx.upload(
        rx.el.button("Choose a file", type="button",
                     style={"padding": "0.4em 0.9em", "border": "1px solid #0b4f94", "border_radius": "6px",
                            "background": "#ffffff", "color": "#0b4f94", "font_weight": "600",
                            "cursor": "pointer"}),
        rx.el.span(" or drop it here.", style={"color": "#333"}),
        rx.el.p(rx.cond(rx.selected_files(upload_id).length() > 0,
                        rx.el.span("Chosen: ", rx.el.strong(rx.selected_files(upload_id)[0])),
                        rx.el.span("No file chosen.")),
                aria_live="polite", style={"margin": "0.5em 0 0"}),
        id=upload_id, multiple=False, max_files=1, no_keyboard=True,
        # As props: rx.upload's own defaults (5em padding, centred) win over `style`, and on a
        # phone a tall empty box pushes the form down.
        padding="1em", border="1px dashed #767676", text_align="left",
        style={"border_radius": "8px"},
    )
    file_input = zone.children[0].children[0]
    file_input.id = field_id
    file_input.custom_attrs = {"aria-describedby": f"{field_id}-hint {field_id}-error"}
    return rx.el.div(
        rx.el.label("File", html_for=field_id, style=LABEL_STYLE),
        zone,
        rx.el.p(FILE_HINT, id=f"{field_id}-hint", style={"color": "#444", "font_size": "0.85em",
                                                         "margin": "0.2em 0 0"}),
        field_error(field_id, error),
        style={"margin_bottom": "1em", "max_width": "36em"},
    )


def note_field(field_id: str, value, on_blur, error, key) -> rx.Component:
    """The note is sent when the field loses focus (before the button's click is handled)."""
    return rx.el.div(
        rx.el.label("Note", html_for=field_id, style=LABEL_STYLE),
        rx.el.textarea(id=field_id, default_value=value, on_blur=on_blur, rows=3, max_length=1000, key=key,
                       aria_describedby=f"{field_id}-hint {field_id}-error", style=INPUT_STYLE),
        rx.el.p("Optional, up to 1000 characters.", id=f"{field_id}-hint",
                style={"color": "#444", "font_size": "0.85em", "margin": "0.2em 0 0"}),
        field_error(field_id, error),
        style={"margin_bottom": "1em", "max_width": "36em"},
    )


def _row(row) -> rx.Component:
    return rx.el.tr(
        row_header(row.filename),
        cell("From", row.from_label),
        cell("Date", row.when),
        cell("Size", row.size_label),
        cell("Note", row.note, style={"white_space": "pre-wrap", "overflow_wrap": "anywhere"}),
        rx.el.td(rx.button("Download", aria_label="Download " + row.filename.to(str), variant="outline",
                           on_click=DocumentsState.download(row.id)), style=CELL),
    )


def _list() -> rx.Component:
    return rx.el.section(
        rx.heading("Your documents", as_="h2", size="4", margin_bottom="0.5em"),
        rx.cond(
            DocumentsState.total > 0,
            rx.fragment(
                table(("File", "From", "Date", "Size", "Note", "Action"), rx.foreach(DocumentsState.rows, _row),
                      caption="Documents you shared and documents the practice shared with you"),
                rx.cond(
                    DocumentsState.has_previous | DocumentsState.has_next,
                    rx.el.nav(
                        rx.button("Previous", on_click=DocumentsState.previous_page,
                                  disabled=~DocumentsState.has_previous, variant="outline"),
                        rx.text(DocumentsState.page_label, size="2"),
                        rx.button("Next", on_click=DocumentsState.next_page,
                                  disabled=~DocumentsState.has_next, variant="outline"),
                        aria_label="Pages of documents",
                        style={"display": "flex", "gap": "1em", "align_items": "center", "margin_top": "0.8em"},
                    ),
                ),
            ),
            rx.el.p("No documents yet."),
        ),
        aria_label="Your documents",
    )


def _share_form() -> rx.Component:
    return rx.el.section(
        rx.heading("Share a document with the practice", as_="h2", size="4", margin_bottom="0.5em"),
        form_alert(DocumentsState.form_error),
        file_picker(UPLOAD_ID, "document-file", DocumentsState.file_error),
        note_field("document-note", DocumentsState.note, DocumentsState.set_note, DocumentsState.note_error,
                   DocumentsState.form_key),
        rx.button("Share document", size="3",
                  on_click=DocumentsState.share(rx.upload_files(upload_id=UPLOAD_ID))),
        aria_label="Share a document",
        style={"margin_bottom": "2em"},
    )


def documents_page() -> rx.Component:
    return portal_layout(
        "Documents",
        rx.cond(
            DocumentsState.ready,
            rx.fragment(form_notice(DocumentsState.notice), _share_form(), _list()),
            loading(),
        ),
    )


def add_pages(app: rx.App) -> None:
    app.add_page(documents_page, route=routes.PORTAL_DOCUMENTS, title="Documents | Patient Portal",
                 on_load=DocumentsState.load)
