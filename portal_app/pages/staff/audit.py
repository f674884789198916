"""Audit log page (UI only): newest first, filter by patient and by staff user."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.forms import form_alert, text_field
from portal_app.components.layout import staff_layout
from portal_app.components.paging import newer_older_pager
from portal_app.components.styles import HIDDEN_CAPTION, INPUT, LABEL, LOG_HEAD, NOWRAP, SELECT
from portal_app.components.styles import LOG_CELL as CELL
from portal_app.components.table import data_table
from portal_app.services.audit import AuditRow, StaffRef
from portal_app.state.audit import AuditState


def _patient_filter() -> rx.Component:
    return rx.form(
        rx.hstack(
            text_field("Patient (chart number or patient ID)", "audit-patient", name="patient",
                       error=AuditState.patient_error, default_value=AuditState.patient_query,
                       max_length=40,
                       style={**INPUT, "width": "18em"}),
            rx.button("Filter by patient", type="submit", size="3", margin_top="1.75em"),
            align="start", gap="0.8em",
        ),
        on_submit=AuditState.filter_patient,
        reset_on_submit=False,
        style={"flex": "0 0 auto", "width": "auto"},
    )


def _staff_option(option: StaffRef) -> rx.Component:
    return rx.el.option(option.username, value=option.id.to_string())


def _staff_filter() -> rx.Component:
    return rx.el.div(
        rx.el.label("Staff user", html_for="audit-staff", style=LABEL),
        rx.el.select(
            rx.el.option("All staff users", value=""),
            rx.foreach(AuditState.staff_options, _staff_option),
            id="audit-staff", value=AuditState.staff_filter,
            on_change=AuditState.set_staff_filter,
            style=SELECT,
        ),
        style={"margin_bottom": "1em"},
    )


def _active_filter() -> rx.Component:
    return rx.cond(
        AuditState.patient_label != "",
        rx.hstack(
            rx.text("Showing events for ", rx.el.strong(AuditState.patient_label), role="status"),
            rx.button("Clear patient filter", size="1", variant="outline",
                      on_click=AuditState.clear_patient),
            align="center", gap="0.8em", margin_bottom="1em",
        ),
    )


def _row(row: AuditRow) -> rx.Component:
    return rx.el.tr(
        rx.el.td(row.at, style={**CELL, **NOWRAP}),
        rx.el.td(row.who, style=CELL),
        rx.el.td(rx.el.code(row.action), style=CELL),
        rx.el.td(row.patient, style=CELL),
        rx.el.td(row.detail, style={**CELL, "max_width": "28em", "word_break": "break-word"}),
        rx.el.td(row.ip, style=CELL),
    )


def _table() -> rx.Component:
    headers = ("When", "Who", "Action", "Patient", "Detail", "From")
    return data_table(headers, AuditState.rows, _row, caption="Audit events, newest first",
                      caption_style=HIDDEN_CAPTION, head=LOG_HEAD, style={"font_size": "0.92em"})


def audit_page() -> rx.Component:
    return staff_layout(
        "Audit Log",
        rx.flex(_patient_filter(), _staff_filter(), align="start", gap="2em", wrap="wrap"),
        _active_filter(),
        form_alert(AuditState.error),
        rx.cond(AuditState.rows.length() > 0, _table(), rx.text("No events.", role="status")),
        newer_older_pager(AuditState.newer, AuditState.has_newer, AuditState.older, AuditState.has_older),
    )


def add_pages(app: rx.App) -> None:
    """Register this module's pages (with their on_load guards) on the app."""
    app.add_page(audit_page, route=routes.AUDIT, title="Audit Log", on_load=AuditState.load)
