"""Chart > Patient Portal tab: "Documents shared with the patient" (UI only)."""

from __future__ import annotations

import reflex as rx

from portal_app.components.forms import form_alert, form_notice
from portal_app.pages.patient.documents import file_picker, note_field
from portal_app.state.chart_documents import UPLOAD_ID
from portal_app.state.chart_documents import ChartDocumentsState as S

# Handlers to run when the chart page loads (after ChartState.load).
ON_LOAD: list = [S.load]

SECTION = {"border": "1px solid #d0d7de", "border_radius": "8px", "padding": "1em 1.2em",
           "margin_bottom": "1.2em", "max_width": "60em"}
CELL = {"padding": "0.4em 0.55em", "border_bottom": "1px solid #d0d7de", "text_align": "left",
        "vertical_align": "top"}
HEAD = {**CELL, "background": "#f6f8fa"}


def _row(row) -> rx.Component:
    return rx.el.tr(
        rx.el.th(row.filename, scope="row", style={**CELL, "font_weight": "600"}),
        rx.el.td(rx.cond(row.from_practice, "The practice", "The patient"), style=CELL),
        rx.el.td(row.when, style=CELL),
        rx.el.td(row.size_label, style=CELL),
        rx.el.td(row.note, style={**CELL, "white_space": "pre-wrap"}),
        rx.el.td(rx.button("Download", aria_label="Download " + row.filename.to(str), variant="outline",
                           size="1", on_click=S.download(row.id)), style=CELL),
    )


def section() -> rx.Component:
    return rx.cond(
        S.loaded,
        rx.el.section(
            rx.heading("Documents shared with the patient", as_="h3", size="4", margin_bottom="0.5em"),
            form_notice(S.notice),
            form_alert(S.error),
            rx.cond(
                S.total > 0,
                rx.fragment(
                    rx.el.div(
                        rx.el.table(
                            rx.el.caption("Portal documents of this chart, newest first",
                                          style={"text_align": "left", "font_weight": "600",
                                                 "margin_bottom": "0.3em"}),
                            rx.el.thead(rx.el.tr(*[rx.el.th(h, scope="col", style=HEAD) for h in
                                                   ("File", "From", "Date", "Size", "Note", "Action")])),
                            rx.el.tbody(rx.foreach(S.rows, _row)),
                            style={"border_collapse": "collapse", "width": "100%", "font_size": "0.88em"},
                        ),
                        style={"overflow_x": "auto", "margin_bottom": "0.6em"},
                    ),
                    rx.hstack(
                        rx.button("Previous documents", on_click=S.previous_page, disabled=~S.has_previous,
                                  variant="outline", size="1"),
                        rx.text(S.page_label, size="2"),
                        rx.button("Next documents", on_click=S.next_page, disabled=~S.has_next,
                                  variant="outline", size="1"),
                        align="center", margin_bottom="1em",
                    ),
                ),
                rx.el.p("No portal documents yet.", style={"margin_bottom": "1em"}),
            ),
            rx.cond(
                S.can_admin_portal,
                rx.el.div(
                    rx.heading("Share a document", as_="h4", size="3", margin_bottom="0.4em"),
                    file_picker(UPLOAD_ID, "chart-document-file", S.file_error),
                    note_field("chart-document-note", S.note, S.set_note, S.note_error, S.form_key),
                    rx.button("Share with patient", on_click=S.share(rx.upload_files(upload_id=UPLOAD_ID))),
                ),
            ),
            aria_label="Documents shared with the patient",
            style=SECTION,
        ),
    )
