"""The Appointments page's handlers, called directly: area checks, errors beside fields, the list."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from portal_app import routes
from portal_app.models import AppointmentRequest, AuditEvent, PortalConnection, PortalTask
from portal_app.services import appointments, audit
from portal_app.state.patient_appointments import PatientAppointmentsState
from portal_app.state.patient_login import LoginState
from tests.unit.conftest import START
from tests.unit.state_support import tab_signs_in
from tests.unit.test_state_patient import PASSWORD, make_account, redirect_path, run, state_at


def day(offset: int) -> str:
    return (START.date() + timedelta(days=offset)).isoformat()


def form(**values) -> dict:
    base = {"date_1": day(7), "time_1": "morning", "date_2": "", "time_2": "any", "date_3": "",
            "time_3": "any", "reason": "Check-up"}
    base.update(values)
    return base


async def _state(session, permissions: str | None = None):
    patient, account = make_account(session)
    if permissions is not None:
        connection = session.exec(select(PortalConnection).where(PortalConnection.account_id == account.id)).one()
        connection.permissions = permissions
        session.add(connection)
        session.commit()
    root, login = await state_at(routes.LOGIN, LoginState)
    await tab_signs_in(session, login, login.sign_in(
        {"user_id": "maria.lopez@example.com", "password": PASSWORD}))
    return patient, account, await root.get_state(PatientAppointmentsState)


async def test_a_request_is_filed_and_listed_with_its_status(session, frozen_clock, admin):
    patient, account, state = await _state(session)
    assert await run(state.load()) is None and state.ready
    assert (state.min_date, state.max_date) == (day(1), day(365))
    await run(state.request_appointment(form(date_2=day(8), time_2="afternoon", reason="Sore knee")))
    assert state.notice and state.form_version == 1 and state.form_error == ""
    assert [(r.status_label, r.reason, r.preferred) for r in state.rows] == [
        ("Requested", "Sore knee", "Mon 11/30/2026, morning; Tue 12/01/2026, afternoon")]
    task = session.exec(select(PortalTask)).one()
    appointments.decide(session=session, task_id=task.id, decision="declined", note="Please call us.",
                        actor=audit.Actor.staff(admin.id))
    await run(state.load())
    assert [(r.status_label, r.staff_note) for r in state.rows] == [("Declined", "Please call us.")]


async def test_errors_stand_beside_their_fields(session, frozen_clock):
    _, _, state = await _state(session)
    await run(state.load())
    await run(state.request_appointment(form(date_1=day(0), date_3=day(500), time_3="noon", reason="")))
    assert state.date_1_error == "Choose a date after today."
    assert state.date_3_error.startswith("Choose a date within a year")
    assert state.time_3_error and state.reason_error == "Tell us the reason for the visit."
    assert (state.date_2_error, state.time_1_error, state.notice, state.form_version) == ("", "", "", 0)
    assert session.exec(select(AppointmentRequest)).all() == []
    await run(state.request_appointment(form()))
    assert state.date_1_error == "" and state.reason_error == "" and len(state.rows) == 1


async def test_a_connection_without_appointments_refuses_and_audits(session, frozen_clock):
    _, _, state = await _state(session, permissions="messages")
    target = await run(state.load())
    assert redirect_path(target[0]) == routes.PORTAL_HOME and not state.ready
    await run(state.request_appointment(form()))
    assert session.exec(select(PortalTask)).all() == []
    refusals = [e.detail for e in session.exec(select(AuditEvent).where(AuditEvent.action == "portal.area_refused"))]
    assert refusals == ["area=appointments; handler=open", "area=appointments; handler=request_appointment"]
