"""The delivery worker: sends queued outbox messages through their provider, outside any
database transaction.

A provider can hang (the probe's email provider never answered). Calling it inside the write
transaction that stored the message held SQLite's write lock for the provider's whole timeout,
and every sign-in meanwhile failed with "database is locked". So `outbox.send` only stores the
message (the caller commits it), and this worker, a task in the web app's process (registered
in portal_app.py), takes one queued message at a time:

1. claim it in a short transaction: a guarded UPDATE sets a lease (`lease_until`) and counts
   the attempt; of two workers only one wins;
2. call the provider with no transaction open (10 s timeout, transports.PROVIDER_TIMEOUT_SECONDS);
3. record the outcome in a second short transaction, guarded by the attempt it claimed: a
   worker whose lease was taken over after it expired changes nothing.

A worker stopped between 1 and 3 (a restart, kill -9) leaves the message queued with a lease;
once the lease ends, the next worker sends it again with the same Resend idempotency key, so
the provider delivers it once. A failed send stays "failed" for staff to retry.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, update
from sqlmodel import col, or_, select

from portal_app import db
from portal_app.models import MessageStatus, OutboxMessage
from portal_app.notify import transports
from portal_app.services import clock, outbox, settings
from portal_app.services.adoption import facts

log = logging.getLogger(__name__)

# Longer than any provider call (10 s) with room to spare: a lease that ends means its worker died.
LEASE = timedelta(minutes=2)
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Claim:
    message: OutboxMessage  # a detached copy: the transport reads it with no session open
    attempt: int
    sender: str


def _free() -> ColumnElement[bool]:
    return or_(col(OutboxMessage.lease_until).is_(None), col(OutboxMessage.lease_until) < clock.now())


def claim_next(*, url: str | None = None) -> Claim | None:
    """Lease the oldest queued message whose lease is free; None when there is none."""
    with db.session_scope(url) as session:
        waiting = session.exec(select(OutboxMessage.id, OutboxMessage.channel).where(
            OutboxMessage.status == MessageStatus.QUEUED, _free()).order_by(col(OutboxMessage.id)).limit(5)).all()
        for message_id, channel in waiting:
            won = session.exec(update(OutboxMessage).where(
                col(OutboxMessage.id) == message_id, col(OutboxMessage.status) == MessageStatus.QUEUED, _free())
                .values(lease_until=clock.now() + LEASE, attempts=col(OutboxMessage.attempts) + 1,
                        transport=transports.for_channel(channel).name))
            if won.rowcount != 1:
                continue  # another worker took it
            session.commit()
            message = session.get(OutboxMessage, message_id)
            if message is None:
                return None
            session.expunge(message)
            return Claim(message=message, attempt=message.attempts,
                         sender=settings.get(session=session).sender_address)
    return None


def finish(*, claim: Claim, result: outbox.Outcome, url: str | None = None) -> bool:
    """Write what the send did, unless the lease was lost meanwhile. Returns whether it was written."""
    message = claim.message
    with db.session_scope(url) as session:
        written = session.exec(update(OutboxMessage).where(
            col(OutboxMessage.id) == message.id, col(OutboxMessage.status) == MessageStatus.QUEUED,
            col(OutboxMessage.attempts) == claim.attempt).values(**result.values))
        if written.rowcount == 1 and message.patient_id is not None:
            facts.refresh(session, [message.patient_id])  # a guarded UPDATE skips its listener
        session.commit()
        return written.rowcount == 1


def deliver_one(*, url: str | None = None) -> bool:
    """Claim, send and record one message. Returns False when nothing was waiting."""
    claim = claim_next(url=url)
    if claim is None:
        return False
    transport = transports.for_channel(claim.message.channel)
    result = outbox.outcome(claim.message, transport, sender=claim.sender)  # no transaction open
    if not finish(claim=claim, result=result, url=url):
        log.warning("outbox message #%s: lease lost while sending; the newer attempt stands", claim.message.id)
    return True


def drain(*, url: str | None = None, limit: int = 1000) -> int:
    """Send every message waiting now (up to `limit`); how many were handled. Tests and the CLI
    call it to flush the queue; the worker calls it every second."""
    done = 0
    while done < limit and deliver_one(url=url):
        done += 1
    return done


async def run_forever(*, poll_seconds: float = POLL_SECONDS) -> None:
    """The worker loop (a lifespan task of the web app). An error is logged in one line and the
    loop goes on: a message it could not handle stays queued for the next round."""
    while True:
        try:
            await asyncio.to_thread(drain)
        except Exception as exc:  # noqa: BLE001  (the loop must outlive a bad round)
            log.error("outbox worker: %s: %s", type(exc).__name__, str(exc)[:200])
        await asyncio.sleep(poll_seconds)
