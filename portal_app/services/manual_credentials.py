"""Staff setting a patient's portal username and password by hand (chart > Patient Portal)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from portal_app.models import PortalAccount
from portal_app.services import accounts, audit, passwords, sessions, settings, tokens
from portal_app.services.errors import InvalidInput
from portal_app.services.validation import normalize_user_id

USERNAME_TAKEN = "That username is already used by another account."


@dataclass(frozen=True)
class UsernameCheck:
    ok: bool
    message: str
    normalized: str = ""


def check_username(*, session: Session, username: str, patient_id: int) -> UsernameCheck:
    """Live answer for the username field: valid and unused (or already this patient's)."""
    if not (username or "").strip():
        return UsernameCheck(False, "Enter an email address or a mobile phone number.")
    try:
        normalized = normalize_user_id(username)
    except InvalidInput as exc:
        return UsernameCheck(False, exc.message)
    owner = accounts.account_by_user_id(session=session, user_id=normalized)
    mine = accounts.self_account(session=session, patient_id=patient_id)
    if owner is not None and (mine is None or owner.id != mine.id):
        return UsernameCheck(False, USERNAME_TAKEN, normalized)
    return UsernameCheck(True, f"{normalized} is valid and available.", normalized)


def set_manually(*, session: Session, patient_id: int, username: str, password: str | None,
                 force_change: bool, actor: audit.Actor) -> PortalAccount:
    """Create or update the chart's `self` account with a username and, optionally, a password.

    With no password, a new account waits (pending) until the patient sets one from a
    reset link or the sign-in screen.
    """
    patient = accounts.get_patient(session=session, patient_id=patient_id)
    if not patient.portal_enabled:
        raise InvalidInput("Enable portal access for this patient first.")
    check = check_username(session=session, username=username, patient_id=patient_id)
    if not check.ok:
        raise InvalidInput(check.message, field="username")
    if password is not None:
        passwords.check_password(password, personal=(
            patient.first_name, patient.last_name, patient.email_lower, check.normalized,
            settings.get(session=session).practice_name))
    account = accounts.self_account(session=session, patient_id=patient_id)
    changes: list[str] = []
    if account is None:
        account = accounts.create_account(session=session, user_id=check.normalized, field="username",
                                          taken_message=USERNAME_TAKEN)
        # Connecting as self also voids an outstanding invitation link of the chart.
        accounts.connect_chart(session=session, account=account, patient=patient,
                               requested_by="staff (manual setup)", staff_id=actor.staff_user_id)
        changes.append(f"account created with username {check.normalized}")
        action = "account.create_manual"
    else:
        if account.user_id != check.normalized:
            changes.append(f"username {account.user_id} -> {check.normalized}")
            accounts.change_user_id(session=session, account=account, user_id=check.normalized,
                                    field="username", taken_message=USERNAME_TAKEN)
        action = "account.update_manual"
    if password is not None:
        # The expiry of an earlier temporary password is left as it was.
        accounts.set_password(session=session, account=account, password=password, must_change=force_change,
                              temp_password_expires_at=account.temp_password_expires_at)
        tokens.revoke_live(session=session, account_id=account.id)
        # A new password ends every session that signed in with the old one.
        sessions.end_all(session=session, portal_account_id=account.id)
        changes.append("password set by staff" + (" (change required at sign-in)" if force_change else ""))
    session.add(account)
    session.flush()
    audit.record(session=session, actor=actor, action=action, patient_id=patient.id,
                 account_id=account.id, detail="; ".join(changes) or "no change")
    session.commit()
    session.refresh(account)
    return account
