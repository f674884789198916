"""Setup > Import patients (UI only): upload, match columns, preview, dry run, import."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.forms import field_error, form_alert, form_notice, invalid_flag
from portal_app.components.layout import staff_page
from portal_app.components.notices import loading_or_failed, page_link, view_only_notice
from portal_app.components.paging import STACK_GAP, pager
from portal_app.components.styles import (
    BOLD_CAPTION,
    COMPACT_HEAD,
    ERROR_COLOR,
    HINT,
    LABEL,
    MUTED,
    PANEL,
    SECTION,
    SELECT,
)
from portal_app.components.styles import COMPACT_CELL as CELL
from portal_app.components.table import data_table
from portal_app.components.uploads import file_picker
from portal_app.services.patient_records import FIELDS
from portal_app.state.patient_import import FILE_FIELD, UPLOAD_ID
from portal_app.state.patient_import import PatientImportState as S

FILE_HINT = "A CSV export, a FHIR JSON Bundle or FHIR NDJSON (Bulk Data export), up to 200 MB."
NOT_IN_FILE = "(not in the file)"
TABLE = {"font_size": "0.88em"}
SCROLL = {"overflow_x": "auto", "margin_bottom": "0.6em"}


def _heading(text: str) -> rx.Component:
    return rx.heading(text, as_="h2", size="4", margin_bottom="0.5em")


def _upload() -> rx.Component:
    return rx.el.section(
        _heading("Upload the file"),
        rx.el.p("The format is read from the file's content. Nothing changes until you choose Import.",
                style={"margin": "0 0 0.8em", "color": MUTED}),
        file_picker(UPLOAD_ID, FILE_FIELD, S.file_error, S.file_error_for, hint=FILE_HINT, max_mb=200),
        rx.button("Upload", loading=S.uploading,
                  on_click=S.upload(rx.upload_files_chunk(upload_id=UPLOAD_ID,
                                                          on_upload_progress=S.set_upload_progress))),
        rx.cond(S.uploading,
                rx.progress(value=S.upload_percent, max=100, aria_label="Upload progress",
                            width="100%", max_width="36em", margin_top="0.6em")),
        aria_label="Upload the file",
        style=SECTION,
    )


def _file_line() -> rx.Component:
    return rx.el.div(
        rx.el.p(rx.el.strong("File: "), S.file_name, " (", S.file_format_label, ", ", S.file_size_text, ")",
                style={"margin": "0 0 0.5em"}),
        rx.cond(S.can_run & ~S.job_running,
                rx.button("Import another file", on_click=S.start_over, variant="outline", size="2")),
        style=PANEL,
    )


def _column_select(key: str, label: str) -> rx.Component:
    field_id = f"map-{key}"
    error = S.mapping_errors.get(key, "")
    return rx.el.div(
        rx.el.label(label, html_for=field_id, style=LABEL),
        rx.el.select(
            rx.el.option(NOT_IN_FILE, value=""),
            rx.foreach(S.columns, lambda column: rx.el.option(column, value=column)),
            id=field_id, value=S.mapping.get(key, ""),
            on_change=lambda value: S.choose_column(key, value),
            disabled=~S.can_run | S.job_running,
            aria_invalid=invalid_flag(error), aria_describedby=f"{field_id}-error",
            style={**SELECT, "width": "100%", "background": "white"},
        ),
        field_error(field_id, error),
        style={"min_width": "0"},
    )


def _mapping() -> rx.Component:
    return rx.el.section(
        _heading("Match the columns"),
        rx.el.p("Each of our fields takes one column of the file; the guesses are filled in. "
                "Chart number is required.", style={"margin": "0 0 0.8em", "color": MUTED}),
        rx.el.div(*[_column_select(key, label) for key, label in FIELDS.items()],
                  style={"display": "grid", "grid_template_columns": "repeat(auto-fill, minmax(14em, 1fr))",
                         "gap": "0.8em 1.2em"}),
        aria_label="Match the columns",
        style=SECTION,
    )


def _preview_row(cells) -> rx.Component:
    return rx.el.tr(rx.foreach(cells, lambda value: rx.el.td(value, style=CELL)))


def _preview() -> rx.Component:
    return rx.el.section(
        _heading("Preview"),
        rx.el.p("The first 20 rows as they will be stored, with the reason a row would be refused.",
                style={"margin": "0 0 0.8em", "color": MUTED}),
        rx.cond(S.can_run, rx.button("Preview", on_click=S.show_preview, disabled=S.job_running)),
        rx.cond(
            S.preview_rows.length() > 0,
            rx.el.div(
                rx.el.table(
                    rx.el.caption("The first rows of the file", style=BOLD_CAPTION),
                    rx.el.thead(rx.el.tr(rx.foreach(S.preview_headers,
                                                    lambda h: rx.el.th(h, scope="col", style=COMPACT_HEAD)))),
                    rx.el.tbody(rx.foreach(S.preview_rows, _preview_row)),
                    style={"border_collapse": "collapse", "width": "100%", **TABLE},
                ),
                style={**SCROLL, "margin_top": "0.8em"},
            ),
        ),
        aria_label="Preview",
        style=SECTION,
    )


def _progress() -> rx.Component:
    what = rx.cond(S.job_dry_run, "Dry run", "Import")
    return rx.el.div(
        rx.heading(what, " progress", as_="h3", size="3", margin_bottom="0.4em"),
        rx.progress(value=S.job_percent, max=100, aria_label=rx.cond(S.job_dry_run, "Dry run progress",
                                                                      "Import progress"),
                    width="100%", max_width="36em"),
        rx.el.p(S.processed_text, style={"margin": "0.4em 0", "color": MUTED}),
        style=PANEL,
    )


def _refused_row(row) -> rx.Component:
    return rx.el.tr(rx.el.td(row["line"], style=CELL), rx.el.td(row["chart"], style=CELL),
                    rx.el.td(row["reason"], style=CELL))


def _updated_row(row) -> rx.Component:
    return rx.el.tr(rx.el.td(row["line"], style=CELL), rx.el.th(row["chart"], scope="row", style=CELL),
                    rx.el.td(row["changes"], style={**CELL, "white_space": "pre-wrap"}))


def _refused_list() -> rx.Component:
    return rx.cond(
        S.count_refused > 0,
        rx.el.div(
            data_table(("Line", "Chart number", "Reason"), S.refused_rows, _refused_row,
                       caption="Refused rows", caption_style=BOLD_CAPTION, head=COMPACT_HEAD, style=TABLE,
                       scroll=SCROLL),
            pager(("Previous refused rows", S.refused_page(False), S.refused_page_number == 0),
                  ("Next refused rows", S.refused_page(True), S.refused_page_number + 1 >= S.refused_pages),
                  rx.text(S.refused_page_text, size="2"), size="1",
                  style={"gap": STACK_GAP, "margin_bottom": "0.6em"}),
            # A download event, not a link: the app's router would take a link's click as a page change.
            rx.button("Download refusals (CSV)", variant="outline", size="2",
                      on_click=rx.download(url=S.refusals_href, filename=S.refusals_file_name)),
            style={"margin_bottom": "1em"},
        ),
    )


def _updated_list() -> rx.Component:
    return rx.cond(
        S.count_updated > 0,
        rx.el.div(
            data_table(("Line", "Chart number", "Changed fields"), S.updated_rows, _updated_row,
                       caption=rx.cond(S.results_dry_run, "Charts the import would update", "Updated charts"),
                       caption_style=BOLD_CAPTION, head=COMPACT_HEAD, style=TABLE, scroll=SCROLL),
            pager(("Previous updated charts", S.updated_page(False), S.updated_page_number == 0),
                  ("Next updated charts", S.updated_page(True), S.updated_page_number + 1 >= S.updated_pages),
                  rx.text(S.updated_page_text, size="2"), size="1", style={"gap": STACK_GAP}),
        ),
    )


def _results() -> rx.Component:
    return rx.el.div(
        # Always present, so that screen readers announce the counts when they appear.
        rx.el.p(S.result_text, role="status", style={"font_weight": "600", "margin": "0 0 0.6em"}),
        rx.cond(S.job_error != "", rx.el.p(S.job_error, role="alert", style={"color": ERROR_COLOR})),
        rx.cond(S.results_shown, rx.fragment(_refused_list(), _updated_list())),
    )


def _run() -> rx.Component:
    return rx.el.section(
        _heading("Dry run and import"),
        rx.el.p("A dry run reads the whole file and counts what would happen without changing anything. "
                "Import then applies it; it runs on if you leave this page.",
                style={"margin": "0 0 0.8em", "color": MUTED}),
        rx.cond(
            S.can_run & ~S.job_running,
            rx.el.div(
                rx.button("Dry run", on_click=S.start_dry_run, variant="outline"),
                rx.cond(S.can_resume, rx.button("Resume", on_click=S.start_import),
                        rx.cond(~S.import_done, rx.button("Import", on_click=S.start_import))),
                style={"display": "flex", "gap": "0.8em", "margin_bottom": "0.8em"},
            ),
        ),
        rx.cond(S.can_resume, rx.el.p("The import was interrupted. Resume goes on after the last saved row; "
                                      "no row is done twice.", style=HINT)),
        rx.cond(S.job_running | (S.job_processed > 0), _progress()),
        _results(),
        rx.cond(S.import_done, page_link("Open the onboarding list", routes.ONBOARDING)),
        aria_label="Dry run and import",
        style=SECTION,
    )


def _past_row(row) -> rx.Component:
    return rx.el.tr(rx.el.th(row["file"], scope="row", style={**CELL, "font_weight": "600"}),
                    rx.el.td(row["by"], style=CELL), rx.el.td(row["when"], style=CELL),
                    rx.el.td(row["status"], style=CELL), rx.el.td(row["summary"], style=CELL))


def _past_imports() -> rx.Component:
    return rx.cond(
        S.past_imports.length() > 0,
        rx.el.section(
            _heading("Past imports"),
            data_table(("File", "By", "When", "Status", "Result"), S.past_imports, _past_row,
                       caption="The practice's latest imports, newest first", caption_style=BOLD_CAPTION,
                       head=COMPACT_HEAD, style=TABLE, scroll=SCROLL),
            aria_label="Past imports",
            style=SECTION,
        ),
    )


def _content() -> rx.Component:
    return rx.el.div(
        view_only_notice(S.can_run, "You can see past imports and their results. Importing needs "
                                    "Patient Import: Update."),
        form_notice(S.notice),
        form_alert(S.error),
        rx.cond(S.can_run & (S.job_id == 0), _upload()),
        rx.cond(S.job_id != 0,
                rx.fragment(_file_line(), rx.cond(S.is_csv, _mapping()), _preview(), _run()),
                rx.cond(~S.can_run, rx.el.p("You have not imported a file yet.", style={"color": MUTED}))),
        _past_imports(),
    )


def import_page() -> rx.Component:
    return staff_page("Import patients", S.loaded, _content(), before=loading_or_failed(S.load_error))


def add_pages(app: rx.App) -> None:
    """Register this module's pages (with their on_load guards) on the app."""
    app.add_page(import_page, route=routes.PATIENT_IMPORT, title="Import patients", on_load=S.load)
