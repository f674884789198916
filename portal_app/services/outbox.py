"""Every message is written here first; delivery updates its status; failures stay for retry."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import tzinfo

from sqlmodel import Session, col, select

from portal_app.models import MessageStatus, OutboxMessage, Patient, ident
from portal_app.notify import transports
from portal_app.notify.templates import Rendered
from portal_app.services import audit, clock, consent, permissions, settings, validation
from portal_app.services.errors import Forbidden, InvalidInput, NotFound
from portal_app.services.permissions import Level, Permission

PAGE_SIZE = 50
# What a delivered secret is replaced with in the stored copy.
REDACTED = "removed-after-delivery"
_SEP = "\x1f"
# What staff without Outbox Secrets read in place of a live link, key or code.
HIDDEN = "hidden: you need Outbox Secrets"
SECRETS_NEEDED = ("This letter holds a live connection key: downloading it needs the Outbox Secrets "
                  "permission (Setup > Roles).")
NO_PDF = "That letter has no PDF to download."
PDF_GONE = ("This letter's PDF was downloaded once and is not kept (it held a live key). "
            "Use \u201cReprint with a new key\u201d to print it again.")
# A printed letter's body once its PDF has left (the key is on paper only).
HANDED_OUT = "A printed connection-key letter. Its PDF was downloaded once and is not kept."


def send(*, session: Session, channel: str, kind: str, to: str, rendered: Rendered,
         patient_id: int | None = None, secrets_in_body: tuple[str, ...] = ()) -> OutboxMessage:
    """Store the message. A provider (Resend, Twilio) is never called here: the message waits
    "queued" until the caller commits, and the delivery worker (services/outbox_worker.py)
    sends it outside any transaction. With no provider the outbox is the delivery: the
    message is "sent" at once. A failure is kept, never raised.

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
    transport = transports.for_channel(channel)
    if not transports.is_remote(transport):
        deliver(session=session, message=message)
    return message


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt changes on its message (the worker writes it with a guarded UPDATE)."""

    values: dict[str, object]

    @property
    def failed(self) -> bool:
        return self.values.get("status") == MessageStatus.FAILED


def outcome(message: OutboxMessage, transport: transports.Transport, *, sender: str) -> Outcome:
    """Call the transport once and say what changes: sent (a provider's copy loses its secrets)
    or failed with the provider's words. Touches no database."""
    try:
        provider_id = transport.send(message, sender=sender)[:200]
    except transports.SendFailed as exc:
        return Outcome({"status": MessageStatus.FAILED, "error": str(exc)[:1000], "lease_until": None})
    values: dict[str, object] = {"status": MessageStatus.SENT, "error": "", "provider_id": provider_id,
                                 "sent_at": clock.now(), "lease_until": None}
    if transport.name != transports.OutboxTransport.name:
        # Delivered elsewhere: keep the record, drop the secret. (With the outbox
        # transport the stored body is the delivery, so the secret must stay.)
        values.update(_redacted(message))
    return Outcome(values)


def _redacted(message: OutboxMessage) -> dict[str, object]:
    text, html = message.body_text, message.body_html
    for secret in _secrets(message):
        text, html = text.replace(secret, REDACTED), html.replace(secret, REDACTED)
    # An attachment carries the same secrets: a delivered message keeps none.
    return {"body_text": text, "body_html": html, "pending_secrets": "", "attachment": None}


def _secrets(message: OutboxMessage) -> list[str]:
    return [secret for secret in message.pending_secrets.split(_SEP) if secret]


def deliver(*, session: Session, message: OutboxMessage) -> None:
    """Deliver now, in the caller's transaction: only for a transport that never touches the
    network (the outbox itself, test fakes). Providers go through the worker."""
    transport = transports.for_channel(message.channel)
    message.attempts += 1
    message.transport = transport.name
    result = outcome(message, transport, sender=settings.get(session=session).sender_address)
    for name, value in result.values.items():
        setattr(message, name, value)
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
    if transports.is_remote(transports.for_channel(message.channel)):
        # Back in the queue: the worker sends it once this commits (same idempotency key).
        message.status, message.error, message.lease_until = MessageStatus.QUEUED, "", None
        session.add(message)
    else:
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
    can_reprint: bool = False  # a key letter whose PDF has gone: a reprint issues a new key


def _row(message: OutboxMessage, zone: tzinfo) -> MessageRow:
    return MessageRow(id=ident(message), created=clock.stamp(message.created_at, zone),
                      channel=message.channel, kind=kind_label(message.kind),
                      to=validation.phone_label(message.to_address),
                      subject=message.subject, status=message.status.value, error=message.error,
                      attempts=message.attempts,
                      has_pdf=message.channel == "letter" and message.attachment is not None,
                      can_reprint=(message.channel == "letter" and message.kind == "connection_key"
                                   and message.attachment is None and message.patient_id is not None))


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


def may_see_secrets(*, session: Session, staff_user_id: int | None) -> bool:
    """Outbox and Outbox Secrets (any level above Off): live links, keys and letter PDFs."""
    if staff_user_id is None:
        return False
    levels = permissions.levels_for(session=session, staff_user_id=staff_user_id)
    return (levels.get(Permission.OUTBOX.value, 0) >= Level.READ
            and levels.get(Permission.OUTBOX_SECRETS.value, 0) >= Level.READ)


def _masked(text: str, live: list[str], kind: str) -> str:
    """Each live secret hidden: a link carrying it goes whole, a key or code alone."""
    what = "key" if kind == "connection_key" else "code"
    for secret in live:
        text = re.sub(r"\S*" + re.escape(secret) + r"\S*",
                      lambda found: f"[{'link' if '://' in found.group(0) else what} {HIDDEN}]", text)
    return text


def body(*, session: Session, message_id: int, actor_id: int) -> str:
    """A message's text for staff: live secrets shown only with Outbox Secrets. Every view is
    audited (whether a live secret was shown, never the secret)."""
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound("That message no longer exists.")
    live = _secrets(message)
    shown = bool(live) and may_see_secrets(session=session, staff_user_id=actor_id)
    text = message.body_text if shown or not live else _masked(message.body_text, live, message.kind)
    seen = "live secret shown" if shown else ("live secret hidden" if live else "no live secret")
    audit.record(session=session, actor=audit.Actor.staff(actor_id), action="outbox.view_body",
                 patient_id=message.patient_id, detail=f"message #{message.id} ({message.kind}): {seen}")
    session.commit()
    return text


def _forget_letter(message: OutboxMessage) -> None:
    message.attachment = None
    message.pending_secrets = ""
    message.body_text, message.body_html = HANDED_OUT, ""


def letter_handed_out(*, session: Session, message_id: int, actor: audit.Actor) -> None:
    """A letter's PDF went straight to the staff member who made it (the wizard, the adoption
    board): the stored copy keeps no PDF and no key. In the caller's transaction."""
    message = session.get(OutboxMessage, message_id)
    if message is None or message.channel != "letter":
        return
    _forget_letter(message)
    session.add(message)
    audit.record(session=session, actor=actor, action="outbox.download_letter", patient_id=message.patient_id,
                 detail=f"message #{message.id} ({message.kind}): downloaded when made; PDF not kept")


def letter_pdf(*, session: Session, message_id: int, actor_id: int) -> tuple[str, bytes]:
    """A letter's PDF for printing, as (file name, bytes), once: the download is audited and
    the stored PDF (and its key) erased. It needs Outbox Secrets (the PDF holds a live key).

    Raises:
        NotFound: no such message, not a letter, or its PDF was downloaded already.
        Forbidden: without Outbox Secrets (the refusal is audited).
    """
    message = session.get(OutboxMessage, message_id)
    if message is None or message.channel != "letter":
        raise NotFound(NO_PDF)
    if not message.attachment:
        raise NotFound(PDF_GONE if message.body_text == HANDED_OUT else NO_PDF)
    if not may_see_secrets(session=session, staff_user_id=actor_id):
        audit.record(session=session, actor=audit.Actor.staff(actor_id), action="outbox.download_refused",
                     patient_id=message.patient_id, detail=f"message #{message.id} ({message.kind}): no Outbox Secrets")
        session.commit()
        raise Forbidden(SECRETS_NEEDED)
    data = bytes(message.attachment)
    _forget_letter(message)
    session.add(message)
    audit.record(session=session, actor=audit.Actor.staff(actor_id), action="outbox.download_letter",
                 patient_id=message.patient_id, detail=f"message #{message.id} ({message.kind}): PDF not kept")
    session.commit()
    return f"letter-{message.id}.pdf", data


def latest(*, session: Session, limit: int = 10) -> list[OutboxMessage]:
    return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id).desc()).limit(limit)))
