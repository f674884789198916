"""Staff users managed in the app (services/staff_users.py)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from portal_app.models import AuditEvent, Role, StaffUser
from portal_app.services import audit, passwords, permissions, staff_auth, staff_users
from portal_app.services.errors import DomainError, FormInvalid
from portal_app.services.permissions import Level, Permission
from portal_app.services.staff_auth import SignInFailed
from tests.unit.conftest import ADMIN_PASSWORD
from tests.unit.state_support import staff_with
from tests.unit.two_step import staff_sign_in

NEW_PASSWORD = "velvet tractor orbit canyon 58"


def _role_ids(session, *names: str) -> list[int]:
    return [session.exec(select(Role).where(Role.name == name)).one().id for name in names]


def _create(session, admin, username="nora", roles=(permissions.FRONT_DESK,)):
    return staff_users.create_staff_user(session=session, username=username, full_name="Nora North",
                                         role_ids=_role_ids(session, *roles),
                                         actor=audit.Actor.staff(admin.id))


def _details(session, action: str) -> list[str]:
    return [row.detail for row in session.exec(select(AuditEvent).where(AuditEvent.action == action))]


def test_create_gives_a_temporary_password_that_must_be_changed(session, admin):
    created = _create(session, admin, username=" Nora ", roles=(permissions.FRONT_DESK, permissions.CLINICAL))
    assert created.username == "nora"
    assert re.fullmatch(r"[A-Z2-9]{4}(-[A-Z2-9]{4}){4}", created.password)  # five groups, one case, no look-alikes
    passwords.check_password(created.password, personal=("nora", "Nora North"))  # the rules hold
    user = session.get(StaffUser, created.staff_user_id)
    assert user.must_change_password and user.active
    assert user.password_hash != created.password and created.password not in user.password_hash
    sid = staff_sign_in(session, "nora", created.password)
    principal = staff_auth.principal_for(session=session, session_id=sid)
    assert principal.must_change_password
    with pytest.raises(DomainError):
        staff_auth.require(principal, Permission.PORTAL_ADMIN, Level.READ)
    # Highest level over both roles.
    assert principal.levels[Permission.PORTAL_ADMIN.value] == Level.WRITE
    staff_auth.change_password(session=session, staff_user_id=user.id, current=created.password,
                               new=NEW_PASSWORD, confirm=NEW_PASSWORD, session_id=sid)
    assert not staff_auth.principal_for(session=session, session_id=sid).must_change_password
    detail = _details(session, "staff.create")[-1]
    assert detail == "username=nora; roles=Clinical, Front Desk"
    assert created.password not in " ".join(_details(session, "staff.create"))


def test_two_temporary_passwords_differ():
    assert staff_users.temporary_password() != staff_users.temporary_password()


def test_a_temporary_password_never_holds_the_users_own_words(monkeypatch):
    # The generator draws again when a draw contains a personal word (rare by chance, forced here).
    characters = iter("NORANORANORANORANORA" + "K37MPR9ETX3WHN4C2UYF")
    monkeypatch.setattr(passwords.secrets, "choice", lambda alphabet: next(characters))
    assert staff_users.temporary_password(("nora", "Nora North")) == "K37M-PR9E-TX3W-HN4C-2UYF"


def test_create_reports_every_bad_field_at_once(session, admin):
    with pytest.raises(FormInvalid) as caught:
        staff_users.create_staff_user(session=session, username="admin", full_name="  ",
                                      role_ids=[], actor=audit.Actor.staff(admin.id))
    assert set(caught.value.errors) == {"username", "full_name", "roles"}
    with pytest.raises(FormInvalid) as caught:
        staff_users.create_staff_user(session=session, username="x", full_name="X",
                                      role_ids=[424242], actor=audit.Actor.staff(admin.id))
    assert set(caught.value.errors) == {"roles"}
    assert session.exec(select(StaffUser).where(StaffUser.username == "x")).first() is None


def test_deactivate_ends_sessions_and_refuses_sign_in(session, admin):
    created = _create(session, admin)
    sid = staff_sign_in(session, "nora", created.password)
    staff_users.set_active(session=session, staff_user_id=created.staff_user_id, active=False,
                           actor=audit.Actor.staff(admin.id))
    assert staff_auth.principal_for(session=session, session_id=sid) is None
    with pytest.raises(SignInFailed):
        staff_sign_in(session, "nora", created.password)
    assert _details(session, "staff.deactivate") == ["username=nora; active: True -> False; sessions ended=1"]
    staff_users.set_active(session=session, staff_user_id=created.staff_user_id, active=True,
                           actor=audit.Actor.staff(admin.id))
    staff_sign_in(session, "nora", created.password)
    assert _details(session, "staff.reactivate") == ["username=nora; active: False -> True"]


def test_you_cannot_deactivate_yourself(session, admin):
    with pytest.raises(DomainError, match="your own account"):
        staff_users.set_active(session=session, staff_user_id=admin.id, active=False,
                               actor=audit.Actor.staff(admin.id))


def test_you_cannot_reset_your_own_password_here(session, admin):
    sid = staff_sign_in(session, "admin", ADMIN_PASSWORD)
    with pytest.raises(DomainError, match="Change password"):
        staff_users.reset_password(session=session, staff_user_id=admin.id, actor=audit.Actor.staff(admin.id))
    assert staff_auth.principal_for(session=session, session_id=sid) is not None  # still signed in
    assert _details(session, "staff.password_reset") == []


def test_reset_gives_a_new_temporary_password_and_ends_sessions(session, admin):
    created = _create(session, admin)
    sid = staff_sign_in(session, "nora", created.password)
    reset = staff_users.reset_password(session=session, staff_user_id=created.staff_user_id,
                                       actor=audit.Actor.staff(admin.id))
    assert reset.password != created.password
    assert staff_auth.principal_for(session=session, session_id=sid) is None
    with pytest.raises(SignInFailed):
        staff_sign_in(session, "nora", created.password)
    sid = staff_sign_in(session, "nora", reset.password)
    assert staff_auth.principal_for(session=session, session_id=sid).must_change_password
    assert reset.password not in " ".join(_details(session, "staff.password_reset"))


def test_unlock_clears_a_lockout(session, admin, frozen_clock):
    created = _create(session, admin)
    for _ in range(staff_auth.MAX_FAILURES):
        with pytest.raises(SignInFailed):
            staff_sign_in(session, "nora", "wrong password here")
    page = staff_users.list_staff(session=session, search="nora")
    assert page.rows[0].locked
    with pytest.raises(SignInFailed):
        staff_sign_in(session, "nora", created.password)
    staff_users.unlock(session=session, staff_user_id=created.staff_user_id,
                       actor=audit.Actor.staff(admin.id))
    assert not staff_users.list_staff(session=session, search="nora").rows[0].locked
    staff_sign_in(session, "nora", created.password)
    assert _details(session, "staff.unlock") == ["username=nora; locked: True -> False"]


def test_list_shows_roles_status_and_pages(session, admin):
    _create(session, admin, roles=(permissions.FRONT_DESK, permissions.CLINICAL))
    staff_with(session, "zed", {})
    page = staff_users.list_staff(session=session)
    assert [row.username for row in page.rows] == ["admin", "nora", "zed"]
    nora = page.rows[1]
    assert nora.roles == "Clinical, Front Desk" and nora.active and nora.last_sign_in == "never"
    assert nora.must_change_password
    assert staff_users.list_staff(session=session, search="NORTH").rows[0].username == "nora"
    for index in range(staff_users.PAGE_SIZE):
        session.add(StaffUser(username=f"bulk{index:02d}", full_name="Bulk", password_hash="x"))
    session.commit()
    first = staff_users.list_staff(session=session)
    assert first.pages == 2 and len(first.rows) == staff_users.PAGE_SIZE
    second = staff_users.list_staff(session=session, page=2)
    assert len(second.rows) == first.total - staff_users.PAGE_SIZE
    assert staff_users.list_staff(session=session, page=99).page == 2


def test_session_time_in_the_principal(session, admin, frozen_clock):
    from tests.unit.conftest import START

    sid = staff_sign_in(session, "admin", "correct horse battery staple 42")
    frozen_clock(START + timedelta(minutes=14, seconds=5))
    assert staff_auth.principal_for(session=session, session_id=sid).session_time == "0:14:05"


def test_password_hash_uses_the_shared_hasher(session, admin):
    created = _create(session, admin)
    user = session.get(StaffUser, created.staff_user_id)
    assert passwords.verify_password(created.password, user.password_hash)


@pytest.mark.parametrize("username", ["nora north", "<b>nora</b>", "nora\tn", "-nora", "x" * 101])
def test_usernames_with_spaces_markup_or_too_long_are_refused_beside_the_field(session, admin, username):
    with pytest.raises(FormInvalid) as caught:
        _create(session, admin, username=username)
    assert "username" in caught.value.errors
    assert session.exec(select(StaffUser).where(StaffUser.full_name == "Nora North")).first() is None


def test_usernames_like_emails_and_initials_are_fine(session, admin):
    assert _create(session, admin, username="N.North-2@clinic").username == "n.north-2@clinic"
    assert "no spaces" in staff_auth.USERNAME_RULE
