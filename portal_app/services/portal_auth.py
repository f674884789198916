"""Patient sign-in, the signed-in portal principal, password change, sign-out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from portal_app.models import (
    AccountStatus,
    AuthSession,
    Patient,
    PortalAccount,
    PortalConnection,
    PracticeSettings,
    SecondFactor,
    SessionKind,
    ident,
)
from portal_app.services import (
    areas,
    audit,
    clock,
    passwords,
    second_factor,
    sessions,
    settings,
    temporary_passwords,
    tokens,
    validation,
)
from portal_app.services.errors import InvalidInput, PortalUnavailable, SignInFailed
from portal_app.services.passwords import LOCKOUT as LOCKOUT
from portal_app.services.passwords import MAX_FAILURES as MAX_FAILURES

# One message for every failure (nothing tells whether an account exists), saying what a person
# can do: the lockout's wait, the temporary password's life and tries, and the practice's phone
# are the real numbers. (A token-made temporary password that used up its tries never works again.)
SIGN_IN_FAILED = ("That user ID and password do not match an account that can sign in. If you have tried "
                  "several times, wait {wait} or use Forgot password. A temporary password from the "
                  "practice works for {temporary}; one that is a token you read to the practice stops "
                  "working after {tries} wrong tries. Then use Forgot password or call the practice{at_phone}.")


def _count(number: int, unit: str) -> str:
    return f"{number} {unit}" if number == 1 else f"{number} {unit}s"


def sign_in_failed_message(*, temporary_days: int, phone: str = "") -> str:
    """The one sign-in failure message, with the lockout wait, a temporary password's life and
    tries, and the practice's phone."""
    return SIGN_IN_FAILED.format(wait=_count(int(LOCKOUT.total_seconds() // 60), "minute"),
                                 temporary=_count(temporary_days, "day"),
                                 tries=temporary_passwords.TOKEN_PASSWORD_TRIES,
                                 at_phone=f" at {phone}" if phone else "")


@dataclass(frozen=True)
class ChartView:
    """A chart the signed-in account may open (only what the portal home shows)."""

    patient_id: int
    name: str
    dob: str
    access_type: str
    email: str
    mobile_phone: str
    home_phone: str
    address: str
    # The areas this connection grants (see services.areas), and the representative's relationship.
    areas: tuple[str, ...] = ()
    relationship: str = ""

    def allows(self, area: str) -> bool:
        return area in self.areas


@dataclass(frozen=True)
class PortalPrincipal:
    account_id: int
    user_id: str
    must_change_password: bool
    charts: tuple[ChartView, ...]

    def chart(self, patient_id: int | None) -> ChartView:
        """The chart with this id if the account may open it, else the first one."""
        return next((c for c in self.charts if c.patient_id == patient_id), self.charts[0])


def _lookup_key(user_id: str) -> str:
    """Best-effort normalization for lookup; a malformed ID simply matches nothing."""
    from portal_app.services.validation import normalize_user_id

    try:
        return normalize_user_id(user_id)
    except InvalidInput:
        return (user_id or "").strip().lower()[:254]


def _live_charts(session: Session, account_id: int) -> list[tuple[PortalConnection, Patient]]:
    return list(session.exec(
        select(PortalConnection, Patient).join(Patient, col(PortalConnection.patient_id) == Patient.id)
        .where(PortalConnection.account_id == account_id, col(PortalConnection.revoked_at).is_(None),
               col(Patient.portal_enabled).is_(True))
        .order_by(col(PortalConnection.id))))


def sign_in(*, session: Session, user_id: str, password: str, ip: str = "") -> str:
    """Check credentials; returns a new session id. One answer for every kind of failure."""
    config = settings.get(session=session)
    if not config.portal_active:
        raise PortalUnavailable()
    key = _lookup_key(user_id)
    account = session.exec(select(PortalAccount).where(PortalAccount.user_id == key)).first() if key else None
    ok = passwords.verify_password(password or "", account.password_hash if account else None)
    now = clock.now()
    reason = ""
    if account is None:
        reason = "unknown user ID"
    elif account.locked_until is not None and clock.aware(account.locked_until) > now:
        reason = "locked"
    elif temporary_passwords.spent(account):
        reason = "temporary password void after too many wrong tries"
    elif not ok:
        reason = "wrong password"
    elif account.status != AccountStatus.ACTIVE:
        reason = f"account {account.status.value}"
    elif account.must_change_password and account.temp_password_expires_at is not None and \
            clock.aware(account.temp_password_expires_at) <= now:
        reason = "temporary password expired"
    elif not _live_charts(session, ident(account)):
        reason = "no chart with portal access"
    if reason or account is None:  # (no account always has a reason: "unknown user ID")
        if account is not None and reason == "wrong password":
            passwords.count_failure(account, now)
            reason += temporary_passwords.count_wrong_try(account)
            session.add(account)
        matched = f"portal account #{account.id}" if account is not None else ""
        audit.record(session=session, actor=audit.Actor.sign_in_attempt(matched, ip), action="portal.sign_in_failed",
                     account_id=account.id if account else None, detail=reason)
        session.commit()
        raise SignInFailed(sign_in_failed_message(temporary_days=config.connect_token_days,
                                                  phone=config.practice_phone))
    # A second factor, when had or required, comes before the session (wrong codes count too).
    second_factor.gate(session=session, portal_account_id=ident(account),
                       required=second_factor.required_for_accounts(session=session))
    return _open_session(session, account, ip)


def sign_in_second_step(*, session: Session, challenge: str, code: str, recovery: bool = False,
                        ip: str = "") -> str:
    """After `SecondStepNeeded`: check the authenticator (or recovery) code; returns the session id."""
    owner = second_factor.pass_challenge(session=session, challenge=challenge, code=code, recovery=recovery, ip=ip)
    return _open_session(session, _account(session, owner), ip)


def enrol_and_sign_in(*, session: Session, challenge: str, code: str, ip: str = "") -> tuple[str, list[str]]:
    """After `SecondStepNeeded(enrol=True)`: the app's first code finishes enrolment and sign-in."""
    owner, codes = second_factor.confirm_enrolment(session=session, challenge=challenge, code=code, ip=ip)
    return _open_session(session, _account(session, owner), ip), codes


def _account(session: Session, owner: second_factor.Owner) -> PortalAccount:
    account = session.get(PortalAccount, owner.portal_account_id) if owner.portal_account_id else None
    if account is None or account.status != AccountStatus.ACTIVE:
        raise SignInFailed(sign_in_failed_message(temporary_days=settings.get(session=session).connect_token_days))
    return account


def _open_session(session: Session, account: PortalAccount, ip: str) -> str:
    now = clock.now()
    account.failed_logins = 0
    account.locked_until = None
    account.last_sign_in_at = now
    session.add(account)
    plain = sessions.start(session=session, kind=SessionKind.PORTAL, portal_account_id=ident(account), ip=ip)
    audit.record(session=session, actor=audit.Actor.portal(ident(account), ip), action="portal.sign_in",
                 account_id=ident(account))
    session.commit()
    return plain


# A chart as the portal shows it: the connection's grants and the chart's contact fields, for every
# live connection of an account to an enabled chart, oldest first. Built once: every patient
# event reads it (with the principal).
_CHART_VIEWS = (
    sa.select(*(col(column) for column in (
        PortalConnection.access_type, PortalConnection.permissions, PortalConnection.relationship,
        Patient.id, Patient.first_name, Patient.last_name, Patient.dob, Patient.email, Patient.mobile_phone,
        Patient.home_phone, Patient.address_line1, Patient.city, Patient.region, Patient.postal_code)))
    .join(Patient, col(PortalConnection.patient_id) == Patient.id)
    .where(col(PortalConnection.account_id) == bindparam("account_id"), col(PortalConnection.revoked_at).is_(None),
           col(Patient.portal_enabled).is_(True))
    .order_by(col(PortalConnection.id))
)


def _chart_views(session: Session, account_id: int) -> list[ChartView]:
    return [_chart(row) for row in session.execute(_CHART_VIEWS, {"account_id": account_id})]


def _chart(row: Any) -> ChartView:
    address = ", ".join(part for part in (row.address_line1, row.city,
                                          f"{row.region} {row.postal_code}".strip()) if part)
    return ChartView(patient_id=row.id, name=f"{row.first_name} {row.last_name}",
                     dob=row.dob.strftime("%m/%d/%Y"), access_type=row.access_type.value,
                     email=row.email, mobile_phone=validation.phone_label(row.mobile_phone),
                     home_phone=validation.phone_label(row.home_phone), address=address,
                     areas=areas.parse(row.permissions), relationship=row.relationship)


def chart_for(*, session: Session, account_id: int, patient_id: int) -> ChartView | None:
    """One chart as this account sees it (a live connection to an enabled chart), or None."""
    return next((chart for chart in _chart_views(session, account_id) if chart.patient_id == patient_id), None)


# The session, its account, whether it has an authenticator, and the practice's switches, in one
# read (as for staff, services/staff_auth.py): only the digest changes per event.
_PRINCIPAL_READ = (
    sa.select(*(col(column) for column in (
        *sessions.LIVE_COLUMNS,
        PortalAccount.id, PortalAccount.user_id, PortalAccount.status, PortalAccount.must_change_password)),
              col(SecondFactor.id).is_not(None),
              col(PracticeSettings.portal_active), col(PracticeSettings.require_second_factor))
    .join(PortalAccount, col(PortalAccount.id) == AuthSession.portal_account_id)
    .outerjoin(SecondFactor, (col(SecondFactor.portal_account_id) == PortalAccount.id)
               & col(SecondFactor.confirmed_at).is_not(None))
    .outerjoin(PracticeSettings, col(PracticeSettings.id) == 1)
    .where(col(AuthSession.token_hash) == bindparam("digest"))
)


def principal_for(*, session: Session, session_id: str | None) -> PortalPrincipal | None:
    """The signed-in account for a cookie value, or None (also when the portal is off).

    Runs on every patient event: one joined read for the session, account and settings, one
    for the charts (the session rules of `sessions.live` and `second_factor`).
    """
    digest = sessions.digest_of(session_id)
    found = session.execute(_PRINCIPAL_READ, {"digest": digest}).first() if digest else None
    if found is None or not sessions.live(session=session, kind=SessionKind.PORTAL, read=found):
        return None
    (account_id, user_id, status, must_change, enrolled, portal_active,
     practice_requires) = found[len(sessions.LIVE_COLUMNS):]
    if status != AccountStatus.ACTIVE:
        return None
    if portal_active is None:  # a new database: the settings row is made on first read
        row = settings.get(session=session)
        portal_active, practice_requires = row.portal_active, row.require_second_factor
    if not portal_active:
        return None
    if practice_requires and not enrolled:
        return None  # the practice now requires a second factor: sign in again and set it up
    charts = tuple(_chart_views(session, account_id))
    if not charts:
        return None
    return PortalPrincipal(account_id=account_id, user_id=user_id, must_change_password=must_change,
                           charts=charts)


def change_password(*, session: Session, account_id: int, current: str, new: str, confirm: str,
                    session_id: str | None) -> None:
    """Change the password; other sessions end and outstanding links die.

    A password that must change (a temporary one from the practice) was typed to open this
    very session a moment ago, so it is not asked for again: `current` is then ignored.
    """
    account = session.get(PortalAccount, account_id)
    forced = account is not None and account.must_change_password
    if account is None or (not forced and not passwords.verify_password(current or "", account.password_hash)):
        if account is not None:
            audit.record(session=session, actor=audit.Actor.portal(account_id), account_id=account.id,
                         action="account.password_change_refused", detail="wrong current password")
            session.commit()
        raise InvalidInput("Your current password is not right.", field="current")
    if forced and passwords.verify_password(new, account.password_hash):
        raise InvalidInput("Choose a password different from the temporary one.", field="password")
    if not forced and new == current:
        raise InvalidInput("Choose a password different from the current one.", field="password")
    names: list[str] = [account.user_id, settings.get(session=session).practice_name]
    for _connection, patient in _live_charts(session, ident(account)):
        names += [patient.first_name, patient.last_name]
    passwords.check_password(new, confirm=confirm, personal=tuple(names))
    account.password_hash = passwords.hash_password(new)
    account.password_changed_at = clock.now()
    account.must_change_password = False
    account.temp_password_expires_at = None
    temporary_passwords.clear(account)
    session.add(account)
    tokens.revoke_live(session=session, account_id=account.id)
    ended = sessions.end_all(session=session, portal_account_id=account.id, keep_plain=session_id)
    audit.record(session=session, actor=audit.Actor.portal(ident(account)), action="account.password_change",
                 account_id=account.id, detail=f"other sessions ended={ended}")
    session.commit()


# Why a tab that was signed in no longer is (said on the sign-in page it lands on). Only the
# holder of that session's cookie reads it: it is about their own account.
ENDED_DISABLED = ("The practice has turned off your portal account, so you were signed out. Call the "
                  "practice at {phone} if you think this is a mistake.")
ENDED_NO_ACCESS = ("Portal access for your chart has been turned off by the practice, so you were signed "
                   "out. Call the practice at {phone} if you think this is a mistake.")
ENDED_IDLE = "You were signed out for your safety after a time without activity. Sign in again to continue."
ENDED_OTHER = ("You were signed out: your password was changed, you signed out on another device, or the "
               "practice ended your session. Sign in again to continue.")


def ended_reason(*, session: Session, session_id: str | None = None, token_hash: str = "") -> str:
    """Why this (no longer live) portal session ended, in a sentence; "" when it is unknown.

    The session is named by its cookie value or, for a tab that kept only that, its digest.
    """
    if session_id and len(session_id) <= 100:
        token_hash = tokens.digest(session_id)
    if not token_hash or len(token_hash) > 100:
        return ""
    row = session.exec(select(AuthSession).where(AuthSession.token_hash == token_hash)).first()
    if row is None or row.kind != SessionKind.PORTAL or row.portal_account_id is None:
        return ""
    config = settings.get(session=session)
    if not config.portal_active:
        return ""  # the sign-in page says the portal is unavailable
    account = session.get(PortalAccount, row.portal_account_id)
    if account is None or account.status == AccountStatus.DISABLED:
        return ENDED_DISABLED.format(phone=config.practice_phone)
    if not _live_charts(session, ident(account)):
        return ENDED_NO_ACCESS.format(phone=config.practice_phone)
    if row.revoked_at is not None and (
            clock.aware(row.revoked_at) - clock.aware(row.last_seen_at) > sessions.IDLE
            or clock.aware(row.revoked_at) >= clock.aware(row.expires_at)):
        return ENDED_IDLE
    return ENDED_OTHER


def sign_out(*, session: Session, session_id: str | None) -> None:
    row = sessions.end(session=session, plain=session_id)
    if row is not None and row.portal_account_id is not None:
        audit.record(session=session, actor=audit.Actor.portal(row.portal_account_id),
                     action="portal.sign_out", account_id=row.portal_account_id)
    session.commit()
