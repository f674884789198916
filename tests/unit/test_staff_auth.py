"""Staff users: creation, sign-in with one error message, lockout, password change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from portal_app.models import AuditEvent, AuthSession, PracticeSettings, SessionKind
from portal_app.services import permissions, settings, staff_auth
from portal_app.services.errors import Forbidden, InvalidInput
from portal_app.services.permissions import Level, Permission
from tests.unit.conftest import ADMIN_PASSWORD, START
from tests.unit.two_step import staff_sign_in

NEW_PASSWORD = "velvet harbor compass 58 ridge"


def _fail(session, username, password):
    with pytest.raises(staff_auth.SignInFailed) as info:
        staff_sign_in(session, username, password, ip="10.0.0.9")
    return str(info.value)


def _actions(session):
    return [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.id))]


def test_create_staff_hashes_the_password_and_assigns_the_role(session, admin):
    assert admin.username == "admin"
    assert admin.password_hash.startswith("$argon2id$") and ADMIN_PASSWORD not in admin.password_hash
    levels = permissions.levels_for(session=session, staff_user_id=admin.id)
    assert levels[Permission.PORTAL_ADMIN.value] == Level.WRITE
    assert "staff.create" in _actions(session)


def test_username_is_unique_case_insensitively(session, admin):
    with pytest.raises(InvalidInput, match="taken") as info:
        staff_auth.create_staff(session=session, username=" ADMIN ", full_name="Other",
                                password=NEW_PASSWORD)
    assert info.value.field == "username"


def test_weak_staff_password_is_refused_unless_told_otherwise(session):
    with pytest.raises(InvalidInput, match="too weak"):
        staff_auth.create_staff(session=session, username="bob", full_name="Bob Builder",
                                password="password123")
    user = staff_auth.create_staff(session=session, username="bob", full_name="Bob Builder",
                                   password="password123", check_strength=False)
    assert user.id


def test_sign_in_opens_a_session_and_audits(session, admin, frozen_clock):
    plain = staff_sign_in(session, "Admin", ADMIN_PASSWORD, ip="10.0.0.1")
    principal = staff_auth.principal_for(session=session, session_id=plain)
    assert principal.id == admin.id and principal.username == "admin"
    assert principal.last_sign_in == "first sign-in"
    assert principal.can(Permission.SETTINGS, Level.WRITE)
    assert "staff.sign_in" in _actions(session)
    assert session.exec(select(AuthSession)).one().ip == "10.0.0.1"


def test_same_error_for_unknown_wrong_locked_and_inactive(session, admin, frozen_clock):
    unknown = _fail(session, "nobody", ADMIN_PASSWORD)
    wrong = _fail(session, "admin", "not the password at all")
    other = staff_auth.create_staff(session=session, username="gone", full_name="Gone Away",
                                    password=NEW_PASSWORD)
    other.active = False
    session.add(other)
    session.commit()
    inactive = _fail(session, "gone", NEW_PASSWORD)
    for _ in range(10):
        _fail(session, "admin", "still not the password")
    locked = _fail(session, "admin", ADMIN_PASSWORD)
    assert unknown == wrong == inactive == locked == staff_auth.SIGN_IN_FAILED
    details = [e.detail for e in session.exec(select(AuditEvent).where(
        AuditEvent.action == "staff.sign_in_failed"))]
    assert {"unknown user", "wrong password", "inactive", "locked"} <= set(details)


def test_ten_failures_lock_for_fifteen_minutes(session, admin, frozen_clock):
    for _ in range(9):
        _fail(session, "admin", "wrong password guess")
    # Nine failures: the right password still works.
    staff_sign_in(session, "admin", ADMIN_PASSWORD)
    for _ in range(10):
        _fail(session, "admin", "wrong password guess")
    session.refresh(admin)
    assert admin.locked_until == START + timedelta(minutes=15)
    frozen_clock(START + timedelta(minutes=14, seconds=59))
    _fail(session, "admin", ADMIN_PASSWORD)
    frozen_clock(START + timedelta(minutes=15, seconds=1))
    assert staff_sign_in(session, "admin", ADMIN_PASSWORD)


def test_failures_are_counted_for_the_header(session, admin, frozen_clock):
    staff_sign_in(session, "admin", ADMIN_PASSWORD)
    _fail(session, "admin", "wrong password guess")
    _fail(session, "admin", "wrong password guess")
    frozen_clock(START + timedelta(hours=1))
    plain = staff_sign_in(session, "admin", ADMIN_PASSWORD)
    principal = staff_auth.principal_for(session=session, session_id=plain)
    assert principal.failed_since_last_sign_in == 2
    assert principal.last_sign_in == "11/23/2026 3:00PM (UTC)"


def test_principal_is_gone_after_sign_out_idle_or_deactivation(session, admin, frozen_clock):
    plain = staff_sign_in(session, "admin", ADMIN_PASSWORD)
    staff_auth.sign_out(session=session, session_id=plain)
    assert staff_auth.principal_for(session=session, session_id=plain) is None
    assert "staff.sign_out" in _actions(session)

    plain = staff_sign_in(session, "admin", ADMIN_PASSWORD)
    frozen_clock(START + timedelta(minutes=16))
    assert staff_auth.principal_for(session=session, session_id=plain) is None

    plain = staff_sign_in(session, "admin", ADMIN_PASSWORD)
    admin.active = False
    session.add(admin)
    session.commit()
    assert staff_auth.principal_for(session=session, session_id=plain) is None


def test_the_principal_read_applies_every_rule_on_each_call(session, admin, frozen_clock):
    """The principal is one joined read (session, user, authenticator, settings) plus the
    levels: each rule it carries still holds on the very next call."""
    desk = staff_auth.create_staff(session=session, username="desk", full_name="Front Desk",
                                   password=NEW_PASSWORD, role=permissions.FRONT_DESK)
    plain = staff_sign_in(session, "desk", NEW_PASSWORD)
    principal = staff_auth.principal_for(session=session, session_id=plain)
    assert principal.id == desk.id and principal.full_name == "Front Desk" and principal.portal_active
    assert principal.levels == permissions.levels_for(session=session, staff_user_id=desk.id)
    assert principal.session_time == "0:00:00"

    # A patient session's cookie is not a staff session, nor is a made-up or oversized one.
    portal_kind = session.exec(select(AuthSession).where(AuthSession.staff_user_id == desk.id)).one()
    portal_kind.kind = SessionKind.PORTAL
    session.add(portal_kind)
    session.commit()
    assert staff_auth.principal_for(session=session, session_id=plain) is None
    portal_kind.kind = SessionKind.STAFF
    session.add(portal_kind)
    session.commit()
    for value in (None, "", plain + "x", "x" * 101):
        assert staff_auth.principal_for(session=session, session_id=value) is None

    # A role given applies now, and the session clock runs from the sign-in.
    permissions.assign_role(session=session, staff_user_id=desk.id, role_name=permissions.CLINICAL)
    session.commit()
    frozen_clock(START + timedelta(minutes=1, seconds=5))
    principal = staff_auth.principal_for(session=session, session_id=plain)
    assert principal.levels == permissions.levels_for(session=session, staff_user_id=desk.id)
    assert principal.session_time == "0:01:05"

    # The practice turning the portal off shows on the next call; a new database's missing
    # settings row is made on the read.
    row = settings.get(session=session)
    row.portal_active = False
    session.add(row)
    session.commit()
    assert staff_auth.principal_for(session=session, session_id=plain).portal_active is False
    session.delete(settings.get(session=session))
    session.commit()
    assert staff_auth.principal_for(session=session, session_id=plain).portal_active is True
    assert session.get(PracticeSettings, 1) is not None

    # The practice requiring a second factor of everyone ends a session without one...
    row = settings.get(session=session)
    row.require_second_factor = True
    session.add(row)
    session.commit()
    assert staff_auth.principal_for(session=session, session_id=plain) is None
    row.require_second_factor = False
    session.add(row)
    session.commit()

    # ...and an idle one is ended for good, in the database.
    frozen_clock(START + timedelta(minutes=17))
    assert staff_auth.principal_for(session=session, session_id=plain) is None
    frozen_clock(START + timedelta(minutes=2))
    assert staff_auth.principal_for(session=session, session_id=plain) is None
    session.expire_all()
    assert session.exec(select(AuthSession).where(AuthSession.staff_user_id == desk.id)).one().revoked_at


def test_require_checks_session_forced_change_and_level(session, admin):
    with pytest.raises(Forbidden, match="session has ended"):
        staff_auth.require(None, Permission.PORTAL_ADMIN, Level.WRITE)
    base = dict(id=1, username="x", full_name="X")
    forced = staff_auth.StaffPrincipal(**base, must_change_password=True,
                                       levels={Permission.PORTAL_ADMIN.value: 3})
    with pytest.raises(Forbidden, match="new password"):
        staff_auth.require(forced, Permission.PORTAL_ADMIN, Level.WRITE)
    reader = staff_auth.StaffPrincipal(**base, must_change_password=False,
                                       levels={Permission.PORTAL_ADMIN.value: 1})
    assert staff_auth.require(reader, Permission.PORTAL_ADMIN, Level.READ) is reader
    with pytest.raises(Forbidden, match="permission"):
        staff_auth.require(reader, Permission.PORTAL_ADMIN, Level.WRITE)
    with pytest.raises(Forbidden):
        staff_auth.require(reader, Permission.SETTINGS, Level.READ)


def test_front_desk_cannot_change_settings(session):
    user = staff_auth.create_staff(session=session, username="desk", full_name="Front Desk",
                                   password=NEW_PASSWORD, role=permissions.FRONT_DESK)
    levels = permissions.levels_for(session=session, staff_user_id=user.id)
    assert Permission.SETTINGS.value not in levels
    assert levels[Permission.PORTAL_ADMIN.value] == Level.WRITE


def test_change_password_ends_other_sessions_and_clears_forced_change(session, frozen_clock):
    user = staff_auth.create_staff(session=session, username="carol", full_name="Carol Chen",
                                   password=NEW_PASSWORD, must_change_password=True)
    mine = staff_sign_in(session, "carol", NEW_PASSWORD)
    other = staff_sign_in(session, "carol", NEW_PASSWORD)
    assert staff_auth.principal_for(session=session, session_id=mine).must_change_password
    staff_auth.change_password(session=session, staff_user_id=user.id, current=NEW_PASSWORD,
                               new="amber falcon drifts 19 north", confirm="amber falcon drifts 19 north",
                               session_id=mine)
    assert staff_auth.principal_for(session=session, session_id=other) is None
    principal = staff_auth.principal_for(session=session, session_id=mine)
    assert principal is not None and not principal.must_change_password
    _fail(session, "carol", NEW_PASSWORD)
    assert staff_sign_in(session, "carol", "amber falcon drifts 19 north")


def test_change_password_errors_go_to_their_fields(session, admin):
    with pytest.raises(InvalidInput) as info:
        staff_auth.change_password(session=session, staff_user_id=admin.id, current="wrong one",
                                   new=NEW_PASSWORD, confirm=NEW_PASSWORD, session_id=None)
    assert info.value.field == "current"
    with pytest.raises(InvalidInput) as info:
        staff_auth.change_password(session=session, staff_user_id=admin.id, current=ADMIN_PASSWORD,
                                   new=ADMIN_PASSWORD, confirm=ADMIN_PASSWORD, session_id=None)
    assert info.value.field == "password"
    with pytest.raises(InvalidInput) as info:
        staff_auth.change_password(session=session, staff_user_id=admin.id, current=ADMIN_PASSWORD,
                                   new=NEW_PASSWORD, confirm="something else", session_id=None)
    assert info.value.field == "confirm"
    with pytest.raises(InvalidInput) as info:
        staff_auth.change_password(session=session, staff_user_id=admin.id, current=ADMIN_PASSWORD,
                                   new="Ada Admin 2026!", confirm="Ada Admin 2026!", session_id=None)
    assert info.value.field == "password"
    session.refresh(admin)
    assert staff_sign_in(session, "admin", ADMIN_PASSWORD)


def test_tries_during_a_lock_do_not_count_toward_the_next(session, admin, frozen_clock):
    for _ in range(10):
        _fail(session, "admin", "wrong password guess")
    for _ in range(12):  # an attacker keeps trying while locked
        _fail(session, "admin", "wrong password guess")
    frozen_clock(START + timedelta(minutes=15, seconds=1))
    _fail(session, "admin", "one honest typo")  # lock over: a single typo must not re-lock
    assert staff_sign_in(session, "admin", ADMIN_PASSWORD)
