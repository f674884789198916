"""`/portal/appointments`: request an appointment, see the chart's requests. UI only."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.forms import (
    field_error,
    form_alert,
    form_notice,
    invalid_flag,
    submit_button,
    text_field,
    textarea_field,
)
from portal_app.components.layout import portal_page
from portal_app.components.paging import portal_pager
from portal_app.components.styles import CONTROL_BORDER, LABEL, MUTED, PANEL
from portal_app.components.table import cell, phone_table
from portal_app.services.appointments import MAX_REASON_CHARS, TIMES_OF_DAY
from portal_app.state.patient_appointments import PatientAppointmentsState as S


def _time_select(number: int, error: rx.Var) -> rx.Component:
    field_id = f"time_{number}"
    return rx.el.div(
        rx.el.label(f"Time of day {number}", html_for=field_id,
                    style=LABEL),
        rx.el.select(
            *[rx.el.option(label, value=value) for value, label in TIMES_OF_DAY.items()],
            id=field_id, name=field_id, default_value="any",
            aria_describedby=f"{field_id}-error", aria_invalid=invalid_flag(error),
            style={"padding": "0.5em", "border": f"1px solid {CONTROL_BORDER}", "border_radius": "6px",
                   "font_size": "1em"},
        ),
        field_error(field_id, error),
        style={"margin_bottom": "1em"},
    )


def _slot(number: int, date_error: rx.Var, time_error: rx.Var, optional: bool) -> rx.Component:
    return rx.el.fieldset(
        rx.el.legend(f"Choice {number}" + (" (optional)" if optional else ""),
                     style={"font_weight": "600", "padding": "0 0.3em"}),
        rx.hstack(
            text_field(f"Preferred date {number}", f"date_{number}", error=date_error, input_type="date",
                       min=S.min_date, max=S.max_date, aria_invalid=invalid_flag(date_error)),
            _time_select(number, time_error),
            spacing="5", wrap="wrap", align="start",
        ),
        style={**PANEL, "padding": "0.6em 1em 0"},
    )


def _form() -> rx.Component:
    return rx.el.section(
        rx.heading("Request an appointment", as_="h2", size="4", margin_bottom="0.5em"),
        rx.el.p("Give up to three dates and times that suit you. The practice confirms the time.",
                style={"margin_bottom": "0.8em", "color": MUTED}),
        rx.el.form(
            form_alert(S.form_error),
            _slot(1, S.date_1_error, S.time_1_error, optional=False),
            _slot(2, S.date_2_error, S.time_2_error, optional=True),
            _slot(3, S.date_3_error, S.time_3_error, optional=True),
            textarea_field("Reason for visit", "reason", error=S.reason_error, max_length=MAX_REASON_CHARS,
                           rows=4, hint=f"Up to {MAX_REASON_CHARS:,} characters. For an emergency call 911."),
            submit_button("Request appointment"),
            on_submit=S.request_appointment,
            # The server checks every field and says what is wrong beside it (browser bubbles
            # for min/max are easy to miss and not announced the same way everywhere).
            no_validate=True,
            aria_label="Request an appointment",
            key=S.form_version,
        ),
        style={"margin_bottom": "2em"},
    )


def _status_badge(row) -> rx.Component:
    return rx.badge(row.status_label, high_contrast=True, variant="surface",
                    color_scheme=rx.match(row.status, ("scheduled", "green"), ("declined", "red"), "gray"))


def _booked(row) -> rx.Component:
    """A scheduled request: when, with whom, where, and its calendar file."""
    return rx.cond(row.booked != "", rx.el.div(
        rx.el.p(rx.el.strong(row.booked), style={"margin": "0.4em 0 0"}),
        rx.el.p("With ", row.provider, style={"margin": "0"}),
        rx.el.p("At ", row.location, style={"margin": "0"}),
        rx.button("Add to calendar (.ics)", on_click=S.download_calendar(row.id.to(str)), size="1",
                  variant="outline", margin_top="0.3em", aria_label="Add to calendar: " + row.booked),
        class_name="booked",
    ))


def _row(row) -> rx.Component:
    wrap = {"white_space": "pre-wrap", "overflow_wrap": "anywhere"}
    return rx.el.tr(
        cell("Requested", row.requested_on),
        cell("Preferred times", row.preferred),
        cell("Reason", row.reason, style=wrap),
        cell("Status", _status_badge(row), _booked(row)),
        cell("Practice's note", rx.cond(row.staff_note != "", row.staff_note, "—"), style=wrap),
        class_name="request-row",
    )


def _list() -> rx.Component:
    return rx.el.section(
        rx.heading("Your requests", as_="h2", size="4", margin_bottom="0.5em"),
        rx.cond(
            S.total > 0,
            phone_table(("Requested", "Preferred times", "Reason", "Status", "Practice's note"), S.rows, _row),
            rx.el.p("No requests yet.", style={"color": MUTED}),
        ),
        portal_pager(S, "Request pages"),
        aria_label="Your requests",
    )


def appointments_page() -> rx.Component:
    return portal_page(
        "Appointments",
        S.ready, form_notice(S.notice), _form(), _list(),
    )


def add_pages(app: rx.App) -> None:
    app.add_page(appointments_page, route=routes.PORTAL_APPOINTMENTS, title="Appointments | Patient Portal",
                 on_load=S.load)
