"""Patient sign-in (one answer for every failure), lockout, principal, password change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from portal_app.models import AccountStatus, AuditEvent, PortalAccount, PracticeSettings
from portal_app.services import audit, manual_credentials, onboarding, portal_auth, settings
from portal_app.services.errors import InvalidInput, PortalUnavailable
from tests.unit.conftest import START, make_patient
from tests.unit.two_step import staff_sign_in

PASSWORD = "quiet lantern orbit 73 meadow"
NEW_PASSWORD = "amber falcon drifts 19 north"


def _account(session, admin, *, username="maria.lopez@example.com", password=PASSWORD, **kw):
    """An enabled chart with a `self` account set up by staff; returns (patient, account)."""
    patient = make_patient(session, enabled=True, **kw)
    account = manual_credentials.set_manually(session=session, patient_id=patient.id, username=username,
                                    password=password, force_change=False,
                                    actor=audit.Actor.staff(admin.id))
    return patient, account


def _fail(session, user_id, password):
    with pytest.raises(portal_auth.SignInFailed) as info:
        portal_auth.sign_in(session=session, user_id=user_id, password=password)
    return str(info.value)


def _failure_details(session):
    return [e.detail for e in session.exec(select(AuditEvent).where(
        AuditEvent.action == "portal.sign_in_failed").order_by(AuditEvent.id))]


def test_sign_in_opens_a_session_showing_the_chart(session, admin, frozen_clock):
    patient, account = _account(session, admin, address_line1="1 Elm St", city="Salem",
                                region="OR", postal_code="97301", mobile_phone="+12015550123")
    sid = portal_auth.sign_in(session=session, user_id=" Maria.Lopez@EXAMPLE.com", password=PASSWORD)
    principal = portal_auth.principal_for(session=session, session_id=sid)
    assert principal.account_id == account.id and not principal.must_change_password
    [chart] = principal.charts
    assert (chart.name, chart.dob, chart.access_type, chart.address, chart.mobile_phone) == (
        "Maria Lopez", "04/02/1980", "self", "1 Elm St, Salem, OR 97301", "(201) 555-0123")
    session.refresh(account)
    assert account.last_sign_in_at == START
    assert "portal.sign_in" in [e.action for e in session.exec(select(AuditEvent))]


def test_phone_user_id_signs_in_in_any_format(session, admin):
    _account(session, admin, username="(201) 555-0123")
    assert portal_auth.sign_in(session=session, user_id="+1 201-555-0123", password=PASSWORD)


def test_same_answer_for_unknown_wrong_disabled_pending_and_no_enabled_chart(session, admin):
    patient, account = _account(session, admin)
    answers = [_fail(session, "nobody@example.com", PASSWORD),
               _fail(session, "not an id at all", PASSWORD),
               _fail(session, "", ""),
               _fail(session, patient.email, "wrong password entirely")]
    onboarding.disable_access(session=session, patient_id=patient.id, actor=audit.Actor.staff(admin.id))
    answers.append(_fail(session, patient.email, PASSWORD))
    onboarding.enable_access(session=session, patient_id=patient.id, actor=audit.Actor.staff(admin.id))
    account.status = AccountStatus.DISABLED
    session.add(account)
    session.commit()
    answers.append(_fail(session, patient.email, PASSWORD))
    other = make_patient(session, enabled=True, first="Ann", last="Other", email="ann@example.com", chart="P2")
    manual_credentials.set_manually(session=session, patient_id=other.id, username="ann@example.com", password=None,
                          force_change=False, actor=audit.Actor.staff(admin.id))
    answers.append(_fail(session, "ann@example.com", ""))
    assert set(answers) == {portal_auth.sign_in_failed_message(temporary_days=3, phone="(555) 010-0100")}
    details = _failure_details(session)
    assert {"unknown user ID", "wrong password", "no chart with portal access", "account disabled"} <= set(details)
    # The pending account has no password; it fails as a wrong password would.
    assert details[-1] == "wrong password"


def test_ten_wrong_passwords_lock_the_account_for_15_minutes(session, admin, frozen_clock):
    patient, account = _account(session, admin)
    for _ in range(10):
        _fail(session, patient.email, "wrong password entirely")
    session.refresh(account)
    assert account.locked_until == START + timedelta(minutes=15)
    _fail(session, patient.email, PASSWORD)
    assert _failure_details(session)[-1] == "locked"
    frozen_clock(START + timedelta(minutes=15, seconds=1))
    assert portal_auth.sign_in(session=session, user_id=patient.email, password=PASSWORD)
    session.refresh(account)
    assert account.failed_logins == 0 and account.locked_until is None


def test_a_success_resets_the_failure_count(session, admin, frozen_clock):
    patient, account = _account(session, admin)
    for _ in range(9):
        _fail(session, patient.email, "wrong password entirely")
    portal_auth.sign_in(session=session, user_id=patient.email, password=PASSWORD)
    _fail(session, patient.email, "wrong password entirely")
    session.refresh(account)
    assert account.locked_until is None and account.failed_logins == 1


def test_expired_temporary_password_cannot_sign_in(session, admin, frozen_clock):
    patient, account = _account(session, admin)
    account.must_change_password = True
    account.temp_password_expires_at = START + timedelta(days=3)
    session.add(account)
    session.commit()
    sid = portal_auth.sign_in(session=session, user_id=patient.email, password=PASSWORD)
    assert portal_auth.principal_for(session=session, session_id=sid).must_change_password
    frozen_clock(START + timedelta(days=3))
    _fail(session, patient.email, PASSWORD)
    assert _failure_details(session)[-1] == "temporary password expired"


def test_portal_switched_off(session, admin):
    patient, _account_row = _account(session, admin)
    sid = portal_auth.sign_in(session=session, user_id=patient.email, password=PASSWORD)
    config = settings.get(session=session)
    config.portal_active = False
    session.add(config)
    session.commit()
    with pytest.raises(PortalUnavailable):
        portal_auth.sign_in(session=session, user_id=patient.email, password=PASSWORD)
    assert portal_auth.principal_for(session=session, session_id=sid) is None


def test_principal_ends_with_the_account_or_the_chart(session, admin):
    patient, account = _account(session, admin)
    sid = portal_auth.sign_in(session=session, user_id=patient.email, password=PASSWORD)
    account.status = AccountStatus.DISABLED
    session.add(account)
    session.commit()
    assert portal_auth.principal_for(session=session, session_id=sid) is None
    assert portal_auth.principal_for(session=session, session_id=None) is None


def test_principal_reads_the_charts_and_settings_afresh_each_call(session, admin):
    """The principal is one joined read plus the charts: each call sees a chart whose access was
    turned off, and a new database's missing settings row is made on the read."""
    patient, account = _account(session, admin)
    sid = portal_auth.sign_in(session=session, user_id=patient.email, password=PASSWORD)
    session.delete(settings.get(session=session))
    session.commit()
    principal = portal_auth.principal_for(session=session, session_id=sid)
    assert [chart.patient_id for chart in principal.charts] == [patient.id]
    assert principal.user_id == account.user_id and principal.charts[0].allows("messages")
    assert session.get(PracticeSettings, 1) is not None

    onboarding.disable_access(session=session, patient_id=patient.id, actor=audit.Actor.staff(admin.id))
    onboarding.enable_access(session=session, patient_id=patient.id, actor=audit.Actor.staff(admin.id))
    assert portal_auth.principal_for(session=session, session_id=sid) is None  # that ended the session
    sid = portal_auth.sign_in(session=session, user_id=patient.email, password=PASSWORD)
    patient.portal_enabled = False  # (off without ending sessions: the chart alone is refused)
    session.add(patient)
    session.commit()
    assert portal_auth.principal_for(session=session, session_id=sid) is None


def test_principal_ends_after_15_idle_minutes(session, admin, frozen_clock):
    patient, _account_row = _account(session, admin)
    sid = portal_auth.sign_in(session=session, user_id=patient.email, password=PASSWORD)
    frozen_clock(START + timedelta(minutes=15, seconds=1))
    assert portal_auth.principal_for(session=session, session_id=sid) is None


def test_staff_session_id_is_not_a_portal_session(session, admin):
    from tests.unit.conftest import ADMIN_PASSWORD

    staff_sid = staff_sign_in(session, "admin", ADMIN_PASSWORD)
    assert portal_auth.principal_for(session=session, session_id=staff_sid) is None


def test_change_password_ends_other_sessions_and_keeps_mine(session, admin):
    patient, account = _account(session, admin)
    mine = portal_auth.sign_in(session=session, user_id=patient.email, password=PASSWORD)
    other = portal_auth.sign_in(session=session, user_id=patient.email, password=PASSWORD)
    portal_auth.change_password(session=session, account_id=account.id, current=PASSWORD,
                                new=NEW_PASSWORD, confirm=NEW_PASSWORD, session_id=mine)
    assert portal_auth.principal_for(session=session, session_id=mine) is not None
    assert portal_auth.principal_for(session=session, session_id=other) is None
    _fail(session, patient.email, PASSWORD)
    assert portal_auth.sign_in(session=session, user_id=patient.email, password=NEW_PASSWORD)
    assert "other sessions ended=1" in session.exec(select(AuditEvent).where(
        AuditEvent.action == "account.password_change")).one().detail


def test_change_password_clears_the_forced_change(session, admin):
    patient, account = _account(session, admin)
    account.must_change_password = True
    account.temp_password_expires_at = START + timedelta(days=3)
    session.add(account)
    session.commit()
    portal_auth.change_password(session=session, account_id=account.id, current=PASSWORD,
                                new=NEW_PASSWORD, confirm=NEW_PASSWORD, session_id=None)
    session.refresh(account)
    assert not account.must_change_password and account.temp_password_expires_at is None


@pytest.mark.parametrize("current, new, confirm, field", [
    ("wrong current pw", NEW_PASSWORD, NEW_PASSWORD, "current"),
    (PASSWORD, PASSWORD, PASSWORD, "password"),
    (PASSWORD, "short", "short", "password"),
    (PASSWORD, "lopez and maria 2024!", "lopez and maria 2024!", "password"),
    (PASSWORD, NEW_PASSWORD, "different", "confirm"),
])
def test_change_password_errors_go_to_their_fields(session, admin, current, new, confirm, field):
    patient, account = _account(session, admin)
    with pytest.raises(InvalidInput) as info:
        portal_auth.change_password(session=session, account_id=account.id, current=current, new=new,
                                    confirm=confirm, session_id=None)
    assert info.value.field == field
    assert portal_auth.sign_in(session=session, user_id=patient.email, password=PASSWORD)


def test_sign_out_ends_the_session_and_audits(session, admin):
    patient, account = _account(session, admin)
    sid = portal_auth.sign_in(session=session, user_id=patient.email, password=PASSWORD)
    portal_auth.sign_out(session=session, session_id=sid)
    assert portal_auth.principal_for(session=session, session_id=sid) is None
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "portal.sign_out")).one()
    assert event.account_id == account.id
    assert session.exec(select(PortalAccount)).one().id == account.id
