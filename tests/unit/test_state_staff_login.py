"""Staff sign-in and password-change handlers, called directly."""

from __future__ import annotations

from datetime import timedelta

import pytest
import reflex as rx
from sqlmodel import select

from portal_app import routes
from portal_app.models import AuditEvent, AuthSession, SessionKind, StaffUser
from portal_app.services import clock, passwords, permissions, second_factor, session_grants, staff_auth
from portal_app.services.permissions import Level, Permission
from portal_app.services.staff_auth import SIGN_IN_FAILED
from portal_app.state.staff_login import StaffLoginState, StaffPasswordState
from tests.unit.conftest import ADMIN_PASSWORD
from tests.unit.state_support import (
    PASSWORD,
    everything_in_state,
    grant_in,
    page_after,
    set_cookies,
    sign_in_tab,
    staff_with,
    state_for,
)
from tests.unit.test_state_patient import redirect_path
from tests.unit.two_step import staff_sign_in

NEW_PASSWORD = "amber walrus gallops quietly 31"


async def _state(cls, sid: str = ""):
    root = rx.State(_reflex_internal_init=True)
    state = await root.get_state(cls)
    set_cookies(state, staff=sid)
    return state


def _target(result) -> str:
    text = str(result)
    for path in ("/staff/password", "/staff/onboarding", "/staff/login"):
        if path in text:
            return path
    return ""


@pytest.fixture
def desk(session):
    """A Front Desk user (no Write on Roles Setup: a password alone signs in)."""
    return staff_auth.create_staff(session=session, username="desk", full_name="Dee Desk", password=ADMIN_PASSWORD,
                                   role=permissions.FRONT_DESK)


async def test_sign_in_hands_a_one_time_grant_to_the_cookie_route_and_goes_to_onboarding(session, desk):
    state = await _state(StaffLoginState)

    result = await state.sign_in({"username": "Desk ", "password": ADMIN_PASSWORD})

    assert state.error == ""
    assert page_after(result) == "/staff/onboarding"
    grant = grant_in(result)
    assert len(grant) >= 40
    # No session id anywhere in the tab's state: the grant is all the page gets.
    assert state.staff_sid == "" and grant not in everything_in_state(state._get_root_state())
    assert staff_auth.principal_for(session=session, session_id=grant) is None
    plain = sign_in_tab(session, state, result, SessionKind.STAFF)
    assert len(plain) >= 40 and plain != grant
    assert staff_auth.principal_for(session=session, session_id=state.staff_sid).username == "desk"
    # The grant worked once; only a hash of the cookie value is stored.
    assert session_grants.redeem(session=session, grant=grant, kind=SessionKind.STAFF) is None
    assert session.exec(select(AuthSession).where(AuthSession.token_hash == plain)).first() is None


async def test_every_failure_gets_the_same_message(session, desk, frozen_clock):
    state = await _state(StaffLoginState)
    answers = []
    for form in ({"username": "desk", "password": "wrong password entirely"},
                 {"username": "nobody", "password": ADMIN_PASSWORD},
                 {"username": "", "password": ""},
                 {"username": "desk", "password": "x" * 1_000_000},
                 {"username": "desk\x00", "password": ADMIN_PASSWORD},
                 {}):
        await state.sign_in(form)
        answers.append(state.error)
        assert state.staff_sid == ""
    assert answers == [SIGN_IN_FAILED] * len(answers)

    # Locked after ten failures: the right password gets the same answer.
    for _ in range(staff_auth.MAX_FAILURES):
        await state.sign_in({"username": "desk", "password": "still the wrong one"})
    await state.sign_in({"username": "desk", "password": ADMIN_PASSWORD})
    assert state.error == SIGN_IN_FAILED and state.staff_sid == ""
    frozen_clock(clock.now() + staff_auth.LOCKOUT + timedelta(seconds=1))
    answer = await state.sign_in({"username": "desk", "password": ADMIN_PASSWORD})
    assert state.error == "" and grant_in(answer) != ""


async def test_failed_sign_in_is_audited(session, admin):
    state = await _state(StaffLoginState)
    await state.sign_in({"username": "admin", "password": "wrong password entirely"})
    actions = [e.action for e in session.exec(select(AuditEvent))]
    assert "staff.sign_in_failed" in actions


async def test_must_change_password_goes_to_the_password_page(session, desk):
    desk.must_change_password = True
    session.add(desk)
    session.commit()
    state = await _state(StaffLoginState)

    result = await state.sign_in({"username": "desk", "password": ADMIN_PASSWORD})

    assert _target(result) == "/staff/password"


async def test_signed_in_user_opening_login_goes_on(session, admin):
    sid = staff_sign_in(session, "admin", ADMIN_PASSWORD)
    assert _target(await (await _state(StaffLoginState, sid)).check_signed_in()) == "/staff/onboarding"
    assert await (await _state(StaffLoginState, "")).check_signed_in() is None


async def test_password_page_needs_a_session(session, admin):
    state = await _state(StaffPasswordState, "")
    assert _target(await state.load()) == "/staff/login"
    result = await state.change_password({"current": ADMIN_PASSWORD, "password": NEW_PASSWORD,
                                          "confirm": NEW_PASSWORD})
    assert _target(result) == "/staff/login"
    session.expire_all()
    assert passwords.verify_password(ADMIN_PASSWORD, session.get(StaffUser, admin.id).password_hash)


async def test_change_password_errors_go_next_to_their_field(session, admin):
    sid = staff_sign_in(session, "admin", ADMIN_PASSWORD)
    state = await _state(StaffPasswordState, sid)
    await state.load()

    await state.change_password({"current": "not it", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert state.current_error and not state.password_error

    await state.change_password({"current": ADMIN_PASSWORD, "password": "password1", "confirm": "password1"})
    assert state.password_error and not state.current_error

    await state.change_password({"current": ADMIN_PASSWORD, "password": NEW_PASSWORD,
                                 "confirm": NEW_PASSWORD + "x"})
    assert state.confirm_error and not state.password_error

    await state.change_password({"current": "", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert state.current_error


async def test_first_admin_changes_password_then_reaches_onboarding(session, admin):
    admin.must_change_password = True
    session.add(admin)
    session.commit()
    other_sid = staff_sign_in(session, "admin", ADMIN_PASSWORD)
    sid = staff_sign_in(session, "admin", ADMIN_PASSWORD)
    state = await _state(StaffPasswordState, sid)
    await state.load()
    assert state.must_change is True

    result = await state.change_password({"current": ADMIN_PASSWORD, "password": NEW_PASSWORD,
                                          "confirm": NEW_PASSWORD})

    assert _target(result) == "/staff/onboarding"
    assert state.must_change is False
    session.expire_all()
    user = session.get(StaffUser, admin.id)
    assert user.must_change_password is False
    assert passwords.verify_password(NEW_PASSWORD, user.password_hash)
    # This session goes on; the other one ended with the old password.
    assert staff_auth.principal_for(session=session, session_id=sid) is not None
    assert staff_auth.principal_for(session=session, session_id=other_sid) is None


async def test_no_password_is_kept_in_state(session, admin):
    state = await _state(StaffLoginState)
    answer = await state.sign_in({"username": "admin", "password": ADMIN_PASSWORD})
    pw_state = await _state(StaffPasswordState, sign_in_tab(session, state, answer, SessionKind.STAFF))
    await pw_state.change_password({"current": ADMIN_PASSWORD, "password": "short", "confirm": "short"})

    everything = repr(state.dict()) + repr(pw_state.dict())
    assert ADMIN_PASSWORD not in everything and "short'" not in everything


async def test_staff_land_on_the_first_page_their_roles_open(session):
    staff_with(session, "nina", {Permission.TASK_PORTAL: Level.WRITE, Permission.AUDIT: Level.READ})
    staff_with(session, "omar", {Permission.OUTBOX: Level.READ})
    for username, landing in (("nina", routes.TASKS), ("omar", routes.OUTBOX)):
        _, login = await state_for(StaffLoginState)
        event = await login.sign_in({"username": username, "password": PASSWORD})
        assert redirect_path(event) == landing, username


# ---- the second step (issue 11 item 13) ----------------------------------------------------------


async def test_an_administrator_sets_up_two_step_verification_before_any_cookie(session, admin, frozen_clock):
    from tests.unit.state_support import everything_in_state
    from tests.unit.two_step import code_for, factor_of

    root = rx.State(_reflex_internal_init=True)
    state = await root.get_state(StaffLoginState)
    await state.sign_in({"username": "admin", "password": ADMIN_PASSWORD})
    assert (state.step, state.staff_sid, state.error) == ("enrol", "", "")
    factor = factor_of(session, staff_user_id=admin.id)
    assert state.setup_key.replace(" ", "") == factor.secret and state.qr_code.startswith("data:image/svg+xml")
    assert factor.challenge_hash not in everything_in_state(root)  # only the plain challenge, backend-only
    await state.submit_enrolment({"code": "000000"})
    assert state.code_error and state.step == "enrol" and state.staff_sid == ""
    await state.submit_enrolment({"code": code_for(factor)})
    assert state.step == "codes" and len(state.recovery_codes) == 10 and state.staff_sid == ""
    assert state.setup_key == "" and state.qr_code == ""
    codes = list(state.recovery_codes)
    result = await state.finish()
    assert page_after(result) == "/staff/onboarding" and grant_in(result)
    assert sign_in_tab(session, state, result, SessionKind.STAFF) and state.staff_sid
    dump = everything_in_state(root)
    assert factor.secret not in dump and not any(code in dump for code in codes)

    # Next sign-in: the code step; a recovery code works once.
    other = await _state(StaffLoginState)
    await other.sign_in({"username": "admin", "password": ADMIN_PASSWORD})
    assert other.step == "code" and other.staff_sid == ""
    await other.submit_code({"code": code_for(factor)})  # the enrolment's code again: a replay
    assert other.code_error == second_factor.CODE_FAILED and other.staff_sid == ""
    other.toggle_recovery()
    result = await other.submit_code({"code": codes[0]})
    assert page_after(result) == "/staff/onboarding" and other.step == ""
    assert sign_in_tab(session, other, result, SessionKind.STAFF) and other.staff_sid


async def test_an_expired_second_step_goes_back_to_the_password(session, admin, frozen_clock):
    state = await _state(StaffLoginState)
    await state.sign_in({"username": "admin", "password": ADMIN_PASSWORD})
    frozen_clock(clock.now() + second_factor.CHALLENGE_LIFETIME + timedelta(seconds=1))
    await state.submit_enrolment({"code": "123456"})
    assert (state.step, state.error, state.staff_sid) == ("", second_factor.CHALLENGE_ENDED, "")
