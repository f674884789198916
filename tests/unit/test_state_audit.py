"""AuditState handlers, called directly (no browser)."""

from __future__ import annotations

from portal_app import routes
from portal_app.services import audit, onboarding
from portal_app.services.permissions import Level, Permission
from portal_app.state.audit import PAGE_SIZE, AuditState
from tests.unit.conftest import make_patient
from tests.unit.state_support import sign_in_admin, staff_with, state_for


async def open_audit(session_id: str):
    root, state = await state_for(AuditState, session_id=session_id, path=routes.AUDIT)
    result = await state.load()
    return state, result


def _two_patients(session, admin):
    maria = make_patient(session, chart="C0000001")
    juan = make_patient(session, first="Juan", last="Perez", email="juan@example.com", chart="C0000002")
    actor = audit.Actor.staff(admin.id)
    onboarding.enable_access(session=session, patient_id=maria.id, actor=actor)
    onboarding.enable_access(session=session, patient_id=juan.id, actor=actor)
    onboarding.disable_access(session=session, patient_id=juan.id, actor=actor)
    return maria, juan


async def test_newest_first_including_sign_ins(session, admin):
    _two_patients(session, admin)
    state, _ = await open_audit(sign_in_admin(session))
    ids = [row.id for row in state.rows]
    assert ids == sorted(ids, reverse=True)
    actions = [row.action for row in state.rows]
    assert actions[0] == "staff.sign_in"
    assert {"portal.enable", "portal.disable", "staff.create"} <= set(actions)


async def test_filter_by_chart_number_shows_only_that_patient(session, admin):
    maria, juan = _two_patients(session, admin)
    state, _ = await open_audit(sign_in_admin(session))
    await state.filter_patient({"patient": "c0000002"})
    assert state.patient_error == ""
    assert state.patient_label == "Perez, Juan (C0000002)"
    assert [row.action for row in state.rows] == ["portal.disable", "portal.enable"]
    assert {row.patient for row in state.rows} == {"Perez, Juan (C0000002)"}

    await state.filter_patient({"patient": str(maria.id)})  # a patient ID works too
    assert [row.action for row in state.rows] == ["portal.enable"]
    assert {row.patient for row in state.rows} == {"Lopez, Maria (C0000001)"}

    await state.clear_patient()
    assert state.patient_label == "" and len(state.rows) > 3


async def test_unknown_patient_gets_a_message_beside_the_field(session, admin):
    _two_patients(session, admin)
    state, _ = await open_audit(sign_in_admin(session))
    before = [row.id for row in state.rows]
    await state.filter_patient({"patient": "C9999999"})
    assert state.patient_error == "No patient has chart number or ID C9999999."
    assert state.patient_query == "C9999999"  # kept
    assert [row.id for row in state.rows] == before
    await state.filter_patient({"patient": "   "})
    assert state.patient_error == "Enter a chart number or a patient ID."
    await state.filter_patient({"patient": "9" * 40})  # no overflow, just "not found"
    assert state.patient_error.startswith("No patient has chart number or ID 999")


async def test_filter_by_staff_user(session, admin):
    _two_patients(session, admin)
    staff_with(session, "bob", {Permission.AUDIT: Level.READ})
    state, _ = await open_audit(sign_in_admin(session))
    usernames = {option.username: option.id for option in state.staff_options}
    assert set(usernames) == {"admin", "bob"}

    await state.set_staff_filter(str(usernames["bob"]))
    assert state.rows and {row.who for row in state.rows} == {"staff: bob"}
    await state.set_staff_filter(str(usernames["admin"]))
    assert {row.who for row in state.rows} == {"staff: admin"}
    await state.set_staff_filter("not-an-id")
    assert state.staff_filter == "" and len({row.who for row in state.rows}) > 1


async def test_older_and_newer_pages(session, admin):
    patient = make_patient(session)
    actor = audit.Actor.staff(admin.id)
    for _ in range(PAGE_SIZE // 2 + 5):
        onboarding.enable_access(session=session, patient_id=patient.id, actor=actor)
        onboarding.disable_access(session=session, patient_id=patient.id, actor=actor)
    state, _ = await open_audit(sign_in_admin(session))
    first = [row.id for row in state.rows]
    assert len(first) == PAGE_SIZE and state.has_older and not state.has_newer
    await state.older()
    assert state.rows and max(row.id for row in state.rows) < min(first)
    assert state.has_newer
    await state.newer()
    assert [row.id for row in state.rows] == first


async def test_without_session_or_permission_nothing_is_shown(session, admin):
    maria, _ = _two_patients(session, admin)
    state, result = await open_audit("")
    assert result is not None and state.rows == []

    sid = staff_with(session, "desk", {Permission.OUTBOX: Level.WRITE, Permission.PORTAL_ADMIN: Level.WRITE})
    state, _ = await open_audit(sid)
    assert state.rows == [] and state.staff_options == []
    await state.filter_patient({"patient": "C0000001"})
    assert state.rows == [] and state.patient_label == ""
    assert state.error == "You do not have permission to see the audit log."
    await state.older()
    assert state.rows == []
