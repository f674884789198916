"""Staff users managed from the app (no command line after the first administrator).

Create with a generated temporary password (shown once, must be changed at first sign-in),
deactivate (ends their sessions) and reactivate, reset the password, unlock. The rule that
an active staff user keeps Write on Roles Setup lives in services/roles.py and is checked
here too. Every action is audited; passwords never are.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, func, or_, select

from portal_app.models import Role, StaffUser, StaffUserRole, ident
from portal_app.services import audit, clock, passwords, roles, second_factor, sessions, settings, staff_auth
from portal_app.services.errors import DomainError, FormInvalid, InvalidInput, NotFound
from portal_app.services.validation import clean_text

PAGE_SIZE = 25


@dataclass(frozen=True)
class StaffRow:
    id: int
    username: str
    full_name: str
    roles: str
    active: bool
    last_sign_in: str
    locked: bool
    must_change_password: bool
    two_step: bool = False  # an authenticator app is set up


@dataclass(frozen=True)
class StaffPage:
    rows: list[StaffRow]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class TemporaryPassword:
    """Returned once, to be shown once; never stored or logged in plain."""

    staff_user_id: int
    username: str
    password: str


def temporary_password(personal: tuple[str, ...] = ()) -> str:
    """The shared generator (`passwords.generate`): about 93 bits in four groups without
    look-alike characters, and it passes the password rules for the user's own words."""
    return passwords.generate(personal=personal)


def _locked(user: StaffUser) -> bool:
    return user.locked_until is not None and clock.aware(user.locked_until) > clock.now()


def list_staff(*, session: Session, search: str = "", page: int = 1) -> StaffPage:
    """One page of staff users by username; `search` matches username or name (ignoring case)."""
    needle = (search or "").strip()[:100].lower()
    query = select(StaffUser)
    count = select(func.count()).select_from(StaffUser)
    if needle:
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        match = or_(col(StaffUser.username).like(f"%{escaped}%", escape="\\"),
                    func.lower(StaffUser.full_name).like(f"%{escaped}%", escape="\\"))
        query = query.where(match)
        count = count.where(match)
    total = int(session.exec(count).one())
    zone = settings.zone(session=session)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page if isinstance(page, int) else 1), pages)
    users = session.exec(query.order_by(StaffUser.username).offset((page - 1) * PAGE_SIZE)
                         .limit(PAGE_SIZE)).all()
    names: dict[int, list[str]] = {ident(user): [] for user in users}
    if users:
        for user_id, name in session.exec(
                select(StaffUserRole.staff_user_id, Role.name)
                .join(Role, col(Role.id) == StaffUserRole.role_id)
                .where(col(StaffUserRole.staff_user_id).in_(list(names))).order_by(Role.name)):
            names[user_id].append(name)
    two_step = second_factor.enrolled_staff(session=session, staff_user_ids=list(names))
    rows = [StaffRow(id=ident(user), username=user.username, full_name=user.full_name,
                     roles=", ".join(names[ident(user)]) or "No role", active=user.active,
                     last_sign_in=clock.stamp(user.last_sign_in_at, zone, empty="never"), locked=_locked(user),
                     must_change_password=user.must_change_password, two_step=ident(user) in two_step)
            for user in users]
    return StaffPage(rows=rows, total=total, page=page, pages=pages)


def _user(session: Session, staff_user_id: int) -> StaffUser:
    user = session.get(StaffUser, staff_user_id) if isinstance(staff_user_id, int) else None
    if user is None:
        raise NotFound("That staff user no longer exists.")
    return user


def create_staff_user(*, session: Session, username: str, full_name: str, role_ids: list[int],
                      actor: audit.Actor) -> TemporaryPassword:
    """A new active user holding `role_ids`, with a temporary password to change at first sign-in."""
    errors: dict[str, str] = {}
    try:
        username = staff_auth.normalize_username(username if isinstance(username, str) else "")
        if session.exec(select(StaffUser).where(StaffUser.username == username)).first():
            raise InvalidInput("That username is taken.", field="username")
    except InvalidInput as exc:
        errors["username"] = exc.message
    try:
        full_name = clean_text(full_name if isinstance(full_name, str) else "", field="full_name",
                               label="Full name", required=True)
    except InvalidInput as exc:
        errors["full_name"] = exc.message
    ids = sorted({i for i in role_ids if isinstance(i, int) and not isinstance(i, bool)}) \
        if isinstance(role_ids, (list, tuple, set)) else []
    found = session.exec(select(Role).where(col(Role.id).in_(ids))).all() if ids else []
    if not ids:
        errors["roles"] = "Choose at least one role."
    elif len(found) != len(ids):
        errors["roles"] = "A chosen role no longer exists."
    if errors:
        raise FormInvalid(errors)
    plain = temporary_password((username, full_name))
    user = StaffUser(username=username, full_name=full_name,
                     password_hash=passwords.hash_password(plain), must_change_password=True,
                     created_at=clock.now())
    session.add(user)
    session.flush()
    for role in found:
        session.add(StaffUserRole(staff_user_id=ident(user), role_id=ident(role)))
    audit.record(session=session, actor=actor, action="staff.create",
                 detail=f"username={username}; roles={', '.join(sorted(r.name for r in found))}")
    session.commit()
    return TemporaryPassword(staff_user_id=ident(user), username=username, password=plain)


def set_active(*, session: Session, staff_user_id: int, active: bool, actor: audit.Actor) -> None:
    """Deactivate (their sessions end at once) or reactivate a staff user."""
    user = _user(session, staff_user_id)
    if not isinstance(active, bool):
        raise InvalidInput("Choose active or inactive.", field="active")
    if not active and actor.staff_user_id == user.id:
        raise DomainError("You cannot deactivate your own account; ask another administrator.")
    if user.active == active:
        return
    user.active = active
    session.add(user)
    ended = 0
    if not active:
        ended = sessions.end_all(session=session, staff_user_id=user.id)
        roles.keep_an_administrator(session=session)
    audit.record(session=session, actor=actor,
                 action="staff.reactivate" if active else "staff.deactivate",
                 detail=f"username={user.username}; active: {not active} -> {active}"
                        + ("" if active else f"; sessions ended={ended}"))
    session.commit()


def reset_password(*, session: Session, staff_user_id: int, actor: audit.Actor) -> TemporaryPassword:
    """A new temporary password (must be changed at next sign-in); their sessions end; unlocks.

    Not for one's own account: it would end the session showing the password (use Change password).
    """
    user = _user(session, staff_user_id)
    if actor.staff_user_id == user.id:
        raise DomainError("To change your own password, use Change password at the top of the page.")
    plain = temporary_password((user.username, user.full_name))
    user.password_hash = passwords.hash_password(plain)
    user.must_change_password = True
    user.locked_until = None
    user.failed_logins = 0
    session.add(user)
    ended = sessions.end_all(session=session, staff_user_id=user.id)
    audit.record(session=session, actor=actor, action="staff.password_reset",
                 detail=f"username={user.username}; sessions ended={ended}")
    session.commit()
    return TemporaryPassword(staff_user_id=ident(user), username=user.username, password=plain)


def unlock(*, session: Session, staff_user_id: int, actor: audit.Actor) -> None:
    user = _user(session, staff_user_id)
    was = _locked(user)
    user.locked_until = None
    user.failed_logins = 0
    session.add(user)
    audit.record(session=session, actor=actor, action="staff.unlock",
                 detail=f"username={user.username}; locked: {was} -> False")
    session.commit()
