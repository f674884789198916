"""Portal accounts and their connections to charts: the one place that creates an account,
connects or disconnects a chart, sends a link to choose a password, and keeps the chart's
account state (the onboarding list's "No account / Invited / Active / Disabled") in step.

Every journey (Portal Account Setup, Connect Patient's read-back token, an invitation, a
connection key, connecting another chart, a username set by hand, the demo data) goes through
these functions, so each rule about accounts is written once:

- A user ID is unique. When two requests create the same one at the same moment, the unique
  index decides and the later one gets a message beside its field, never a database error.
- An account is connected to a chart at most once at a time (the same, for connections).
- A chart with a `self` account has no live invitation: the invitation would make a second one.
- Whatever connects or disconnects a chart refreshes the chart's account state itself.
- A child's chart (under 18) is never `self` on the account of an adult who is `self` on their
  own, different chart: a parent who holds the child's key is the child's representative.
- A link to choose a password goes to the account it was made for, at the address it was made
  for: a set-up link while the account has no password, a reset link after.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal_app import routes
from portal_app.models import (
    AccessType,
    AccountStatus,
    ChartAccountState,
    OneTimeSecret,
    OutboxMessage,
    Patient,
    PortalAccount,
    PortalConnection,
    SecretPurpose,
    ident,
)
from portal_app.notify import templates, templates_accounts
from portal_app.services import (
    audit,
    clock,
    consent,
    outbox,
    passwords,
    sessions,
    settings,
    temporary_passwords,
    tokens,
)
from portal_app.services.areas import ALL_AREAS
from portal_app.services.errors import AlreadyTaken, InvalidInput, NotFound, PortalUnavailable

USER_ID_TAKEN = "{user_id} was just taken by another account. Choose another username."
# A second click within this window re-uses the link just sent instead of sending another.
RESEND_WINDOW = timedelta(seconds=60)
CONNECTED_MEANWHILE = ("{user_id} was just connected to this chart by someone else. Select it in the "
                       "list to change it.")
# An account's status and a connection's access as the staff lists name them (the chart's
# connections, the portal users list). Portal Account Setup words them its own way.
STATUS_LABELS = {
    AccountStatus.PENDING: "Pending (no password yet)",
    AccountStatus.ACTIVE: "Active",
    AccountStatus.DISABLED: "Disabled",
}
ACCESS_LABELS = {AccessType.SELF: "Self", AccessType.REPRESENTATIVE: "Authorized representative"}
# A representative's relationship to the patient: stored value -> label.
RELATIONSHIPS: dict[str, str] = {
    "parent": "Parent",
    "guardian": "Guardian",
    "spouse": "Spouse",
    "caregiver": "Caregiver",
    "other": "Other",
}
ADULT_AGE = 18
ADULT_NOT_SELF_OF_CHILD = ("This account is a child's own account (under {adult}): an adult's chart cannot be its "
                           "Self chart. Use the adult's own account, or connect as an authorized representative.")
MINOR_NOT_SELF = ("{name} is under {adult} and this account belongs to an adult with their own chart. "
                  "Connect the chart as an authorized representative (someone you care for) instead.")


# ---- reading ----------------------------------------------------------------------------


def get_patient(*, session: Session, patient_id: int) -> Patient:
    """The chart with this id.

    Raises:
        NotFound: no such chart.
    """
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound("That patient does not exist.")
    return patient


def self_account(*, session: Session, patient_id: int) -> PortalAccount | None:
    """The account connected to this chart as `self`, if any."""
    return session.exec(
        select(PortalAccount).join(PortalConnection, col(PortalConnection.account_id) == PortalAccount.id)
        .where(PortalConnection.patient_id == patient_id,
               PortalConnection.access_type == AccessType.SELF,
               col(PortalConnection.revoked_at).is_(None))
    ).first()


def age_on(born: date, today: date) -> int:
    """Whole years from `born` to `today`."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def age_of(patient: Patient) -> int:
    """The patient's age today (UTC date; a day either way does not change a rule's meaning)."""
    return age_on(patient.dob, clock.now().date())


def _same_person(a: Patient, b: Patient) -> bool:
    """Two charts of one person (a duplicate record): same names and date of birth."""
    def fold(value: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", value or "").split()).casefold()
    return a.dob == b.dob and (fold(a.first_name), fold(a.last_name)) == (fold(b.first_name), fold(b.last_name))


def charts_of_others(*, session: Session, account_id: int, patient: Patient,
                     self_only: bool = True) -> list[Patient]:
    """The charts this account reaches (as `self` only, by default) that belong to someone other
    than `patient`. `self` ones say whose account it is, when it is not this patient's."""
    query = (select(Patient).join(PortalConnection, col(PortalConnection.patient_id) == Patient.id)
             .where(PortalConnection.account_id == account_id, col(PortalConnection.revoked_at).is_(None),
                    Patient.id != patient.id))
    if self_only:
        query = query.where(PortalConnection.access_type == AccessType.SELF)
    return [chart for chart in session.exec(query) if not _same_person(chart, patient)]


def check_self_allowed(*, session: Session, account: PortalAccount, patient: Patient,
                       field: str = "form") -> None:
    """A child's chart may not become `self` on an adult's account whose own chart is another person
    (nor, the other way round, an adult's chart `self` on a child's own account).

    Raises:
        InvalidInput: beside `field`, saying to connect as a representative.
    """
    if account.id is None:
        return
    owners = charts_of_others(session=session, account_id=account.id, patient=patient)
    child = age_of(patient) < ADULT_AGE
    if child and any(age_of(chart) >= ADULT_AGE for chart in owners):
        raise InvalidInput(MINOR_NOT_SELF.format(name=f"{patient.first_name} {patient.last_name}",
                                                 adult=ADULT_AGE), field=field)
    # The same pair the other way round: an adult's chart joining a child's own account as self.
    minors = [chart for chart in owners if age_of(chart) < ADULT_AGE]
    if not child and minors:
        raise InvalidInput(ADULT_NOT_SELF_OF_CHILD.format(adult=ADULT_AGE), field=field)


def account_by_user_id(*, session: Session, user_id: str) -> PortalAccount | None:
    """The account with this (normalized) user ID, if any."""
    return session.exec(select(PortalAccount).where(PortalAccount.user_id == user_id)).first()


def connected_account_ids(*, session: Session, patient_id: int) -> list[int]:
    """The accounts with a live connection to this chart (self and representatives)."""
    return list(session.exec(select(PortalConnection.account_id).where(
        PortalConnection.patient_id == patient_id, col(PortalConnection.revoked_at).is_(None))))


def refresh_account_state(*, session: Session, patient: Patient) -> None:
    """Recompute the denormalized state shown beside the chart's rectangle (and filtered on).

    Connect and disconnect call this themselves; a caller that changes an account's status
    calls `refresh_charts_of`.
    """
    account = self_account(session=session, patient_id=ident(patient))
    if account is not None:
        state = {AccountStatus.DISABLED: ChartAccountState.DISABLED,
                 AccountStatus.PENDING: ChartAccountState.INVITED}.get(account.status, ChartAccountState.ACTIVE)
    elif patient.account_state == ChartAccountState.INVITED:
        state = ChartAccountState.INVITED
    else:
        state = ChartAccountState.NONE
    if state != patient.account_state:
        patient.account_state = state
        session.add(patient)


def refresh_charts_of(*, session: Session, account_id: int) -> None:
    """After an account's status changed: refresh every chart it is the `self` account of."""
    session.flush()
    charts = session.exec(
        select(Patient).join(PortalConnection, col(PortalConnection.patient_id) == Patient.id)
        .where(PortalConnection.account_id == account_id, PortalConnection.access_type == AccessType.SELF,
               col(PortalConnection.revoked_at).is_(None)))
    for patient in list(charts):
        refresh_account_state(session=session, patient=patient)


# ---- creating and connecting ------------------------------------------------------------


def _open_outer_transaction(session: Session) -> None:
    """Make sure a real transaction is open before a SAVEPOINT.

    Python's sqlite3 module (in its default, legacy mode) begins a transaction only before a
    write. A SAVEPOINT issued first would itself be the outermost transaction, and releasing
    it would commit: the account would outlive a later rollback. PostgreSQL needs nothing.
    """
    raw = session.connection().connection.dbapi_connection
    if isinstance(raw, sqlite3.Connection) and not raw.in_transaction:
        raw.execute("BEGIN")


@contextmanager
def _first_to_claim(session: Session, error: AlreadyTaken) -> Iterator[None]:
    """Write what the block adds inside a SAVEPOINT; a unique-index violation raises `error`.

    The services check before they write, but two requests can both pass the check; the
    index decides, and only the savepoint is undone, so the caller's session stays usable.
    """
    _open_outer_transaction(session)
    try:
        with session.begin_nested():
            yield
    except IntegrityError:
        raise error from None


def create_account(*, session: Session, user_id: str, first_name: str = "", last_name: str = "",
                   password: str | None = None, must_change: bool = False,
                   temp_password_expires_at: datetime | None = None, verified: bool = False,
                   signed_in: bool = False, field: str = "user_id", taken_message: str = "") -> PortalAccount:
    """Create an account: pending without a password, active with one.

    Args:
        user_id: already normalized (and checked unused by the caller, for its own message).
        password: the plain password to hash, or None (a link or staff will set one).
        must_change: the password is temporary (read-back token, generated by staff); it is
            then not counted as chosen (`password_changed_at` stays empty).
        verified: the user ID was proven to reach the person (a link or token came back).
        signed_in: the account signs in at once (it set its own password just now).
        field, taken_message: where and what to answer when another request took the user ID
            at the same moment ("{user_id}" in the message is filled in).

    Raises:
        AlreadyTaken: the user ID was created by someone else between check and insert.
    """
    now = clock.now()
    account = PortalAccount(user_id=user_id, first_name=first_name, last_name=last_name,
                            status=AccountStatus.ACTIVE if password is not None else AccountStatus.PENDING,
                            password_hash=passwords.hash_password(password) if password is not None else None,
                            must_change_password=must_change, temp_password_expires_at=temp_password_expires_at,
                            password_changed_at=now if password is not None and not must_change else None,
                            verified_at=now if verified else None,
                            last_sign_in_at=now if signed_in else None, created_at=now)
    message = (taken_message or USER_ID_TAKEN).format(user_id=user_id)
    with _first_to_claim(session, AlreadyTaken(message, field=field)):
        session.add(account)
    return account


def change_user_id(*, session: Session, account: PortalAccount, user_id: str, field: str = "user_id",
                   taken_message: str = "") -> None:
    """Give the account another (normalized, checked) user ID.

    Raises:
        AlreadyTaken: another request took that user ID at the same moment.
    """
    message = (taken_message or USER_ID_TAKEN).format(user_id=user_id)
    with _first_to_claim(session, AlreadyTaken(message, field=field)):
        account.user_id = user_id
        session.add(account)


def connect_chart(*, session: Session, account: PortalAccount, patient: Patient, requested_by: str,
                  access: AccessType = AccessType.SELF, permissions: str = ALL_AREAS,
                  relationship: str = "", staff_id: int | None = None, field: str = "username",
                  taken_message: str = "") -> PortalConnection:
    """Connect the account to the chart and refresh the chart's account state.

    A `self` connection voids the chart's live invitation (the chart has its account now).

    Raises:
        AlreadyTaken: someone connected this account to this chart at the same moment.
        InvalidInput: a child's chart as `self` on an adult's account (`check_self_allowed`).
    """
    if access == AccessType.SELF:
        check_self_allowed(session=session, account=account, patient=patient, field=field)
    connection = PortalConnection(account_id=ident(account), patient_id=ident(patient), access_type=access,
                                  relationship=relationship, permissions=permissions,
                                  requested_by=requested_by, connected_by_staff_id=staff_id,
                                  connected_at=clock.now())
    message = (taken_message or CONNECTED_MEANWHILE).format(user_id=account.user_id)
    with _first_to_claim(session, AlreadyTaken(message, field=field)):
        session.add(connection)
    if access == AccessType.SELF:
        tokens.revoke_live(session=session, purpose=SecretPurpose.INVITATION, patient_id=patient.id)
    refresh_account_state(session=session, patient=patient)
    return connection


def set_password(*, session: Session, account: PortalAccount, password: str, must_change: bool = False,
                 temp_password_expires_at: datetime | None = None) -> None:
    """Give the account a new password: unlocked, active if it was pending, charts refreshed.

    Args:
        must_change: the password is temporary (staff saw it) and is replaced at sign-in.
        temp_password_expires_at: when a temporary password stops working (None: never).
    """
    now = clock.now()
    account.password_hash = passwords.hash_password(password)
    account.password_changed_at = now
    account.must_change_password = must_change
    account.temp_password_expires_at = temp_password_expires_at
    temporary_passwords.clear(account)
    account.failed_logins = 0
    account.locked_until = None
    if account.status == AccountStatus.PENDING:
        account.status = AccountStatus.ACTIVE
    session.add(account)
    refresh_charts_of(session=session, account_id=ident(account))


def live_connections_of(*, session: Session, account_id: int) -> list[PortalConnection]:
    """The account's live connections, to any chart."""
    return list(session.exec(select(PortalConnection).where(
        PortalConnection.account_id == account_id, col(PortalConnection.revoked_at).is_(None))))


def has_enabled_chart(*, session: Session, account_id: int) -> bool:
    """Whether the account still reaches a chart with portal access (else it is signed out)."""
    return session.exec(
        select(PortalConnection.id).join(Patient, col(PortalConnection.patient_id) == Patient.id)
        .where(PortalConnection.account_id == account_id, col(PortalConnection.revoked_at).is_(None),
               col(Patient.portal_enabled).is_(True))).first() is not None


@dataclass(frozen=True)
class Disconnected:
    sessions_ended: int
    links_voided: int


def disconnect(*, session: Session, connection: PortalConnection, patient: Patient) -> Disconnected:
    """End a live connection at once and refresh the chart's account state.

    The account's links for this chart die; when it reaches no other chart with portal
    access, its sessions end too (sign-in and every portal event use live connections only).
    """
    connection.revoked_at = clock.now()
    session.add(connection)
    session.flush()
    ended = 0
    if not has_enabled_chart(session=session, account_id=connection.account_id):
        ended = sessions.end_all(session=session, portal_account_id=connection.account_id)
    voided = tokens.revoke_live(session=session, patient_id=patient.id, account_id=connection.account_id)
    refresh_account_state(session=session, patient=patient)
    return Disconnected(sessions_ended=ended, links_voided=voided)


def end_representatives(*, session: Session, patient: Patient) -> int:
    """End every authorized representative's live connection to this chart (it is recorded as
    deceased); their connections to other charts stay. Returns how many ended."""
    connections = list(session.exec(select(PortalConnection).where(
        PortalConnection.patient_id == patient.id, PortalConnection.access_type == AccessType.REPRESENTATIVE,
        col(PortalConnection.revoked_at).is_(None))))
    for connection in connections:
        disconnect(session=session, connection=connection, patient=patient)
    return len(connections)


# ---- links to choose a password ---------------------------------------------------------


@dataclass(frozen=True)
class LinkSent:
    message: OutboxMessage
    secret: OneTimeSecret

    @property
    def failed(self) -> bool:
        return self.message.status.value == "failed"


def send_password_link(*, session: Session, account: PortalAccount, patient: Patient, to: str,
                       actor: audit.Actor, setup: bool, channel: str = "email", first_name: str = "",
                       destination: str = "", requested_by: str = "") -> LinkSent:
    """Send the account a link to choose a password; older live links of it for the chart die.

    The caller checks the portal is on, and audits with its own action. The chart's consent
    for `channel` is checked here when `to` is the chart's own email or mobile.

    Raises:
        InvalidInput: the chart has not agreed to `channel` (field "email" or "sms").

    Args:
        setup: the set-up message for an account that never had a password (valid as long as
            an invitation), else the reset message (valid as long as a reset).
        to: the address the message goes to; `destination` (default `to`) is what the link
            row records, and what "Resend" sends to again.
        first_name: the greeting's name (default the account's own).
    """
    consent.require(patient, channel, to)  # before anything changes: nothing is sent, no link dies
    config = settings.get(session=session)
    lifetime = (timedelta(hours=config.invitation_hours) if setup
                else timedelta(minutes=config.reset_minutes))
    plain, secret = tokens.issue(session=session, purpose=SecretPurpose.PASSWORD_RESET, lifetime=lifetime,
                                 patient_id=patient.id, account_id=account.id, channel=channel,
                                 destination=destination or to, staff_id=actor.staff_user_id,
                                 requested_by=requested_by)
    link = routes.setup_url(config.portal_base_url, routes.SetupStep.RESET, token=plain)
    valid_for = templates.describe_lifetime(lifetime.total_seconds() / 3600)
    name = first_name or account.first_name
    if channel == "sms":
        rendered = templates.sms(
            f"{config.practice_name}: choose a new patient portal password here: {link} "
            f"(works once, expires in {valid_for}). Not you? Call {config.practice_phone}.")
    elif setup:
        rendered = templates_accounts.representative_setup(
            practice=config.practice_name, phone=config.practice_phone, first_name=name, link=link,
            valid_for=valid_for)
    else:
        rendered = templates.password_reset(practice=config.practice_name, phone=config.practice_phone,
                                            first_name=name or "there", link=link, valid_for=valid_for)
    message = outbox.send(session=session, channel=channel, to=to, rendered=rendered,
                          kind="representative_setup" if setup and channel != "sms" else "reset",
                          patient_id=patient.id, secrets_in_body=(plain,))
    return LinkSent(message=message, secret=secret)


def link_just_sent(*, session: Session, account_id: int) -> bool:
    """Whether a live password link went to this account within the last minute: a second
    click answers with it, since a new link would void the one just sent."""
    return session.exec(select(OneTimeSecret.id).where(
        OneTimeSecret.account_id == account_id, OneTimeSecret.purpose == SecretPurpose.PASSWORD_RESET,
        col(OneTimeSecret.used_at).is_(None), col(OneTimeSecret.revoked_at).is_(None),
        OneTimeSecret.created_at > clock.now() - RESEND_WINDOW)).first() is not None


@dataclass(frozen=True)
class Resent:
    sent: bool  # False: stored as failed in the outbox, to retry
    message: str


def _resend_target(session: Session, row: OneTimeSecret) -> tuple[PortalAccount, Patient]:
    """The link's account and chart, once they pass the checks a fresh link must pass: the same
    as when the first one was sent."""
    account = session.get(PortalAccount, row.account_id) if row.account_id else None
    patient = session.get(Patient, row.patient_id) if row.patient_id else None
    if not settings.get(session=session).portal_active:
        raise PortalUnavailable()
    if patient is None or not patient.portal_enabled:
        raise InvalidInput("Enable portal access for this patient first (chart > Patient Portal).")
    if account is None or account.deleted_at is not None:
        raise NotFound("That account no longer exists. Reload the chart to see the current list.")
    if account.status == AccountStatus.DISABLED:
        raise InvalidInput("This account is disabled. Enable it in User Management first.")
    # The chart's consent governs its own email and mobile, not a representative's address.
    consent.require(patient, row.channel, row.destination)
    return account, patient


def resend_password_link(*, session: Session, row: OneTimeSecret, actor: audit.Actor) -> Resent:
    """Replace a pending password link with a fresh one for the same account, sent the same way
    to the same address (a representative's link goes to the representative, never to the
    chart's own email). The old link dies; a set-up link stays a set-up link until the account
    has a password.

    Raises:
        PortalUnavailable, InvalidInput (access off, account disabled, no consent), NotFound.
    """
    account, patient = _resend_target(session, row)
    to = row.destination
    if link_just_sent(session=session, account_id=ident(account)):
        return Resent(True, f"A link to choose a password was just sent to {to}.")
    setup = account.password_hash is None
    sent = send_password_link(session=session, account=account, patient=patient, to=to, actor=actor,
                              setup=setup, channel=row.channel, requested_by=row.requested_by)
    audit.record(session=session, actor=actor, action="link.resend", patient_id=patient.id,
                 account_id=account.id,
                 detail=f"link #{row.id} replaced by link #{sent.secret.id} by {row.channel} to {to}; "
                        f"message #{sent.message.id} {sent.message.status.value}")
    session.commit()
    if sent.failed:
        return Resent(False, f"The message to {to} could not be sent; it is in the outbox to retry.")
    if setup:
        return Resent(True, f"A new link to choose a password was sent to {to}; the old one no longer works.")
    if row.channel == "sms":
        return Resent(True, f"Reset link sent to {to} by text message.")
    return Resent(True, f"Password reset email sent to {to}.")
