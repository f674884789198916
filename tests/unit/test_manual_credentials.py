"""Staff setting a patient's username and password by hand."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from portal_app.models import (
    AccessType,
    AccountStatus,
    AuditEvent,
    ChartAccountState,
    OneTimeSecret,
    Patient,
    PortalAccount,
    PortalConnection,
)
from portal_app.services import audit, invitations, manual_credentials, portal_auth
from portal_app.services.errors import InvalidInput, NotFound
from tests.unit.conftest import make_patient
from tests.unit.races import rival_account

PASSWORD = "quiet lantern orbit 73 meadow"
NEW_PASSWORD = "amber falcon drifts 19 north"


def _set(session, admin, patient, username="maria.lopez@example.com", password=PASSWORD, force=False):
    return manual_credentials.set_manually(session=session, patient_id=patient.id, username=username,
                                 password=password, force_change=force, actor=audit.Actor.staff(admin.id))


def _state(session, patient):
    session.expire_all()
    return session.get(Patient, patient.id).account_state


def test_check_username_answers_live(session, admin):
    mine = make_patient(session, enabled=True)
    other = make_patient(session, enabled=True, first="Ann", last="Other", email="ann@example.com", chart="A2")
    _set(session, admin, other, username="ann@example.com")
    assert manual_credentials.check_username(session=session, username=" ", patient_id=mine.id).ok is False
    bad = manual_credentials.check_username(session=session, username="maria lopez", patient_id=mine.id)
    assert not bad.ok and "email address or a phone number" in bad.message
    taken = manual_credentials.check_username(session=session, username="ANN@example.com", patient_id=mine.id)
    assert (taken.ok, taken.message) == (False, "That username is already used by another account.")
    free = manual_credentials.check_username(session=session, username="Maria.Lopez@example.com", patient_id=mine.id)
    assert (free.ok, free.normalized) == (True, "maria.lopez@example.com")
    assert "valid and available" in free.message
    # The chart's own username is not "taken" from its own point of view.
    assert manual_credentials.check_username(session=session, username="ann@example.com", patient_id=other.id).ok
    phone = manual_credentials.check_username(session=session, username="201.555.0123", patient_id=mine.id)
    assert (phone.ok, phone.normalized) == (True, "+12015550123")


def test_set_username_and_password_creates_an_active_self_account(session, admin):
    patient = make_patient(session, enabled=True)
    account = _set(session, admin, patient)
    assert (account.user_id, account.status, account.must_change_password) == (
        "maria.lopez@example.com", AccountStatus.ACTIVE, False)
    connection = session.exec(select(PortalConnection)).one()
    assert (connection.patient_id, connection.access_type, connection.connected_by_staff_id) == (
        patient.id, AccessType.SELF, admin.id)
    assert _state(session, patient) == ChartAccountState.ACTIVE
    assert portal_auth.sign_in(session=session, user_id="maria.lopez@example.com", password=PASSWORD)
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "account.create_manual")).one()
    assert "password set by staff" in event.detail and PASSWORD not in event.detail


def test_username_without_password_leaves_the_account_pending(session, admin):
    patient = make_patient(session, enabled=True)
    account = _set(session, admin, patient, password=None)
    assert account.status == AccountStatus.PENDING and account.password_hash is None
    assert _state(session, patient) == ChartAccountState.INVITED
    with pytest.raises(portal_auth.SignInFailed):
        portal_auth.sign_in(session=session, user_id="maria.lopez@example.com", password="")


def test_force_change_flag_is_kept(session, admin):
    patient = make_patient(session, enabled=True)
    _set(session, admin, patient, force=True)
    sid = portal_auth.sign_in(session=session, user_id="maria.lopez@example.com", password=PASSWORD)
    assert portal_auth.principal_for(session=session, session_id=sid).must_change_password
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "account.create_manual")).one()
    assert "change required at sign-in" in event.detail


def test_update_changes_the_username_of_the_same_account(session, admin):
    patient = make_patient(session, enabled=True)
    first = _set(session, admin, patient)
    second = _set(session, admin, patient, username="(201) 555-0123", password=None)
    assert second.id == first.id and second.user_id == "+12015550123"
    assert len(session.exec(select(PortalAccount)).all()) == 1
    assert len(session.exec(select(PortalConnection)).all()) == 1
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "account.update_manual")).one()
    assert event.detail == "username maria.lopez@example.com -> +12015550123"
    assert portal_auth.sign_in(session=session, user_id="2015550123", password=PASSWORD)


def test_username_taken_by_another_account_is_refused_on_the_username_field(session, admin):
    other = make_patient(session, enabled=True, first="Ann", last="Other", email="ann@example.com", chart="A2")
    _set(session, admin, other, username="shared@example.com")
    patient = make_patient(session, enabled=True)
    with pytest.raises(InvalidInput, match="already used") as info:
        _set(session, admin, patient, username="Shared@Example.com")
    assert info.value.field == "username"
    assert len(session.exec(select(PortalAccount)).all()) == 1


def test_access_must_be_enabled_first(session, admin):
    patient = make_patient(session)
    with pytest.raises(InvalidInput, match="Enable portal access"):
        _set(session, admin, patient)
    with pytest.raises(NotFound):
        manual_credentials.set_manually(session=session, patient_id=999, username="x@example.com", password=None,
                              force_change=False, actor=audit.Actor.staff(admin.id))


@pytest.mark.parametrize("password", ["short", "password123", "maria lopez 1980 rocks", "riverside family 2024 ok"])
def test_weak_or_personal_password_is_refused_and_nothing_is_created(session, admin, password):
    patient = make_patient(session, enabled=True)
    with pytest.raises(InvalidInput) as info:
        _set(session, admin, patient, password=password)
    assert info.value.field == "password"
    assert session.exec(select(PortalAccount)).all() == []


def test_new_password_by_staff_voids_reset_links_and_ends_sessions(session, admin):
    patient = make_patient(session, enabled=True)
    _set(session, admin, patient)
    sid = portal_auth.sign_in(session=session, user_id="maria.lopez@example.com", password=PASSWORD)
    invitations.send_invitation_or_reset(session=session, patient_id=patient.id,
                                         actor=audit.Actor.staff(admin.id))
    _set(session, admin, patient, password=NEW_PASSWORD)
    live = session.exec(select(OneTimeSecret).where(col(OneTimeSecret.revoked_at).is_(None))).all()
    assert live == []
    assert portal_auth.principal_for(session=session, session_id=sid) is None
    assert portal_auth.sign_in(session=session, user_id="maria.lopez@example.com", password=NEW_PASSWORD)


def test_new_password_unlocks_the_account(session, admin):
    patient = make_patient(session, enabled=True)
    account = _set(session, admin, patient)
    for _ in range(10):
        with pytest.raises(portal_auth.SignInFailed):
            portal_auth.sign_in(session=session, user_id="maria.lopez@example.com", password="wrong guess 1")
    _set(session, admin, patient, password=NEW_PASSWORD)
    session.refresh(account)
    assert account.locked_until is None and account.failed_logins == 0
    assert portal_auth.sign_in(session=session, user_id="maria.lopez@example.com", password=NEW_PASSWORD)


def test_a_username_taken_at_the_same_moment_is_reported_beside_the_field(session, admin):
    patient = make_patient(session, enabled=True)
    with rival_account() as rivals, pytest.raises(InvalidInput) as caught:
        _set(session, admin, patient)
    assert rivals, "the race was not simulated"
    assert (caught.value.field, caught.value.message) == (
        "username", "That username is already used by another account.")
    assert session.exec(select(PortalConnection)).first() is None


def test_a_new_username_taken_at_the_same_moment_is_reported_beside_the_field(session, admin):
    patient = make_patient(session, enabled=True)
    _set(session, admin, patient)
    with rival_account(renaming=True) as rivals, pytest.raises(InvalidInput) as caught:
        _set(session, admin, patient, username="maria.new@example.com", password=None)
    assert rivals, "the race was not simulated"
    assert (caught.value.field, caught.value.message) == (
        "username", "That username is already used by another account.")
