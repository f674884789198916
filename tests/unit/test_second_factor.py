"""Two-step verification (issue 11 item 13): enrolment, codes, replay, recovery codes, lockout,
who must have it, a colleague's reset, the practice's switch."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlmodel import select

from portal_app.models import AuditEvent, AuthSession, RecoveryCode, SecondFactor, StaffUser
from portal_app.services import audit, clock, passwords, permissions, second_factor, settings, staff_auth
from portal_app.services.errors import InvalidInput, SignInFailed
from portal_app.services.second_factor import SecondStepNeeded
from tests.unit.conftest import ADMIN_PASSWORD
from tests.unit.two_step import code_for, factor_of, staff_sign_in

DESK_PASSWORD = "velvet harbor compass 58 ridge"


def _need(session, username="admin", password=ADMIN_PASSWORD) -> SecondStepNeeded:
    with pytest.raises(SecondStepNeeded) as caught:
        staff_auth.sign_in(session=session, username=username, password=password)
    return caught.value


def _enrolled_admin(session, admin) -> tuple[SecondFactor, list[str]]:
    need = _need(session)
    second_factor.begin_enrolment(session=session, challenge=need.challenge)
    factor = factor_of(session, staff_user_id=admin.id)
    _sid, codes = staff_auth.enrol_and_sign_in(session=session, challenge=need.challenge, code=code_for(factor))
    return factor_of(session, staff_user_id=admin.id), codes


def _sessions(session, admin) -> int:
    return len(session.exec(select(AuthSession).where(AuthSession.staff_user_id == admin.id)).all())


def _desk(session):
    return staff_auth.create_staff(session=session, username="desk", full_name="Dee Desk", password=DESK_PASSWORD,
                                   role=permissions.FRONT_DESK)


def test_an_administrator_must_enrol_before_any_session_opens(session, admin, frozen_clock):
    need = _need(session)
    assert need.enrol and _sessions(session, admin) == 0
    shown = second_factor.begin_enrolment(session=session, challenge=need.challenge)
    factor = factor_of(session, staff_user_id=admin.id)
    assert shown.qr_data_uri.startswith("data:image/svg+xml;base64,")
    assert shown.key.replace(" ", "") == factor.secret
    with pytest.raises(InvalidInput):
        staff_auth.enrol_and_sign_in(session=session, challenge=need.challenge, code="000000")
    assert _sessions(session, admin) == 0
    sid, codes = staff_auth.enrol_and_sign_in(session=session, challenge=need.challenge, code=code_for(factor))
    assert staff_auth.principal_for(session=session, session_id=sid) is not None
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = session.exec(select(RecoveryCode)).all()
    assert len(stored) == 10 and all(code.replace("-", "") not in {r.code_hash for r in stored} for code in codes)
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "staff.second_factor_enrolled")).first()


def test_a_staff_user_without_the_roles_permission_signs_in_with_the_password_alone(session, admin):
    _desk(session)
    assert staff_auth.sign_in(session=session, username="desk", password=DESK_PASSWORD)
    assert not second_factor.required_for_staff(session=session, staff_user_id=session.exec(
        select(StaffUser).where(StaffUser.username == "desk")).one().id)
    assert second_factor.required_for_staff(session=session, staff_user_id=admin.id)


def test_sign_in_asks_for_the_code_and_opens_the_session_only_after_it(session, admin, frozen_clock):
    factor, _codes = _enrolled_admin(session, admin)
    before = _sessions(session, admin)
    need = _need(session)
    assert not need.enrol and _sessions(session, admin) == before
    frozen_clock(clock.now() + timedelta(seconds=30))
    sid = staff_auth.sign_in_second_step(session=session, challenge=need.challenge, code=code_for(factor))
    assert staff_auth.principal_for(session=session, session_id=sid) is not None
    # The challenge is spent.
    with pytest.raises(SignInFailed):
        staff_auth.sign_in_second_step(session=session, challenge=need.challenge, code=code_for(factor))


def test_a_code_used_once_is_refused_again_in_its_window(session, admin, frozen_clock):
    factor, _codes = _enrolled_admin(session, admin)
    # The enrolment code's own window: the same code again is a replay.
    need = _need(session)
    with pytest.raises(SignInFailed) as caught:
        staff_auth.sign_in_second_step(session=session, challenge=need.challenge, code=code_for(factor))
    assert caught.value.field == "code"
    frozen_clock(clock.now() + timedelta(seconds=30))
    code = code_for(factor)
    staff_auth.sign_in_second_step(session=session, challenge=need.challenge, code=code)
    need = _need(session)
    with pytest.raises(SignInFailed):
        staff_auth.sign_in_second_step(session=session, challenge=need.challenge, code=code)
    assert factor_of(session, staff_user_id=admin.id).last_step == second_factor.current_step()


def test_a_recovery_code_works_once(session, admin, frozen_clock):
    _factor, codes = _enrolled_admin(session, admin)
    need = _need(session)
    sid = staff_auth.sign_in_second_step(session=session, challenge=need.challenge, code=codes[0].lower(),
                                         recovery=True)
    assert sid
    need = _need(session)
    with pytest.raises(SignInFailed):
        staff_auth.sign_in_second_step(session=session, challenge=need.challenge, code=codes[0], recovery=True)
    assert staff_auth.sign_in_second_step(session=session, challenge=need.challenge, code=codes[1], recovery=True)
    used = session.exec(select(AuditEvent).where(AuditEvent.action == "staff.recovery_code_used")).all()
    assert [event.detail for event in used] == ["left=9", "left=8"]


def test_wrong_codes_count_towards_the_password_lockout(session, admin, frozen_clock):
    factor, _codes = _enrolled_admin(session, admin)
    need = _need(session)
    for _ in range(passwords.MAX_FAILURES - 1):
        with pytest.raises(SignInFailed) as caught:
            staff_auth.sign_in_second_step(session=session, challenge=need.challenge, code="123456")
        assert caught.value.message == second_factor.CODE_FAILED
    # A right password in between does not clear the count.
    need = _need(session)
    session.refresh(admin)
    assert admin.failed_logins == passwords.MAX_FAILURES - 1
    with pytest.raises(SignInFailed) as caught:
        staff_auth.sign_in_second_step(session=session, challenge=need.challenge, code="123456")
    assert caught.value.message == second_factor.CHALLENGE_ENDED
    session.refresh(admin)
    assert admin.locked_until is not None
    # Locked: even the right code is refused, and the password step too.
    frozen_clock(clock.now() + timedelta(seconds=30))
    with pytest.raises(SignInFailed):
        staff_auth.sign_in_second_step(session=session, challenge=need.challenge, code=code_for(factor))
    with pytest.raises(SignInFailed):
        staff_auth.sign_in(session=session, username="admin", password=ADMIN_PASSWORD)


def test_the_challenge_expires(session, admin, frozen_clock):
    factor, _codes = _enrolled_admin(session, admin)
    need = _need(session)
    frozen_clock(clock.now() + second_factor.CHALLENGE_LIFETIME + timedelta(seconds=1))
    with pytest.raises(SignInFailed) as caught:
        staff_auth.sign_in_second_step(session=session, challenge=need.challenge, code=code_for(factor))
    assert caught.value.message == second_factor.CHALLENGE_ENDED


def test_a_colleague_resets_the_second_factor_and_it_is_set_up_again(session, admin, frozen_clock):
    sid = staff_sign_in(session, "admin", ADMIN_PASSWORD)
    other = staff_auth.create_staff(session=session, username="boss", full_name="Bo Boss", password=DESK_PASSWORD)
    assert second_factor.reset_staff(session=session, staff_user_id=admin.id, actor=audit.Actor.staff(other.id))
    assert staff_auth.principal_for(session=session, session_id=sid) is None  # their sessions ended
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "staff.second_factor_reset")).one()
    assert event.staff_user_id == other.id and "username=admin" in event.detail
    assert session.exec(select(RecoveryCode)).all() == []
    assert _need(session).enrol
    # Nothing to reset: nothing audited.
    assert not second_factor.reset_staff(session=session, staff_user_id=other.id, actor=audit.Actor.staff(admin.id))


def test_the_practice_switch_requires_it_of_everyone_and_is_audited(session, admin, frozen_clock):
    desk = _desk(session)
    sid = staff_auth.sign_in(session=session, username="desk", password=DESK_PASSWORD)
    second_factor.set_required(session=session, actor=audit.Actor.staff(admin.id), required=True)
    assert settings.get(session=session).require_second_factor
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "settings.update")).one()
    assert event.detail == "require_second_factor: False -> True"
    # A session opened without it no longer counts; the next sign-in enrols.
    assert staff_auth.principal_for(session=session, session_id=sid) is None
    assert _need(session, "desk", DESK_PASSWORD).enrol
    assert second_factor.required_for_staff(session=session, staff_user_id=desk.id)


def test_the_secret_is_not_in_the_enrolment_qr_as_text_and_codes_match_pyotp(session, admin, frozen_clock):
    need = _need(session)
    shown = second_factor.begin_enrolment(session=session, challenge=need.challenge)
    factor = factor_of(session, staff_user_id=admin.id)
    assert pyotp.TOTP(factor.secret).verify(code_for(factor), for_time=clock.now())
    assert factor.secret not in shown.qr_data_uri


def test_patient_enrols_from_their_account_and_then_needs_the_code(session, admin, frozen_clock):
    from portal_app.services import manual_credentials, portal_auth
    from tests.unit.conftest import make_patient
    from tests.unit.two_step import portal_sign_in

    patient = make_patient(session, enabled=True)
    account = manual_credentials.set_manually(session=session, patient_id=patient.id, username="maria@example.com",
                                              password=DESK_PASSWORD, force_change=False,
                                              actor=audit.Actor.staff(admin.id))
    assert portal_auth.sign_in(session=session, user_id="maria@example.com", password=DESK_PASSWORD)
    shown = second_factor.start_for_account(session=session, account_id=account.id)
    factor = factor_of(session, account_id=account.id)
    assert shown.key.replace(" ", "") == factor.secret
    codes = second_factor.confirm_for_account(session=session, account_id=account.id, code=code_for(factor))
    assert len(codes) == 10
    with pytest.raises(SecondStepNeeded):
        portal_auth.sign_in(session=session, user_id="maria@example.com", password=DESK_PASSWORD)
    frozen_clock(clock.now() + timedelta(seconds=30))
    assert portal_sign_in(session, "maria@example.com", DESK_PASSWORD)
    frozen_clock(clock.now() + timedelta(seconds=30))
    second_factor.turn_off_for_account(session=session, account_id=account.id, code=code_for(factor))
    assert portal_auth.sign_in(session=session, user_id="maria@example.com", password=DESK_PASSWORD)


def test_patients_need_it_only_when_the_practice_says_so(session, admin, frozen_clock):
    from portal_app.services import manual_credentials, portal_auth
    from tests.unit.conftest import make_patient

    patient = make_patient(session, enabled=True)
    manual_credentials.set_manually(session=session, patient_id=patient.id, username="maria@example.com",
                                    password=DESK_PASSWORD, force_change=False, actor=audit.Actor.staff(admin.id))
    sid = portal_auth.sign_in(session=session, user_id="maria@example.com", password=DESK_PASSWORD)
    second_factor.set_required(session=session, actor=audit.Actor.staff(admin.id), required=True)
    assert portal_auth.principal_for(session=session, session_id=sid) is None
    with pytest.raises(SecondStepNeeded) as caught:
        portal_auth.sign_in(session=session, user_id="maria@example.com", password=DESK_PASSWORD)
    assert caught.value.enrol
