"""Staff users: creation, sign-in with lockout, the signed-in principal."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from portal_app.models import AuthSession, PracticeSettings, SecondFactor, SessionKind, StaffUser, ident
from portal_app.services import audit, clock, passwords, permissions, second_factor, sessions, settings
from portal_app.services.errors import Forbidden, InvalidInput, SignInFailed
from portal_app.services.passwords import LOCKOUT as LOCKOUT
from portal_app.services.passwords import MAX_FAILURES as MAX_FAILURES
from portal_app.services.permissions import Level, Permission
from portal_app.services.validation import clean_text

SIGN_IN_FAILED = "That username and password do not match an active account, or it is locked."


@dataclass(frozen=True)
class StaffPrincipal:
    """Who is signed in, as state may hold it (no hash, no session id)."""

    id: int
    username: str
    full_name: str
    must_change_password: bool
    levels: dict[str, int] = field(default_factory=dict)
    last_sign_in: str = ""
    failed_since_last_sign_in: int = 0
    session_time: str = ""  # how long this sign-in has lasted, h:mm:ss
    portal_active: bool = True  # the practice's portal switch (staff pages show a banner when off)

    def level(self, permission: Permission) -> Level:
        return Level(self.levels.get(permission.value, 0))

    def can(self, permission: Permission, level: Level = Level.READ) -> bool:
        return self.level(permission) >= level


def require(principal: StaffPrincipal | None, permission: Permission, level: Level) -> StaffPrincipal:
    if principal is None:
        raise Forbidden("Your session has ended. Please sign in again.")
    if principal.must_change_password:
        raise Forbidden("Choose a new password before doing anything else.")
    if not principal.can(permission, level):
        raise Forbidden("You do not have permission to do that.")
    return principal


USERNAME_RULE = "Letters, digits and . _ - @ only (no spaces), up to 100 characters."
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]*")


def normalize_username(value: str) -> str:
    """A new staff username, lower-cased; refused beside the field unless it follows USERNAME_RULE."""
    value = clean_text(value, field="username", label="Username", max_length=100, required=True).lower()
    if not _USERNAME.fullmatch(value):
        raise InvalidInput(f"That username cannot be used. {USERNAME_RULE}", field="username")
    return value


def create_staff(*, session: Session, username: str, full_name: str, password: str,
                 role: str = permissions.ADMINISTRATOR, must_change_password: bool = False,
                 actor: audit.Actor | None = None, check_strength: bool = True) -> StaffUser:
    username = normalize_username(username)
    full_name = clean_text(full_name, field="full_name", label="Name", required=True)
    if session.exec(select(StaffUser).where(StaffUser.username == username)).first():
        raise InvalidInput("That username is taken.", field="username")
    if check_strength:
        passwords.check_password(password, personal=(username, full_name))
    permissions.ensure_built_in_roles(session=session)
    user = StaffUser(username=username, full_name=full_name,
                     password_hash=passwords.hash_password(password),
                     must_change_password=must_change_password, created_at=clock.now())
    session.add(user)
    session.flush()
    permissions.assign_role(session=session, staff_user_id=ident(user), role_name=role)
    audit.record(session=session, actor=actor or audit.Actor.system(), action="staff.create",
                 detail=f"username={username}; role={role}")
    session.commit()
    session.refresh(user)
    return user


def sign_in(*, session: Session, username: str, password: str, ip: str = "") -> str:
    """Check credentials and open a session; returns the session id for the cookie.

    Raises:
        SecondStepNeeded: the password was right and a second factor is had or required (see
            `services/second_factor.py`): no session yet; finish with `sign_in_second_step`
            or `enrol_and_sign_in`.
        SignInFailed: the same error for an unknown user, a wrong password, an inactive
            or a locked account. The hash check runs in every case.
    """
    name = (username or "").strip().lower()[:100]
    user = session.exec(select(StaffUser).where(StaffUser.username == name)).first() if name else None
    ok = passwords.verify_password(password or "", user.password_hash if user else None)
    now = clock.now()
    locked = user is not None and user.locked_until is not None and clock.aware(user.locked_until) > now
    if user is None or not ok or not user.active or locked:
        if user is not None:
            user.failed_since_last_sign_in += 1
            # Tries during a lock are refused unchecked; they must not start the next lock.
            if not locked:
                passwords.count_failure(user, now)
            session.add(user)
        reason = "unknown user" if user is None else (
            "locked" if locked else ("inactive" if not user.active else "wrong password"))
        matched = f"staff user #{user.id}" if user is not None else ""
        audit.record(session=session, actor=audit.Actor.sign_in_attempt(matched, ip), action="staff.sign_in_failed",
                     detail=reason)
        session.commit()
        raise SignInFailed(SIGN_IN_FAILED)
    # A second factor, when had or needed, comes before the session (and before the failure
    # count is cleared: wrong codes count towards the same lockout).
    second_factor.gate(session=session, staff_user_id=ident(user),
                       required=second_factor.required_for_staff(session=session, staff_user_id=ident(user)))
    return _open_session(session, user, ip)


def sign_in_second_step(*, session: Session, challenge: str, code: str, recovery: bool = False,
                        ip: str = "") -> str:
    """After `SecondStepNeeded`: check the authenticator (or recovery) code; returns the session id.

    Raises:
        SignInFailed: a wrong or replayed code (counted towards the lockout), or a challenge
            that is over (expired, or the account locked): sign in again.
    """
    owner = second_factor.pass_challenge(session=session, challenge=challenge, code=code, recovery=recovery, ip=ip)
    return _open_session(session, _staff_user(session, owner), ip)


def enrol_and_sign_in(*, session: Session, challenge: str, code: str, ip: str = "") -> tuple[str, list[str]]:
    """After `SecondStepNeeded(enrol=True)` and `second_factor.begin_enrolment`: the app's first code
    finishes enrolment and the sign-in; returns (session id, the ten recovery codes to show once)."""
    owner, codes = second_factor.confirm_enrolment(session=session, challenge=challenge, code=code, ip=ip)
    return _open_session(session, _staff_user(session, owner), ip), codes


def _staff_user(session: Session, owner: second_factor.Owner) -> StaffUser:
    user = session.get(StaffUser, owner.staff_user_id) if owner.staff_user_id is not None else None
    if user is None or not user.active:
        raise SignInFailed(SIGN_IN_FAILED)
    return user


def _open_session(session: Session, user: StaffUser, ip: str) -> str:
    now = clock.now()
    user.failed_logins = 0
    user.locked_until = None
    user.previous_sign_in_at = user.last_sign_in_at
    user.last_sign_in_at = now
    user.failures_before_sign_in = user.failed_since_last_sign_in
    user.failed_since_last_sign_in = 0
    session.add(user)
    plain = sessions.start(session=session, kind=SessionKind.STAFF, staff_user_id=user.id, ip=ip)
    audit.record(session=session, actor=audit.Actor.staff(ident(user), ip), action="staff.sign_in")
    session.commit()
    return plain


# What the principal is made of, in one read: the session, its user, whether they have an
# authenticator, and the practice's switches. Built once: only the digest changes per event.
_PRINCIPAL_READ = (
    sa.select(*(col(column) for column in (
        *sessions.LIVE_COLUMNS, AuthSession.created_at,
        StaffUser.id, StaffUser.username, StaffUser.full_name, StaffUser.active, StaffUser.must_change_password,
        StaffUser.previous_sign_in_at, StaffUser.failures_before_sign_in)),
              col(SecondFactor.id).is_not(None),
              col(PracticeSettings.portal_active), col(PracticeSettings.require_second_factor),
              col(PracticeSettings.time_zone))
    .join(StaffUser, col(StaffUser.id) == AuthSession.staff_user_id)
    .outerjoin(SecondFactor, (col(SecondFactor.staff_user_id) == StaffUser.id)
               & col(SecondFactor.confirmed_at).is_not(None))
    .outerjoin(PracticeSettings, col(PracticeSettings.id) == 1)
    .where(col(AuthSession.token_hash) == bindparam("digest"))
)


def principal_for(*, session: Session, session_id: str | None) -> StaffPrincipal | None:
    """The signed-in staff user for a cookie value, with current permissions, or None.

    Runs on every staff event, so it reads the session, the user and the practice settings in
    one joined query and the permissions in a second: the session rules of `sessions.live` and
    `second_factor`, without loading whole rows.
    """
    digest = sessions.digest_of(session_id)
    found = session.execute(_PRINCIPAL_READ, {"digest": digest}).first() if digest else None
    if found is None or not sessions.live(session=session, kind=SessionKind.STAFF, read=found):
        return None
    (created_at, user_id, username, full_name, active, must_change, previous_sign_in, failures_before, enrolled,
     portal_active, practice_requires, zone_name) = found[len(sessions.LIVE_COLUMNS):]
    if not active:
        return None
    if portal_active is None:  # a new database: the settings row is made on first read
        row = settings.get(session=session)
        portal_active, practice_requires, zone_name = row.portal_active, row.require_second_factor, row.time_zone
    levels = permissions.levels_for(session=session, staff_user_id=user_id)
    if second_factor.required_by(levels, practice_requires=practice_requires) and not enrolled:
        return None  # they sign in again, and set up two-step verification then
    last = clock.aware(previous_sign_in)
    return StaffPrincipal(
        id=user_id, username=username, full_name=full_name,
        must_change_password=must_change,
        levels=levels,
        last_sign_in=clock.stamp(last, settings.zone_named(zone_name)) if last else "first sign-in",
        failed_since_last_sign_in=failures_before,
        session_time=_elapsed(clock.now() - clock.aware(created_at)),
        portal_active=portal_active,
    )


def _elapsed(span: timedelta) -> str:
    seconds = max(0, int(span.total_seconds()))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def sign_out(*, session: Session, session_id: str | None) -> None:
    row = sessions.end(session=session, plain=session_id)
    if row is not None and row.staff_user_id is not None:
        audit.record(session=session, actor=audit.Actor.staff(row.staff_user_id), action="staff.sign_out")
    session.commit()


def change_password(*, session: Session, staff_user_id: int, current: str, new: str,
                    confirm: str, session_id: str | None) -> None:
    user = session.get(StaffUser, staff_user_id)
    if user is None or not passwords.verify_password(current, user.password_hash):
        if user is not None:
            audit.record(session=session, actor=audit.Actor.staff(staff_user_id),
                         action="staff.password_change_refused", detail="wrong current password")
            session.commit()
        raise InvalidInput("Your current password is not right.", field="current")
    if new == current:
        raise InvalidInput("Choose a password different from the current one.", field="password")
    passwords.check_password(new, confirm=confirm, personal=(user.username, user.full_name))
    user.password_hash = passwords.hash_password(new)
    user.must_change_password = False
    session.add(user)
    sessions.end_all(session=session, staff_user_id=user.id, keep_plain=session_id)
    audit.record(session=session, actor=audit.Actor.staff(ident(user)), action="staff.password_change")
    session.commit()
