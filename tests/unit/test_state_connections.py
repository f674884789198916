"""ConnectionsState handlers (the chart's "Connected portal accounts"), called directly."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from portal_app import routes
from portal_app.models import AuditEvent, OneTimeSecret, PortalConnection, SecretPurpose
from portal_app.services import audit, manual_credentials, portal_auth, staff_auth, tokens
from portal_app.services.permissions import Level, Permission
from portal_app.state.chart import ChartState
from portal_app.state.connections import ConnectionsState
from tests.unit.conftest import make_patient
from tests.unit.state_support import everything_in_state, sign_in_admin, staff_with, state_for

PASSWORD = "quiet lantern orbit 73 meadow"


async def open_section(session_id: str, patient_id: int):
    root, chart = await state_for(ChartState, session_id=session_id,
                                  path=routes.patient_chart(patient_id), route=routes.PATIENT_CHART)
    await chart.load()
    state = await root.get_state(ConnectionsState)
    result = await state.load()
    return root, state, result


def _connected(session, admin):
    patient = make_patient(session, enabled=True)
    account = manual_credentials.set_manually(session=session, patient_id=patient.id,
                                    username="maria.lopez@example.com", password=PASSWORD,
                                    force_change=False, actor=audit.Actor.staff(admin.id))
    session.commit()
    return patient, account


def _key(session, patient_id):
    plain, row = tokens.issue(session=session, purpose=SecretPurpose.CONNECTION_KEY,
                              lifetime=timedelta(days=3), patient_id=patient_id, channel="sms",
                              destination="+15555550123")
    session.commit()
    return plain, row


async def test_load_lists_connections_and_pending_without_secret_values(session, admin):
    patient, account = _connected(session, admin)
    plain, key = _key(session, patient.id)
    root, state, result = await open_section(sign_in_admin(session), patient.id)
    assert result is None and state.loaded
    assert [(c.user_id, c.access_type, c.connected_by) for c in state.connections] == [
        ("maria.lopez@example.com", "Self", "admin")]
    assert [(p.purpose_label, p.channel, p.destination, p.can_resend) for p in state.pending] == [
        ("Connection key", "Text message", "(555) 555-0123", True)]
    everything = everything_in_state(root)
    assert plain not in everything and key.secret_hash not in everything


async def test_disconnect_after_confirmation_ends_access_and_refreshes_the_chart(session, admin):
    patient, account = _connected(session, admin)
    sid = portal_auth.sign_in(session=session, user_id=account.user_id, password=PASSWORD)
    root, state, _ = await open_section(sign_in_admin(session), patient.id)
    chart = await root.get_state(ChartState)
    assert chart.chart.has_account

    await state.ask_disconnect(state.connections[0].id)
    assert state.disconnect_open and state.disconnect_label == "maria.lopez@example.com (Self)"
    await state.disconnect()
    assert not state.disconnect_open and state.error == ""
    assert state.notice.startswith("Disconnected maria.lopez@example.com (Self)")
    assert state.connections == []
    assert not chart.chart.has_account  # the tab's summary followed
    assert portal_auth.principal_for(session=session, session_id=sid) is None
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "chart.disconnect")).one()


async def test_cancel_forgets_the_choice_so_a_later_confirm_does_nothing(session, admin):
    patient, _ = _connected(session, admin)
    _, state, _ = await open_section(sign_in_admin(session), patient.id)
    await state.ask_disconnect(state.connections[0].id)
    state.set_disconnect_open(False)  # Cancel / Escape
    await state.disconnect()
    assert state.error != "" and len(state.connections) == 1
    session.expire_all()
    assert session.exec(select(PortalConnection)).one().revoked_at is None


async def test_void_after_confirmation(session, admin):
    patient = make_patient(session, enabled=True)
    plain, key = _key(session, patient.id)
    _, state, _ = await open_section(sign_in_admin(session), patient.id)
    await state.ask_void(key.id)
    assert state.void_open and state.void_label == "Connection key sent by text message to (555) 555-0123"
    await state.void()
    assert state.notice == "Connection key voided: it no longer works."
    assert state.pending == []
    session.expire_all()
    assert tokens.find_live(session=session, plain=plain, purposes=(SecretPurpose.CONNECTION_KEY,)) is None


async def test_void_cannot_reach_another_patients_secret(session, admin):
    patient = make_patient(session, enabled=True)
    other = make_patient(session, first="Ana", last="Diaz", email="ana@example.com", enabled=True)
    _, theirs = _key(session, other.id)
    _, state, _ = await open_section(sign_in_admin(session), patient.id)
    await state.ask_void(theirs.id)  # not in this chart's list
    assert not state.void_open
    state._secret_id = theirs.id  # even a forged choice goes through the service's check
    await state.void()
    assert "no longer pending" in state.error
    session.expire_all()
    assert session.get(OneTimeSecret, theirs.id).revoked_at is None


async def test_resend_of_an_invitation_replaces_the_link(session, admin):
    patient = make_patient(session, enabled=True)
    _, old = tokens.issue(session=session, purpose=SecretPurpose.INVITATION, lifetime=timedelta(hours=72),
                          patient_id=patient.id, destination=patient.email_lower)
    old.created_at = old.created_at - timedelta(minutes=5)  # outside the double-click window
    session.add(old)
    session.commit()
    _, state, _ = await open_section(sign_in_admin(session), patient.id)
    [row] = state.pending
    assert row.can_resend
    await state.resend(row.id)
    assert state.error == "" and "maria.lopez@example.com" in state.notice
    [new] = state.pending
    assert new.id != old.id and new.purpose_label == "Invitation"
    session.expire_all()
    assert session.get(OneTimeSecret, old.id).revoked_at is not None


async def test_resend_of_a_key_sends_a_new_one_and_a_letter_is_refused(session, admin):
    patient = make_patient(session, enabled=True)
    _, emailed = tokens.issue(session=session, purpose=SecretPurpose.CONNECTION_KEY,
                              lifetime=timedelta(days=3), patient_id=patient.id, channel="email",
                              destination=patient.email, requested_by="Maria")
    session.commit()
    _, state, _ = await open_section(sign_in_admin(session), patient.id)
    await state.resend(emailed.id)
    assert state.error == "" and "A new connection key was sent to" in state.notice
    assert [p.id for p in state.pending] != [emailed.id] and len(state.pending) == 1

    _, letter = tokens.issue(session=session, purpose=SecretPurpose.CONNECTION_KEY,
                             lifetime=timedelta(days=21), patient_id=patient.id, channel="letter",
                             destination="1 Main St", requested_by="Maria")
    session.commit()
    await state.refresh()
    await state.resend(letter.id)
    assert "print a new one" in state.error
    session.expire_all()
    assert session.get(OneTimeSecret, letter.id).revoked_at is None


async def test_read_level_lists_but_cannot_change(session, admin):
    patient, _ = _connected(session, admin)
    _, key = _key(session, patient.id)
    sid = staff_with(session, "viewer", {Permission.PORTAL_ADMIN: Level.READ})
    _, state, _ = await open_section(sid, patient.id)
    assert state.loaded and len(state.connections) == 1 and len(state.pending) == 1
    await state.ask_disconnect(state.connections[0].id)
    assert not state.disconnect_open
    assert state.error == "You do not have permission to change portal connections."
    state._connection_id = state.connections[0].id  # a forged confirmation
    await state.disconnect()
    await state.void()
    await state.resend(key.id)
    session.expire_all()
    assert session.exec(select(PortalConnection)).one().revoked_at is None
    assert session.get(OneTimeSecret, key.id).revoked_at is None


async def test_without_session_or_permission_nothing_is_listed_or_changed(session, admin):
    patient, _ = _connected(session, admin)
    _, state, _ = await open_section("", patient.id)
    assert not state.loaded and state.connections == []
    assert await state.refresh() is not None  # a redirect to sign in
    state._chart_id, state._connection_id = patient.id, 1
    assert await state.disconnect() is not None

    sid = staff_with(session, "nobody", {Permission.OUTBOX: Level.READ})
    _, state, _ = await open_section(sid, patient.id)
    assert not state.loaded and state.connections == []
    await state.refresh()
    assert state.error == "You do not have permission to see portal connections."
    assert state.connections == []
    session.expire_all()
    assert session.exec(select(PortalConnection)).one().revoked_at is None


async def test_ended_session_forgets_the_lists(session, admin):
    patient, _ = _connected(session, admin)
    staff_sid = sign_in_admin(session)
    _, state, _ = await open_section(staff_sid, patient.id)
    assert state.connections
    staff_auth.sign_out(session=session, session_id=staff_sid)
    result = await state.ask_disconnect(state.connections[0].id)
    assert result is not None and state.connections == [] and state.pending == []
