"""Audit log page (UI only): newest first, filter by patient and by staff user."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.forms import form_alert, text_field
from portal_app.components.layout import staff_layout
from portal_app.services.audit import AuditRow, StaffRef
from portal_app.state.audit import AuditState

CELL = {"padding": "0.45em 0.6em", "border_bottom": "1px solid #d0d7de", "text_align": "left",
        "vertical_align": "top"}


def _patient_filter() -> rx.Component:
    return rx.form(
        rx.hstack(
            text_field("Patient (chart number or patient ID)", "audit-patient", name="patient",
                       error=AuditState.patient_error, default_value=AuditState.patient_query,
                       max_length=40,
                       style={"width": "18em", "padding": "0.5em", "border": "1px solid #767676",
                              "border_radius": "6px", "font_size": "1em"}),
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
        rx.el.label("Staff user", html_for="audit-staff",
                    style={"display": "block", "font_weight": "600", "margin_bottom": "0.25em"}),
        rx.el.select(
            rx.el.option("All staff users", value=""),
            rx.foreach(AuditState.staff_options, _staff_option),
            id="audit-staff", value=AuditState.staff_filter,
            on_change=AuditState.set_staff_filter,
            style={"padding": "0.45em", "border": "1px solid #767676", "border_radius": "6px"},
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
        rx.el.td(row.at, style={**CELL, "white_space": "nowrap"}),
        rx.el.td(row.who, style=CELL),
        rx.el.td(rx.el.code(row.action), style=CELL),
        rx.el.td(row.patient, style=CELL),
        rx.el.td(row.detail, style={**CELL, "max_width": "28em", "word_break": "break-word"}),
        rx.el.td(row.ip, style=CELL),
    )


def _table() -> rx.Component:
    headers = ("When", "Who", "Action", "Patient", "Detail", "From")
    return rx.el.div(
        rx.el.table(
            rx.el.caption("Audit events, newest first",
                          style={"position": "absolute", "left": "-999px"}),
            rx.el.thead(rx.el.tr(*[rx.el.th(h, scope="col", style={**CELL, "background": "#f6f8fa"})
                                   for h in headers])),
            rx.el.tbody(rx.foreach(AuditState.rows, _row)),
            style={"border_collapse": "collapse", "width": "100%", "font_size": "0.92em"},
        ),
        style={"overflow_x": "auto"},
    )


def audit_page() -> rx.Component:
    return staff_layout(
        "Audit Log",
        rx.flex(_patient_filter(), _staff_filter(), align="start", gap="2em", wrap="wrap"),
        _active_filter(),
        form_alert(AuditState.error),
        rx.cond(AuditState.rows.length() > 0, _table(), rx.text("No events.", role="status")),
        rx.hstack(
            rx.button("Newer", on_click=AuditState.newer, disabled=~AuditState.has_newer,
                      variant="outline"),
            rx.button("Older", on_click=AuditState.older, disabled=~AuditState.has_older,
                      variant="outline"),
            gap="0.8em", margin_top="1em",
        ),
    )


def add_pages(app: rx.App) -> None:
    """Register this module's pages (with their on_load guards) on the app."""
    app.add_page(audit_page, route=routes.AUDIT, title="Audit Log", on_load=AuditState.load)
