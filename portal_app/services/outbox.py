"""Every message is written here first; delivery updates its status; failures stay for retry."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import tzinfo

from sqlmodel import Session, col, select

from portal_app.models import MessageStatus, OutboxMessage, Patient, ident
from portal_app.notify import transports
from portal_app.notify.templates import Rendered
from portal_app.services import audit, clock, consent, settings, validation
from portal_app.services.errors import InvalidInput, NotFound

PAGE_SIZE = 50
# What a delivered secret is replaced with in the stored copy.
REDACTED = "removed-after-delivery"
_SEP = "\x1f"


def send(*, session: Session, channel: str, kind: str, to: str, rendered: Rendered,
         patient_id: int | None = None, secrets_in_body: tuple[str, ...] = ()) -> OutboxMessage:
    """Store the message, then try to deliver it. A failure is kept, never raised.

    Args:
        secrets_in_body: the link token, key or code the message carries; once a provider
            has delivered it (now or on a retry) they are cut from the stored copy.
    """
    message = OutboxMessage(channel=channel, kind=kind, to_address=to, subject=rendered.subject,
                            body_text=rendered.text, body_html=rendered.html,
                            pending_secrets=_SEP.join(s for s in secrets_in_body if s),
                            idempotency_key=f"{kind}-{secrets.token_hex(16)}",
                            patient_id=patient_id, created_at=clock.now())
    session.add(message)
    session.flush()
    deliver(session=session, message=message)
    return message


def deliver(*, session: Session, message: OutboxMessage) -> None:
    transport = transports.for_channel(message.channel)
    sender = settings.get(session=session).sender_address
    message.attempts += 1
    message.transport = transport.name
    try:
        message.provider_id = transport.send(message, sender=sender)[:200]
    except transports.SendFailed as exc:
        message.status = MessageStatus.FAILED
        message.error = str(exc)[:1000]
    else:
        message.status = MessageStatus.SENT
        message.error = ""
        message.sent_at = clock.now()
        if transport.name != transports.OutboxTransport.name:
            # Delivered elsewhere: keep the record, drop the secret. (With the outbox
            # transport the stored body is the delivery, so the secret must stay.)
            for secret in filter(None, message.pending_secrets.split(_SEP)):
                message.body_text = message.body_text.replace(secret, REDACTED)
                message.body_html = message.body_html.replace(secret, REDACTED)
            message.pending_secrets = ""
    session.add(message)


def retry(*, session: Session, message_id: int, actor_id: int) -> OutboxMessage:
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound("That message no longer exists.")
    if message.status != MessageStatus.FAILED:
        raise InvalidInput("Only a failed message can be retried.")
    patient = session.get(Patient, message.patient_id) if message.patient_id else None
    if patient is not None and not consent.allows(patient, message.channel, message.to_address):
        # Consent withdrawn since the message was made: it stays failed, unsent.
        raise InvalidInput(f"Not retried: {consent.REFUSED.get(message.channel, '')}")
    deliver(session=session, message=message)
    audit.record(session=session, actor=audit.Actor.staff(actor_id), action="outbox.retry",
                 patient_id=message.patient_id, detail=f"message #{message.id}: {message.status.value}")
    session.commit()
    return message


# What each kind of message is, in the words staff use (the Outbox's "Kind" column).
KIND_LABELS = {
    "invitation": "Invitation", "reset": "Password reset", "verification": "Contact verification",
    "connect_token": "Connect token", "connect_welcome": "Welcome (connect)",
    "connection_key": "Connection key", "account_exists": "Account already exists",
    "portal_notice": "Portal notice", "representative_setup": "Representative set-up link",
    "representative_connected": "Representative connected",
}


def kind_label(kind: str) -> str:
    """The words for a message kind; an unknown code still reads as words ("some_kind" -> "Some kind")."""
    return KIND_LABELS.get(kind) or kind.replace("_", " ").strip().capitalize()


@dataclass(frozen=True)
class MessageRow:
    id: int
    created: str
    channel: str
    kind: str
    to: str
    subject: str
    status: str
    error: str
    attempts: int
    has_pdf: bool = False


def _row(message: OutboxMessage, zone: tzinfo) -> MessageRow:
    return MessageRow(id=ident(message), created=clock.stamp(message.created_at, zone),
                      channel=message.channel, kind=kind_label(message.kind),
                      to=validation.phone_label(message.to_address),
                      subject=message.subject, status=message.status.value, error=message.error,
                      attempts=message.attempts,
                      has_pdf=message.channel == "letter" and message.attachment is not None)


def list_messages(*, session: Session, status: str = "", before_id: int | None = None,
                  limit: int = PAGE_SIZE) -> list[MessageRow]:
    query = select(OutboxMessage).order_by(col(OutboxMessage.id).desc()).limit(limit)
    if status in {s.value for s in MessageStatus}:
        query = query.where(OutboxMessage.status == MessageStatus(status))
    if before_id is not None:
        query = query.where(col(OutboxMessage.id) < before_id)
    zone = settings.zone(session=session)
    return [_row(message, zone) for message in session.exec(query)]


def page_of_messages(*, session: Session, status: str = "", before_id: int | None = None,
                     size: int = PAGE_SIZE) -> tuple[list[MessageRow], bool]:
    """One page, newest first, and whether an older page exists (one extra row tells)."""
    rows = list_messages(session=session, status=status, before_id=before_id, limit=size + 1)
    return rows[:size], len(rows) > size


def retry_view(*, session: Session, message_id: int, actor_id: int) -> MessageRow:
    """`retry`, answered as the view row (the table row is not for state)."""
    return _row(retry(session=session, message_id=message_id, actor_id=actor_id), settings.zone(session=session))


def body(*, session: Session, message_id: int, actor: audit.Actor | None = None) -> str:
    """A message's text. With `actor` (staff opening it in the Outbox) the view is audited
    ("outbox.view_body"): a body may hold a live link or key.

    Raises:
        NotFound: no such message.
    """
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound("That message no longer exists.")
    if actor is not None:
        audit.record(session=session, actor=actor, action="outbox.view_body", patient_id=message.patient_id,
                     detail=f"message={message.id}; kind={message.kind}; channel={message.channel}")
        session.commit()
    return message.body_text


def letter_pdf(*, session: Session, message_id: int, actor_id: int) -> tuple[str, bytes]:
    """A letter's PDF for printing, as (file name, bytes); the download is audited.

    Raises:
        NotFound: no such message, or it is not a letter with a PDF.
    """
    message = session.get(OutboxMessage, message_id)
    if message is None or message.channel != "letter" or not message.attachment:
        raise NotFound("That letter has no PDF to download.")
    audit.record(session=session, actor=audit.Actor.staff(actor_id), action="outbox.download_letter",
                 patient_id=message.patient_id, detail=f"message #{message.id} ({message.kind})")
    session.commit()
    return f"letter-{message.id}.pdf", bytes(message.attachment)


def latest(*, session: Session, limit: int = 10) -> list[OutboxMessage]:
    return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id).desc()).limit(limit)))
