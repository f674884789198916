"""Existing connections of a chart: who is connected, what is pending, disconnect and void.

Views hold what staff may see: never a secret's value, hash or salt.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from portal_app.models import (
    OneTimeSecret,
    PortalAccount,
    PortalConnection,
    SecretPurpose,
    StaffUser,
    ident,
)
from portal_app.services import accounts, audit, clock, connect, invitations, keys, settings, validation
from portal_app.services.errors import InvalidInput, NotFound

PURPOSE_LABELS = {
    SecretPurpose.INVITATION: "Invitation",
    SecretPurpose.PASSWORD_RESET: "Password reset",
    SecretPurpose.CONNECT_TOKEN: "Connect token",
    SecretPurpose.CONNECTION_KEY: "Connection key",
    SecretPurpose.CONTACT_VERIFICATION: "Contact verification",
}
CHANNEL_LABELS = {"email": "Email", "sms": "Text message", "letter": "Letter"}
# What "Resend" can replace from the chart: links, and tokens or keys that went by email or
# text. (A letter must be printed, so a new one is made in the Connect Patient wizard.)
RESENDABLE = (SecretPurpose.INVITATION, SecretPurpose.PASSWORD_RESET)
RESENDABLE_BY_MESSAGE = (SecretPurpose.CONNECT_TOKEN, SecretPurpose.CONNECTION_KEY)


def _can_resend(row: OneTimeSecret) -> bool:
    return row.purpose in RESENDABLE or (
        row.purpose in RESENDABLE_BY_MESSAGE and row.channel in ("email", "sms"))


@dataclass(frozen=True)
class ConnectionRow:
    """One account connected to the chart, as the chart's Patient Portal tab lists it."""

    id: int
    user_id: str
    access_type: str
    relationship: str
    connected_on: str
    requested_by: str
    connected_by: str
    last_sign_in: str
    status: str


@dataclass(frozen=True)
class PendingRow:
    """An outstanding token, key or link: what it is, where it went, when it dies. No value."""

    id: int
    purpose: str
    purpose_label: str
    channel: str
    destination: str
    created: str
    expires: str
    attempts: int
    can_resend: bool


def list_connections(*, session: Session, patient_id: int) -> list[ConnectionRow]:
    """The chart's live connections, oldest first.

    Raises:
        NotFound: no such chart.
    """
    accounts.get_patient(session=session, patient_id=patient_id)
    zone = settings.zone(session=session)
    query = (select(PortalConnection, PortalAccount, StaffUser.username)
             .join(PortalAccount, col(PortalConnection.account_id) == PortalAccount.id)
             .join(StaffUser, col(PortalConnection.connected_by_staff_id) == StaffUser.id, isouter=True)
             .where(PortalConnection.patient_id == patient_id,
                    col(PortalConnection.revoked_at).is_(None))
             .order_by(col(PortalConnection.id)))
    return [ConnectionRow(
        id=ident(connection), user_id=account.user_id,
        access_type=accounts.ACCESS_LABELS.get(connection.access_type, connection.access_type.value),
        relationship=connection.relationship, connected_on=clock.stamp(connection.connected_at, zone),
        requested_by=connection.requested_by, connected_by=username or "",
        last_sign_in=clock.stamp(account.last_sign_in_at, zone, empty="never"),
        status=accounts.STATUS_LABELS.get(account.status, account.status.value),
    ) for connection, account, username in session.exec(query)]


def _live_secrets_query(patient_id: int):
    return select(OneTimeSecret).where(
        OneTimeSecret.patient_id == patient_id, col(OneTimeSecret.used_at).is_(None),
        col(OneTimeSecret.revoked_at).is_(None), col(OneTimeSecret.expires_at) > clock.now())


def list_pending(*, session: Session, patient_id: int) -> list[PendingRow]:
    """The chart's usable one-time secrets (not used, voided or expired), newest first.

    Raises:
        NotFound: no such chart.
    """
    accounts.get_patient(session=session, patient_id=patient_id)
    zone = settings.zone(session=session)
    rows = session.exec(_live_secrets_query(patient_id).order_by(col(OneTimeSecret.id).desc()))
    return [PendingRow(
        id=row.id, purpose=row.purpose.value, purpose_label=PURPOSE_LABELS.get(row.purpose, row.purpose.value),
        channel=CHANNEL_LABELS.get(row.channel, row.channel),
        destination=validation.phone_label(row.destination),
        created=clock.stamp(row.created_at, zone), expires=clock.stamp(row.expires_at, zone), attempts=row.attempts,
        can_resend=_can_resend(row),
    ) for row in rows]


def disconnect(*, session: Session, patient_id: int, connection_id: int, actor: audit.Actor) -> None:
    """End an account's access to this chart at once.

    Sign-in and every portal event only use live connections, so the chart disappears from
    the account's portal on its next event. When the account has no other live connection to
    a chart with portal access, its sessions end too, and its reset links for this chart die.

    Raises:
        NotFound: no live connection with that id on this chart.
    """
    patient = accounts.get_patient(session=session, patient_id=patient_id)
    connection = session.get(PortalConnection, connection_id)
    if connection is None or connection.patient_id != patient.id or connection.revoked_at is not None:
        raise NotFound("That connection no longer exists. Reload the chart to see the current list.")
    account = session.get(PortalAccount, connection.account_id)
    done = accounts.disconnect(session=session, connection=connection, patient=patient)
    ended, voided = done.sessions_ended, done.links_voided
    access = accounts.ACCESS_LABELS.get(connection.access_type, connection.access_type.value)
    audit.record(session=session, actor=actor, action="chart.disconnect", patient_id=patient.id,
                 account_id=connection.account_id,
                 detail=f"{account.user_id if account else connection.account_id} ({access}): "
                        f"connected -> disconnected; sessions ended={ended}; reset links voided={voided}")
    session.commit()


def void_secret(*, session: Session, patient_id: int, secret_id: int, actor: audit.Actor) -> PendingRow:
    """Void one outstanding token, key or link of this chart (never another chart's).

    Returns:
        What was voided (for the confirmation message).

    Raises:
        NotFound: no usable secret with that id belongs to this chart.
    """
    accounts.get_patient(session=session, patient_id=patient_id)
    zone = settings.zone(session=session)
    row = session.exec(_live_secrets_query(patient_id).where(OneTimeSecret.id == secret_id)).first()
    if row is None:
        raise NotFound("That token, key or link is no longer pending. Reload the chart to see "
                       "the current list.")
    row.revoked_at = clock.now()
    session.add(row)
    label = PURPOSE_LABELS.get(row.purpose, row.purpose.value)
    channel = CHANNEL_LABELS.get(row.channel, row.channel)
    audit.record(session=session, actor=actor, action="secret.void", patient_id=patient_id,
                 account_id=row.account_id,
                 detail=f"{row.purpose.value} #{row.id} by {row.channel}: pending -> void")
    session.commit()
    return PendingRow(id=row.id, purpose=row.purpose.value, purpose_label=label, channel=channel,
                      destination=validation.phone_label(row.destination),
                      created=clock.stamp(row.created_at, zone),
                      expires=clock.stamp(row.expires_at, zone), attempts=row.attempts,
                      can_resend=_can_resend(row))


Resent = accounts.Resent


def _in_outbox(what: str, destination: str) -> Resent:
    """A new token or key that could not be sent (it waits in the outbox)."""
    return Resent(False, f"A new {what} to {destination} could not be sent; it is in the outbox to retry.")


def resend(*, session: Session, patient_id: int, secret_id: int, actor: audit.Actor) -> Resent:
    """Replace a pending secret of this chart with a fresh one sent the same way.

    The old one dies (each sender voids the older secret of its kind).

    Raises:
        NotFound: not a pending secret of this chart.
        InvalidInput: a letter, or another kind that cannot be resent from here.
    """
    accounts.get_patient(session=session, patient_id=patient_id)
    row = session.exec(_live_secrets_query(patient_id).where(OneTimeSecret.id == secret_id)).first()
    if row is None:
        raise NotFound("That token, key or link is no longer pending. Reload the chart to see "
                       "the current list.")
    if not _can_resend(row):
        raise InvalidInput("A letter cannot be resent from here: print a new one with Connect "
                           "Patient.")
    if row.purpose == SecretPurpose.PASSWORD_RESET and row.account_id is not None:
        # A link made for one account (often a representative) goes to that account again,
        # never to the chart's own email.
        return accounts.resend_password_link(session=session, row=row, actor=actor)
    if row.purpose in RESENDABLE:
        result = invitations.send_invitation_or_reset(session=session, patient_id=patient_id,
                                                      actor=actor)
        return Resent(result.status != "failed", result.message)
    channel, address, requested_by = row.channel, row.destination, row.requested_by or "resent by staff"
    if row.purpose == SecretPurpose.CONNECT_TOKEN:
        sent = connect.send_connect_token(session=session, patient_id=patient_id, channel=channel,
                                          address=address, requested_by=requested_by, actor=actor)
        if sent.status == "failed":
            return _in_outbox("token", sent.destination)
        return Resent(True, f"A new token was sent to {sent.destination}; the old one no longer "
                            "works. Enter it in Connect Patient when the patient reads it back.")
    issued = keys.generate_key(session=session, patient_id=patient_id, channel=channel,
                               address=address, requested_by=requested_by, actor=actor)
    if issued.message_status == "failed":
        return _in_outbox("key", issued.destination)
    return Resent(True, f"A new connection key was sent to {issued.destination}; the old one no "
                        "longer works.")
