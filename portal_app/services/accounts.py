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
- A link to choose a password goes to the account it was made for, at the address it was made
  for: a set-up link while the account has no password, a reset link after.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal_app import routes
from portal_app.models import (AccessType, AccountState, AccountStatus, OneTimeSecret, OutboxMessage,
                               Patient, PortalAccount, PortalConnection, SecretPurpose)
from portal_app.notify import outbox, templates, templates_accounts
from portal_app.services import audit, clock, passwords, sessions, settings, tokens
from portal_app.services.areas import ALL_AREAS
from portal_app.services.errors import AlreadyTaken, NotFound

USER_ID_TAKEN = "{user_id} was just taken by another account. Choose another username."
CONNECTED_MEANWHILE = ("{user_id} was just connected to this chart by someone else. Select it in the "
                       "list to change it.")


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
    account = self_account(session=session, patient_id=patient.id)
    if account is not None:
        state = {AccountStatus.DISABLED: AccountState.DISABLED,
                 AccountStatus.PENDING: AccountState.INVITED}.get(account.status, AccountState.ACTIVE)
    elif patient.account_state == AccountState.INVITED:
        state = AccountState.INVITED
    else:
        state = AccountState.NONE
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


def connect_chart(*, session: Session, account: PortalAccount, patient: Patient, requested_by: str,
                  access: AccessType = AccessType.SELF, permissions: str = ALL_AREAS,
                  relationship: str = "", staff_id: int | None = None, field: str = "username",
                  taken_message: str = "") -> PortalConnection:
    """Connect the account to the chart and refresh the chart's account state.

    A `self` connection voids the chart's live invitation (the chart has its account now).

    Raises:
        AlreadyTaken: someone connected this account to this chart at the same moment.
    """
    connection = PortalConnection(account_id=account.id, patient_id=patient.id, access_type=access,
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

    The caller checks the portal is on and the message may go, and audits with its own action.

    Args:
        setup: the set-up message for an account that never had a password (valid as long as
            an invitation), else the reset message (valid as long as a reset).
        to: the address the message goes to; `destination` (default `to`) is what the link
            row records, and what "Resend" sends to again.
        first_name: the greeting's name (default the account's own).
    """
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
