"""NewPatientState handlers, called directly (no browser)."""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from portal_app import routes
from portal_app.models import AuditEvent, Patient
from portal_app.services.permissions import Level, Permission
from portal_app.state.new_patient import CONFIRM_FIELD, NO_CREATE, NOT_SAVED, NewPatientState, field_id
from tests.unit.conftest import make_patient
from tests.unit.state_support import everything_in_state, sign_in_admin, staff_with, state_for
from tests.unit.test_state_patient import redirect_path

TYPED = {"chart_number": "C0000777", "first_name": "Zoë", "last_name": "Nguyễn-Smith", "dob": "02/28/1990",
         "email": "Zoe.Nguyen@Example.com", "mobile_phone": "(512) 555-0142", "sex": "Female",
         "city": "Austin", "allow_email": "on"}


def _submitted(**changes: str) -> dict[str, str]:
    """Form data as the browser sends it (inputs named by their ids; unticked boxes absent)."""
    return {field_id(key): value for key, value in {**TYPED, **changes}.items()}


async def _open(session_id: str) -> tuple[NewPatientState, object]:
    root, state = await state_for(NewPatientState, session_id=session_id, path=routes.NEW_PATIENT)
    return state, await state.load()


def _events(result) -> list:
    return result if isinstance(result, list) else [result]


async def test_save_creates_the_chart_opens_it_and_says_so(session, admin):
    state, loaded = await _open(sign_in_admin(session))
    assert loaded is None and state.allowed
    result = await state.save(_submitted())
    patient = session.exec(select(Patient)).one()
    redirect, notice = _events(result)
    assert redirect_path(redirect) == routes.patient_chart(patient.id)
    assert "Chart C0000777 created." in str(notice)
    assert (patient.first_name, patient.mobile_phone, patient.allow_email, patient.allow_sms) == (
        "Zoë", "+15125550142", True, False)
    assert session.exec(select(AuditEvent.detail).where(AuditEvent.action == "chart.create")).one() == "source=form"


async def test_errors_sit_beside_their_fields_and_nothing_typed_is_held_or_lost(session, admin):
    state, _ = await _open(sign_in_admin(session))
    result = await state.save(_submitted(dob="02/30/1990", email="zoe@"))
    assert state.dob_error == "Date of birth 02/30/1990 is not a real date."
    assert state.email_error.startswith("That email address is not valid")
    assert (state.first_name_error, state.chart_number_error, state.form_error) == ("", "", NOT_SAVED)
    # The keyboard goes to the first field in error; the form is not reset (the page keeps the inputs).
    assert field_id("dob") in str(result) and "reset" not in str(result).lower()
    # The typed values stay in the browser only: none of them sits in the server's state.
    held = everything_in_state(state._get_root_state())
    assert "Nguy" not in held and "Zoe.Nguyen" not in held and "C0000777" not in held
    assert session.exec(select(Patient)).all() == []
    # Fixed, the same form saves; the old messages are gone.
    await state.save(_submitted())
    assert (state.dob_error, state.email_error, state.form_error) == ("", "", "")
    assert session.exec(select(Patient.chart_number)).all() == ["C0000777"]


async def test_a_chart_number_in_use_is_refused_beside_the_field(session, admin):
    make_patient(session, chart="C0000123")
    state, _ = await _open(sign_in_admin(session))
    await state.save(_submitted(chart_number="C0000123"))
    assert state.chart_number_error == "Chart number C0000123 is already in use."
    assert session.exec(select(Patient.chart_number)).all() == ["C0000123"]


async def test_a_probable_duplicate_asks_and_the_tick_confirms_only_the_charts_named(session, admin):
    make_patient(session, chart="C0000456", first="Zoë", last="Nguyễn-Smith", dob=date(1990, 2, 28))
    state, _ = await _open(sign_in_admin(session))
    result = await state.save(_submitted())
    assert state.duplicate_charts == "C0000456" and "Chart C0000456 already has a patient" in state.duplicate_error
    assert CONFIRM_FIELD in str(result)
    await state.save(_submitted())  # saved again without the tick: asked again
    assert session.exec(select(Patient).where(Patient.chart_number == "C0000777")).first() is None
    result = await state.save({**_submitted(), CONFIRM_FIELD: "on"})
    assert redirect_path(_events(result)[0]) is not None and state.duplicate_charts == ""
    assert session.exec(select(Patient).where(Patient.chart_number == "C0000777")).one()


async def test_a_tick_sent_without_the_question_confirms_nothing(session, admin):
    make_patient(session, chart="C0000456", first="Zoë", last="Nguyễn-Smith", dob=date(1990, 2, 28))
    state, _ = await _open(sign_in_admin(session))
    await state.save({**_submitted(), CONFIRM_FIELD: "on"})
    assert state.duplicate_charts == "C0000456"
    assert session.exec(select(Patient).where(Patient.chart_number == "C0000777")).first() is None


async def test_read_only_staff_cannot_open_the_form_nor_save_and_the_refusal_is_audited(session, admin):
    reader = staff_with(session, "reader", {Permission.PORTAL_ADMIN: Level.READ})
    state, loaded = await _open(reader)
    assert not state.allowed and state.form_error == NO_CREATE and "error" in str(loaded)
    assert await state.save(_submitted()) is None
    assert state.form_error == NO_CREATE
    assert session.exec(select(Patient)).all() == []
    needs = session.exec(select(AuditEvent.detail).where(AuditEvent.action == "access.refused")).all()
    assert any("NewPatientState.save" in detail and "portal_admin>=write" in detail for detail in needs), needs


async def test_update_is_not_enough_to_add_a_chart(session, admin):
    updater = staff_with(session, "updater", {Permission.PORTAL_ADMIN: Level.UPDATE})
    state, _ = await _open(updater)
    assert await state.save(_submitted()) is None and state.form_error == NO_CREATE
    assert session.exec(select(Patient)).all() == []


async def test_without_a_session_the_save_goes_to_sign_in(session, admin):
    state, _ = await _open("")
    assert redirect_path(await state.save(_submitted())) == routes.STAFF_LOGIN
    assert session.exec(select(Patient)).all() == []
