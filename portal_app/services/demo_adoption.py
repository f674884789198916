"""Demo histories for the adoption board: a few charts stuck for each reason, and a few that
made it all the way, on demo charts nobody has touched yet.

Everything goes through the services staff and patients use (send, open, type a key, sign in
with a wrong password...), with the clock set back where time must pass (a letter 25 days
old, an invitation that ran out), then let run again. Messages stay in the outbox whatever
transports are configured (nothing leaves the machine); a "failed" send uses a transport that
refuses, as an unreachable provider would.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, exists, select

from portal_app.models import OneTimeSecret, OutboxMessage, Patient, PortalConnection, SecretPurpose, StaffUser, ident
from portal_app.notify import transports
from portal_app.services import (
    accounts,
    audit,
    clock,
    connect,
    invitations,
    keys,
    manual_credentials,
    onboarding,
    portal_accounts,
    portal_auth,
)
from portal_app.services.errors import DomainError

PASSWORD = "violet harbor engine quietly 7"
WRONG = "not the password at all 1"


class Unreachable:
    """A provider that refuses every message (the demo's failed email and text)."""

    name = "unreachable"

    def send(self, message: OutboxMessage, *, sender: str) -> str:
        raise transports.SendFailed("Demo: the provider could not be reached.")


@contextmanager
def transports_for(failing: str = "") -> Iterator[None]:
    """Email and text stay in the outbox during the demo; `failing` ("email", "sms") refuses."""
    for channel in ("email", "sms"):
        transports.use(channel, Unreachable() if channel == failing else transports.OutboxTransport())
    try:
        yield
    finally:
        for channel in ("email", "sms"):
            transports.use(channel, None)


def _newest_body(session: Session, *, kind: str, to: str = "", patient_id: int | None = None) -> str:
    query = select(OutboxMessage.body_text).where(OutboxMessage.kind == kind)
    if to:
        query = query.where(OutboxMessage.to_address == to)
    if patient_id is not None:
        query = query.where(OutboxMessage.patient_id == patient_id)
    return session.exec(query.order_by(col(OutboxMessage.id).desc())).first() or ""


def link_token(session: Session, *, kind: str, to: str = "", patient_id: int | None = None) -> str:
    """The token of the newest `kind` message's link (what the patient clicks)."""
    found = re.search(r"token=([\w-]+)", _newest_body(session, kind=kind, to=to, patient_id=patient_id))
    return found.group(1) if found else ""


def sent_key(session: Session, *, patient_id: int) -> str:
    """The connection key in the chart's newest key message (what the patient types)."""
    found = re.search(r"\b([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})\b",
                      _newest_body(session, kind="connection_key", patient_id=patient_id))
    return found.group(1) if found else ""


def sent_connect_token(session: Session, *, to: str) -> str:
    found = re.search(r"portal token is (\d+)", _newest_body(session, kind="connect_token", to=to))
    return found.group(1) if found else ""


# ---- the histories: each starts with an enabled chart and the staff member who acts -----------


@dataclass(frozen=True)
class Play:
    """One history: what the chart needs (email, sms or nothing), how old it is, and which
    channel's provider refuses while it is played."""

    name: str
    needs: str
    days_ago: float
    run: Callable[[Session, Patient, audit.Actor], None]
    failing: str = ""


def invite(session: Session, patient: Patient, actor: audit.Actor) -> None:
    invitations.send_invitation_or_reset(session=session, patient_id=ident(patient), actor=actor)


def invite_and_open(session: Session, patient: Patient, actor: audit.Actor) -> None:
    invite(session, patient, actor)
    invitations.inspect_link(session=session, purpose=SecretPurpose.INVITATION,
                             token=link_token(session, kind="invitation", patient_id=ident(patient)))


def key_by(channel: str) -> Callable[[Session, Patient, audit.Actor], None]:
    def send(session: Session, patient: Patient, actor: audit.Actor) -> None:
        address = {"email": patient.email, "sms": patient.mobile_phone}.get(channel, "")
        keys.generate_key(session=session, patient_id=ident(patient), channel=channel, address=address,
                          requested_by="patient (demo)", actor=actor)
    return send


def _start_with_key(session: Session, patient: Patient, actor: audit.Actor) -> tuple[str, str]:
    """Staff email a key; the patient starts "Create Account" and types it. Returns (link, key)."""
    key_by("email")(session, patient, actor)
    keys.start_create_account(session=session, user_id=patient.email)
    token = link_token(session, kind="verification", to=patient.email_lower)
    key = sent_key(session, patient_id=ident(patient))
    keys.check_key(session=session, token=token, key=key)
    return token, key


def key_wrong_details(session: Session, patient: Patient, actor: audit.Actor) -> None:
    token, key = _start_with_key(session, patient, actor)
    for _ in range(keys.MAX_ATTEMPTS):
        try:
            keys.verify_details(session=session, whose="self", token=token, key=key, last_name=f"{patient.last_name}x",
                                dob=f"{patient.dob:%m/%d/%Y}")
        except DomainError:
            pass  # "those details do not match", then "this key can no longer be used"


def key_redeemed(session: Session, patient: Patient, actor: audit.Actor) -> None:
    token, key = _start_with_key(session, patient, actor)
    keys.finish_create_account(session=session, whose="self", token=token, key=key, last_name=patient.last_name,
                               dob=f"{patient.dob:%m/%d/%Y}", password=PASSWORD, confirm=PASSWORD)


def staff_credentials(session: Session, patient: Patient, actor: audit.Actor) -> None:
    """Portal Account Setup: a generated temporary password, shown to staff, never used."""
    portal_accounts.save(session=session, patient_id=ident(patient), connection_id=0, actor=actor,
                         form=portal_accounts.AccountForm(username=patient.email, first_name=patient.first_name,
                                                          last_name=patient.last_name, force_change=True))


def locked_out(session: Session, patient: Patient, actor: audit.Actor) -> None:
    account = manual_credentials.set_manually(session=session, patient_id=ident(patient), username=patient.email,
                                              password=PASSWORD, force_change=False, actor=actor)
    for _ in range(portal_auth.MAX_FAILURES):
        try:
            portal_auth.sign_in(session=session, user_id=account.user_id, password=WRONG)
        except DomainError:
            pass


def invitation_redeemed(session: Session, patient: Patient, actor: audit.Actor) -> None:
    invite_and_open(session, patient, actor)
    invitations.redeem_invitation(session=session, user_id=patient.email, password=PASSWORD, confirm=PASSWORD,
                                  token=link_token(session, kind="invitation", patient_id=ident(patient)))


def token_signed_in(session: Session, patient: Patient, actor: audit.Actor) -> None:
    """Read-back token: the account is made, and the patient signs in with the token."""
    connect.send_connect_token(session=session, patient_id=ident(patient), channel="email",
                               address=patient.email, requested_by="Self", actor=actor)
    token = sent_connect_token(session, to=patient.email_lower)
    connect.connect_with_token(session=session, patient_id=ident(patient), channel="email",
                               address=patient.email, token=token, actor=actor)
    portal_auth.sign_in(session=session, user_id=patient.email, password=token)


PLAYS = (
    Play("email failed", "email", 2, invite, failing="email"),
    Play("text failed", "sms", 3, key_by("sms"), failing="sms"),
    Play("link expired", "email", 6, invite),
    Play("opened, no account", "email", 1, invite_and_open),
    Play("key details did not match", "email", 2, key_wrong_details),
    Play("letter not redeemed", "", 25, key_by("letter")),
    Play("never signed in", "email", 1, staff_credentials),
    Play("temporary password expired", "email", 8, staff_credentials),
    Play("locked out", "email", 0, locked_out),
    Play("invitation, signed in", "email", 12, invitation_redeemed),
    Play("connection key, signed in", "email", 9, key_redeemed),
    Play("read-back token, signed in", "email", 5, token_signed_in),
)


def _untouched(session: Session, limit: int) -> list[Patient]:
    """Demo charts with access off and no history at all, newest first (the first ones carry
    the demo's portal accounts and queue)."""
    connected = exists().where(col(PortalConnection.patient_id) == col(Patient.id))
    sent = exists().where(col(OneTimeSecret.patient_id) == col(Patient.id))
    return list(session.exec(select(Patient).where(col(Patient.portal_enabled).is_(False), ~connected, ~sent)
                             .order_by(col(Patient.id).desc()).limit(limit)))


def _fits(patient: Patient, needs: str) -> bool:
    # The histories are an adult's own (a child's Self account asks staff to confirm it).
    if accounts.age_of(patient) < accounts.ADULT_AGE:
        return False
    if needs == "email":
        return bool(patient.email) and patient.allow_email
    if needs == "sms":
        return bool(patient.mobile_phone) and patient.allow_sms
    return True


def _actor(session: Session) -> audit.Actor:
    staff = session.exec(select(StaffUser).where(col(StaffUser.active).is_(True)).order_by(col(StaffUser.id))).first()
    return audit.Actor.staff(ident(staff)) if staff is not None else audit.Actor.system("demo data")


def generate(*, session: Session, rounds: int = 2) -> int:
    """Play each history on `rounds` fitting untouched charts (fewer when there are too few).

    The clock is set back for each history and let run again at the end. Returns how many
    charts were used.
    """
    now = clock.now()
    actor = _actor(session)
    pool = _untouched(session, limit=len(PLAYS) * rounds * 4)
    used = 0
    try:
        for round_ in range(rounds):
            for play in PLAYS:
                patient = next((p for p in pool if _fits(p, play.needs)), None)
                if patient is None:
                    continue
                pool.remove(patient)
                # A later round is older (a locked-out account stays locked only now).
                clock.freeze(now - timedelta(days=play.days_ago * (1 + round_ / 2)))
                with transports_for(play.failing):
                    onboarding.enable_access(session=session, patient_id=ident(patient), actor=actor)
                    play.run(session, patient, actor)
                used += 1
    finally:
        clock.freeze(None)
    return used
