"""Chart > Patient Portal tab: "Documents shared with the patient" (UI only)."""

from __future__ import annotations

import reflex as rx

from portal_app.components.forms import form_alert, form_notice
from portal_app.components.paging import STACK_GAP, pager
from portal_app.components.styles import BOLD_CAPTION, COMPACT_HEAD, SECTION
from portal_app.components.styles import COMPACT_CELL as CELL
from portal_app.components.table import data_table
from portal_app.components.uploads import file_picker, note_field
from portal_app.state.chart_documents import UPLOAD_ID
from portal_app.state.chart_documents import ChartDocumentsState as S

# Handlers to run when the chart page loads (after ChartState.load).
ON_LOAD: list = [S.load]



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
                    data_table(("File", "From", "Date", "Size", "Note", "Action"), S.rows, _row,
                               caption="Portal documents of this chart, newest first",
                               caption_style=BOLD_CAPTION, head=COMPACT_HEAD, style={"font_size": "0.88em"},
                               scroll={"overflow_x": "auto", "margin_bottom": "0.6em"}),
                    pager(("Previous documents", S.previous_page, ~S.has_previous),
                          ("Next documents", S.next_page, ~S.has_next), rx.text(S.page_label, size="2"),
                          size="1", style={"gap": STACK_GAP, "margin_bottom": "1em"}),
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
