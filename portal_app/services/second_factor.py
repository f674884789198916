"""Two-step verification: an authenticator app (TOTP, RFC 6238) and ten single-use recovery codes.

Sign-in with a second factor is two calls. The password step (`staff_auth.sign_in`,
`portal_auth.sign_in`) ends, for an account that has or needs a second factor, by raising
`SecondStepNeeded` with a short-lived challenge instead of opening a session; the second call
passes that challenge with a code (`pass_challenge`), or, for someone who must enrol first,
finishes enrolment with it (`begin_enrolment` / `confirm_enrolment`). Only then is the session
opened. Wrong codes count towards the same lockout as wrong passwords.

The TOTP secret never leaves the server except once, as the enrolment QR code and key.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import segno
from sqlmodel import Session, col, select

from portal_app.models import PortalAccount, RecoveryCode, SecondFactor, StaffUser, ident
from portal_app.services import audit, clock, passwords, permissions, settings, tokens
from portal_app.services.errors import InvalidInput, NotFound, SignInFailed
from portal_app.services.permissions import Level, Permission

STEP_SECONDS = 30
CHALLENGE_LIFETIME = timedelta(minutes=5)
RECOVERY_COUNT = 10
RECOVERY_GROUPS = 3
RECOVERY_GROUP_LENGTH = 4
ISSUER = "Patient Portal"
# Staff who can change roles or staff users (Setup > Roles, Setup > Staff users) must have one.
STAFF_REQUIREMENT = (Permission.ROLES, Level.UPDATE)

CODE_FAILED = ("That code is not right, or it was already used. Enter the 6-digit code your "
               "authenticator app shows now, or a recovery code.")
CHALLENGE_ENDED = "Your sign-in took too long or was locked. Sign in again with your password."
ENROL_CODE_FAILED = ("That code does not match. Check that the app shows the account you just added "
                     "and enter the 6-digit code it shows now.")


class SecondStepNeeded(Exception):
    """The password was right; the session opens only after the second step.

    `challenge` is the plain value the tab keeps (server-side only) for the second call; `enrol`
    is True when the person has no authenticator yet and must set one up now.
    """

    def __init__(self, challenge: str, *, enrol: bool) -> None:
        super().__init__("second step needed")
        self.challenge = challenge
        self.enrol = enrol


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment screen shows once: the QR code (an SVG data URI) and the same key as text."""

    qr_data_uri: str
    key: str  # the base32 secret in groups of four, for "Can't scan? Enter this key"


@dataclass(frozen=True)
class Owner:
    """Whose second step passed: exactly one of the two ids is set."""

    staff_user_id: int | None = None
    portal_account_id: int | None = None


# ---- who needs it --------------------------------------------------------------------------------


def required_for_staff(*, session: Session, staff_user_id: int, levels: dict[str, int] | None = None) -> bool:
    """True when this staff user may not sign in without a second factor (`levels`: theirs, if known)."""
    if settings.get(session=session).require_second_factor:
        return True
    if levels is None:
        levels = permissions.levels_for(session=session, staff_user_id=staff_user_id)
    return required_by(levels, practice_requires=False)


def required_by(levels: dict[str, int], *, practice_requires: bool) -> bool:
    """The rule itself: the practice requires a second factor of everyone, or these permissions
    are ones that need it."""
    permission, level = STAFF_REQUIREMENT
    return practice_requires or levels.get(permission.value, 0) >= level


def required_for_accounts(*, session: Session) -> bool:
    """True when the practice requires a second factor of every patient account too."""
    return settings.get(session=session).require_second_factor


def _factor(session: Session, *, staff_user_id: int | None = None,
            portal_account_id: int | None = None) -> SecondFactor | None:
    if staff_user_id is not None:
        return session.exec(select(SecondFactor).where(SecondFactor.staff_user_id == staff_user_id)).first()
    return session.exec(select(SecondFactor).where(SecondFactor.portal_account_id == portal_account_id)).first()


def enrolled(*, session: Session, staff_user_id: int | None = None, portal_account_id: int | None = None) -> bool:
    factor = _factor(session, staff_user_id=staff_user_id, portal_account_id=portal_account_id)
    return factor is not None and factor.confirmed_at is not None


# ---- the password step's end ----------------------------------------------------------------------


def gate(*, session: Session, required: bool, staff_user_id: int | None = None,
         portal_account_id: int | None = None) -> None:
    """Called by the password step after a right password, before the session opens.

    Returns when no second step applies; otherwise stores a fresh challenge and raises
    `SecondStepNeeded` (the caller commits nothing else: the sign-in is not done yet).
    """
    factor = _factor(session, staff_user_id=staff_user_id, portal_account_id=portal_account_id)
    confirmed = factor is not None and factor.confirmed_at is not None
    if not confirmed and not required:
        return
    if factor is None:
        factor = SecondFactor(staff_user_id=staff_user_id, portal_account_id=portal_account_id,
                              secret=pyotp.random_base32(), created_at=clock.now())
    plain = tokens.new_session_token()
    factor.challenge_hash = tokens.digest(plain)
    factor.challenge_expires_at = clock.now() + CHALLENGE_LIFETIME
    session.add(factor)
    session.commit()
    raise SecondStepNeeded(plain, enrol=not confirmed)


def _by_challenge(session: Session, challenge: str) -> SecondFactor | None:
    if not challenge or len(challenge) > 100:
        return None
    factor = session.exec(select(SecondFactor).where(SecondFactor.challenge_hash == tokens.digest(challenge))).first()
    expires = clock.aware(factor.challenge_expires_at) if factor is not None else None
    if factor is None or expires is None or expires <= clock.now():
        return None
    owner = _owner_row(session, factor)
    if owner is None or (owner.locked_until is not None and clock.aware(owner.locked_until) > clock.now()):
        return None
    return factor


def _owner_row(session: Session, factor: SecondFactor) -> StaffUser | PortalAccount | None:
    if factor.staff_user_id is not None:
        return session.get(StaffUser, factor.staff_user_id)
    return session.get(PortalAccount, factor.portal_account_id) if factor.portal_account_id else None


def _actor(factor: SecondFactor, ip: str = "") -> audit.Actor:
    if factor.staff_user_id is not None:
        return audit.Actor.staff(factor.staff_user_id, ip)
    return audit.Actor.portal(ident(factor.portal_account_id), ip)


def _prefix(factor: SecondFactor) -> str:
    return "staff" if factor.staff_user_id is not None else "portal"


# ---- codes ---------------------------------------------------------------------------------------


def current_step(at: datetime | None = None) -> int:
    return int((at or clock.now()).timestamp()) // STEP_SECONDS


def _totp_step(factor: SecondFactor, code: str) -> int | None:
    """The time step (now, or one either side for clock drift) whose code this is; None if none."""
    digits = re.sub(r"[\s-]", "", code or "")
    if not re.fullmatch(r"\d{6}", digits):
        return None
    totp = pyotp.TOTP(factor.secret)
    now = current_step()
    for step in (now - 1, now, now + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), digits):
            return step
    return None


def _normalize_recovery(code: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", (code or "").upper())[:64]


def _use_recovery(session: Session, factor: SecondFactor, code: str) -> bool:
    plain = _normalize_recovery(code)
    if len(plain) != RECOVERY_GROUPS * RECOVERY_GROUP_LENGTH:
        return False
    row = session.exec(select(RecoveryCode).where(RecoveryCode.factor_id == factor.id,
                                                  RecoveryCode.code_hash == tokens.digest(plain),
                                                  col(RecoveryCode.used_at).is_(None))).first()
    if row is None:
        return False
    row.used_at = clock.now()
    session.add(row)
    return True


def _accept(session: Session, factor: SecondFactor, code: str, *, recovery: bool) -> str:
    """"totp" or "recovery" when the code is good (a TOTP step is then spent), "" when not."""
    if recovery:
        return "recovery" if _use_recovery(session, factor, code) else ""
    step = _totp_step(factor, code)
    if step is None or step <= factor.last_step:  # a code already used in its window is a replay
        return ""
    factor.last_step = step
    return "totp"


def _fail(session: Session, factor: SecondFactor, ip: str, detail: str) -> None:
    """A wrong second-step code: counted like a wrong password (the MAX_FAILURES-th locks)."""
    owner = _owner_row(session, factor)
    if owner is not None:
        passwords.count_failure(owner, clock.now())
        if isinstance(owner, StaffUser):
            owner.failed_since_last_sign_in += 1
        if owner.locked_until is not None and clock.aware(owner.locked_until) > clock.now():
            factor.challenge_hash = ""  # locked: this sign-in is over
        session.add(owner)
    session.add(factor)
    audit.record(session=session, actor=_actor(factor, ip), action=f"{_prefix(factor)}.second_step_failed",
                 account_id=factor.portal_account_id, detail=detail)
    session.commit()


def _pass(session: Session, factor: SecondFactor) -> Owner:
    factor.challenge_hash = ""
    factor.challenge_expires_at = None
    session.add(factor)
    return Owner(staff_user_id=factor.staff_user_id, portal_account_id=factor.portal_account_id)


def pass_challenge(*, session: Session, challenge: str, code: str, recovery: bool = False, ip: str = "") -> Owner:
    """The second step of a sign-in with a confirmed factor. Nothing is committed on success:
    the caller opens the session and commits both together.

    Raises:
        SignInFailed: the code is wrong or replayed (counted), or the challenge is over.
    """
    factor = _by_challenge(session, challenge)
    if factor is None or factor.confirmed_at is None:
        raise SignInFailed(CHALLENGE_ENDED)
    used = _accept(session, factor, code, recovery=recovery)
    if not used:
        _fail(session, factor, ip, "recovery code" if recovery else "authenticator code")
        if _by_challenge(session, challenge) is None:
            raise SignInFailed(CHALLENGE_ENDED)
        raise SignInFailed(CODE_FAILED, field="code")
    if used == "recovery":
        left = session.exec(select(RecoveryCode).where(RecoveryCode.factor_id == factor.id,
                                                       col(RecoveryCode.used_at).is_(None))).all()
        audit.record(session=session, actor=_actor(factor, ip), action=f"{_prefix(factor)}.recovery_code_used",
                     account_id=factor.portal_account_id, detail=f"left={len(left)}")
    return _pass(session, factor)


# ---- enrolment -----------------------------------------------------------------------------------


def _enrolment(factor: SecondFactor, label: str) -> Enrolment:
    uri = pyotp.TOTP(factor.secret).provisioning_uri(name=label, issuer_name=ISSUER)
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=2)
    data = base64.b64encode(svg.encode()).decode()
    key = " ".join(factor.secret[i:i + 4] for i in range(0, len(factor.secret), 4))
    return Enrolment(qr_data_uri=f"data:image/svg+xml;base64,{data}", key=key)


def _label(session: Session, factor: SecondFactor) -> str:
    owner = _owner_row(session, factor)
    if isinstance(owner, StaffUser):
        return f"{owner.username} (staff)"
    return owner.user_id if owner is not None else "account"


def begin_enrolment(*, session: Session, challenge: str) -> Enrolment:
    """A new secret for someone mid sign-in who must set up an authenticator; the QR and key."""
    factor = _by_challenge(session, challenge)
    if factor is None or factor.confirmed_at is not None:
        raise SignInFailed(CHALLENGE_ENDED)
    factor.secret = pyotp.random_base32()
    factor.last_step = 0
    session.add(factor)
    session.commit()
    return _enrolment(factor, _label(session, factor))


def _new_recovery_codes(session: Session, factor: SecondFactor) -> list[str]:
    for old in session.exec(select(RecoveryCode).where(RecoveryCode.factor_id == factor.id)):
        session.delete(old)
    codes = []
    for _ in range(RECOVERY_COUNT):
        plain = "".join(secrets.choice(passwords.GENERATED_ALPHABET)
                        for _ in range(RECOVERY_GROUPS * RECOVERY_GROUP_LENGTH))
        session.add(RecoveryCode(factor_id=ident(factor), code_hash=tokens.digest(plain)))
        codes.append("-".join(plain[i:i + RECOVERY_GROUP_LENGTH]
                              for i in range(0, len(plain), RECOVERY_GROUP_LENGTH)))
    return codes


def _confirm(session: Session, factor: SecondFactor, code: str, ip: str) -> list[str]:
    step = _totp_step(factor, code)
    if step is None:
        raise InvalidInput(ENROL_CODE_FAILED, field="code")
    factor.last_step = step
    factor.confirmed_at = clock.now()
    codes = _new_recovery_codes(session, factor)
    session.add(factor)
    audit.record(session=session, actor=_actor(factor, ip), action=f"{_prefix(factor)}.second_factor_enrolled",
                 account_id=factor.portal_account_id)
    return codes


def confirm_enrolment(*, session: Session, challenge: str, code: str, ip: str = "") -> tuple[Owner, list[str]]:
    """Finish enrolment mid sign-in with the app's first code: (whose sign-in passed, the ten
    recovery codes to show once). A wrong code counts towards the lockout. The caller opens the
    session and commits.
    """
    factor = _by_challenge(session, challenge)
    if factor is None or factor.confirmed_at is not None:
        raise SignInFailed(CHALLENGE_ENDED)
    try:
        codes = _confirm(session, factor, code, ip)
    except InvalidInput:
        _fail(session, factor, ip, "enrolment code")
        if _by_challenge(session, challenge) is None:
            raise SignInFailed(CHALLENGE_ENDED) from None
        raise
    return _pass(session, factor), codes


# ---- a signed-in patient's own choice ------------------------------------------------------------


def account_status(*, session: Session, account_id: int) -> tuple[bool, bool]:
    """(this account has an authenticator set up, the practice requires one of every account)."""
    return (enrolled(session=session, portal_account_id=account_id), required_for_accounts(session=session))


def start_for_account(*, session: Session, account_id: int) -> Enrolment:
    """A signed-in patient starts (or restarts) setting up an authenticator app."""
    factor = _factor(session, portal_account_id=account_id)
    if factor is not None and factor.confirmed_at is not None:
        raise InvalidInput("Two-step verification is already on. Turn it off first to use another app.")
    if factor is None:
        factor = SecondFactor(portal_account_id=account_id, secret="", created_at=clock.now())
    factor.secret = pyotp.random_base32()
    factor.last_step = 0
    session.add(factor)
    session.commit()
    return _enrolment(factor, _label(session, factor))


def confirm_for_account(*, session: Session, account_id: int, code: str, ip: str = "") -> list[str]:
    """A signed-in patient confirms the app with its first code; returns the recovery codes."""
    factor = _factor(session, portal_account_id=account_id)
    if factor is None or factor.confirmed_at is not None:
        raise InvalidInput("Start again: choose Set up two-step verification.", field="code")
    codes = _confirm(session, factor, code, ip)
    session.commit()
    return codes


def turn_off_for_account(*, session: Session, account_id: int, code: str, ip: str = "") -> None:
    """A patient turns their second factor off, proving it with a current code (or a recovery code).

    Refused while the practice requires it of everyone.
    """
    if required_for_accounts(session=session):
        raise InvalidInput("The practice requires two-step verification for every account, so it stays on.")
    factor = _factor(session, portal_account_id=account_id)
    if factor is None or factor.confirmed_at is None:
        return
    if not (_accept(session, factor, code, recovery=False) or _accept(session, factor, code, recovery=True)):
        _fail(session, factor, ip, "turn off")
        raise InvalidInput(CODE_FAILED, field="code")
    _remove(session, factor)
    audit.record(session=session, actor=audit.Actor.portal(account_id, ip), action="portal.second_factor_removed",
                 account_id=account_id)
    session.commit()


def _remove(session: Session, factor: SecondFactor) -> None:
    for code in session.exec(select(RecoveryCode).where(RecoveryCode.factor_id == factor.id)):
        session.delete(code)
    session.flush()
    session.delete(factor)


# ---- staff: a colleague's reset, the practice's switch ---------------------------------------------


def enrolled_staff(*, session: Session, staff_user_ids: list[int]) -> set[int]:
    """Which of these staff users have an authenticator set up (for the staff users list)."""
    if not staff_user_ids:
        return set()
    return {ident(user_id) for user_id in session.exec(
        select(SecondFactor.staff_user_id).where(col(SecondFactor.staff_user_id).in_(staff_user_ids),
                                                 col(SecondFactor.confirmed_at).is_not(None)))}


def reset_staff(*, session: Session, staff_user_id: int, actor: audit.Actor) -> bool:
    """Remove a colleague's authenticator and recovery codes (they enrol again at next sign-in).

    Their sessions end. Returns False when they had none (nothing changed, nothing audited).
    """
    from portal_app.services import sessions

    user = session.get(StaffUser, staff_user_id)
    if user is None:
        raise NotFound("That staff user no longer exists.")
    if actor.staff_user_id == staff_user_id:
        raise InvalidInput("You cannot reset your own two-step verification; ask a colleague who manages "
                           "staff users.")
    factor = _factor(session, staff_user_id=staff_user_id)
    if factor is None:
        return False
    _remove(session, factor)
    ended = sessions.end_all(session=session, staff_user_id=staff_user_id)
    audit.record(session=session, actor=actor, action="staff.second_factor_reset",
                 detail=f"username={user.username}; enrolled={factor.confirmed_at is not None} -> False; "
                        f"sessions ended={ended}")
    session.commit()
    return True


def set_required(*, session: Session, actor: audit.Actor, required: bool) -> bool:
    """The practice's switch: a second factor for every staff user and patient account (audited)."""
    row = settings.get(session=session)
    if row.require_second_factor == bool(required):
        return row.require_second_factor
    audit.record(session=session, actor=actor, action="settings.update",
                 detail=f"require_second_factor: {row.require_second_factor!r} -> {bool(required)!r}")
    row.require_second_factor = bool(required)
    row.updated_at = clock.now()
    session.add(row)
    session.commit()
    return row.require_second_factor
