"""The delivery worker: a provider is called outside any transaction, a hung one locks nothing,
a restarted worker takes over a lapsed lease, and nothing is sent twice."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import resend
from sqlmodel import select

from portal_app import db
from portal_app.models import MessageStatus, OutboxMessage
from portal_app.notify import templates, transports
from portal_app.services import audit, invitations, manual_credentials, outbox, outbox_worker, portal_auth
from tests.unit.conftest import START, make_patient

PASSWORD = "quiet lantern orbit 73 meadow"
RENDERED = templates.Rendered(subject="Hello", text="Your link https://x.example/setup?token=SECRET123",
                              html="")


class _HungProvider:
    """A local HTTP endpoint that accepts connections and never answers a byte."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.accepted = threading.Event()
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.held.append(conn)  # kept open, never read, never answered
            self.accepted.set()

    def close(self) -> None:
        for conn in self.held:
            conn.close()
        self.server.close()


class _Remote:
    """A provider fake that goes "over the network" (so only the worker calls it) and records keys."""

    name = "remote-fake"
    remote = True

    def __init__(self) -> None:
        self.keys: list[str] = []

    def send(self, message, *, sender):
        self.keys.append(message.idempotency_key)
        return f"prov-{len(self.keys)}"


@pytest.fixture
def hung(monkeypatch):
    provider = _HungProvider()
    monkeypatch.setattr(resend, "api_url", provider.url)
    monkeypatch.setenv("RESEND_API_KEY", "re_test_hung")
    yield provider
    provider.close()


def _queue(session) -> OutboxMessage:
    message = outbox.send(session=session, channel="email", kind="invitation", to="maria@example.com",
                          rendered=RENDERED, secrets_in_body=("SECRET123",))
    session.commit()
    return message


def _sign_in(db_url: str, user_id: str) -> str:
    with db.session_scope(db_url) as session:
        return portal_auth.sign_in(session=session, user_id=user_id, password=PASSWORD)


def test_providers_get_about_ten_seconds():
    assert transports.PROVIDER_TIMEOUT_SECONDS == 10
    assert transports.ResendTransport("re_x").timeout == 10
    assert transports.TwilioTransport.TIMEOUT.read == 10
    assert transports.is_remote(transports.ResendTransport("re_x"))
    assert not transports.is_remote(transports.OutboxTransport())


def test_a_provider_that_never_answers_locks_no_sign_in(session, db_url, admin, hung):
    """The probe's case: email provider hung, four people sign in meanwhile; all get in."""
    users = [f"p{n}@example.com" for n in range(4)]
    for n, user in enumerate(users):
        patient = make_patient(session, first=f"P{n}", email=user, enabled=True)
        manual_credentials.set_manually(session=session, patient_id=patient.id, username=user, password=PASSWORD,
                                        force_change=False, actor=audit.Actor.staff(admin.id))
    invitee = make_patient(session, first="Iris", email="iris@example.com", enabled=True)

    def invite():
        with db.session_scope(db_url) as own:
            return invitations.send_invitation_or_reset(session=own, patient_id=invitee.id,
                                                        actor=audit.Actor.staff(admin.id))

    def worker() -> int:
        for _ in range(300):  # until the invitation is committed and handled (or 30 s)
            if done := outbox_worker.drain(url=db_url):
                return done
            time.sleep(0.1)
        return 0

    with ThreadPoolExecutor(max_workers=6) as pool:
        inviting = pool.submit(invite)
        delivering = pool.submit(worker)
        assert hung.accepted.wait(30), "the provider was never called"
        # The provider is now holding its request open. Sign-ins (each writes a session and an
        # audit row) must not wait on it.
        signed_in = [f.result() for f in [pool.submit(_sign_in, db_url, user) for user in users]]
        assert all(signed_in) and len(set(signed_in)) == 4
        assert inviting.result().status == "sent"  # stored and committed; the worker sends it
        assert delivering.result() == 1
    session.expire_all()
    message = session.exec(select(OutboxMessage)).one()
    assert (message.status, message.attempts, message.transport) == (MessageStatus.FAILED, 1, "resend")
    assert message.error == "Resend did not answer within 10 seconds."
    assert message.lease_until is None and "token=" in message.body_text  # kept whole for a retry
    queued = outbox.retry(session=session, message_id=message.id, actor_id=admin.id)
    assert queued.status == MessageStatus.QUEUED


def test_a_restarted_worker_takes_over_a_lapsed_lease_and_sends_once(session, db_url, frozen_clock):
    fake = _Remote()
    transports.use("email", fake)
    message = _queue(session)
    assert message.status == MessageStatus.QUEUED and fake.keys == []

    stale = outbox_worker.claim_next(url=db_url)  # a worker claims it, then dies before sending
    assert stale is not None and stale.attempt == 1
    assert outbox_worker.claim_next(url=db_url) is None  # held: no second worker takes it
    assert outbox_worker.drain(url=db_url) == 0

    frozen_clock(START + outbox_worker.LEASE + outbox_worker.LEASE / 10)  # the lease lapses
    assert outbox_worker.drain(url=db_url) == 1
    assert fake.keys == [message.idempotency_key]
    assert outbox_worker.drain(url=db_url) == 0  # nothing is sent twice

    # The dead worker's late answer changes nothing.
    assert not outbox_worker.finish(claim=stale, url=db_url, result=outbox.Outcome(
        {"status": MessageStatus.FAILED, "error": "late", "lease_until": None}))
    session.expire_all()
    stored = session.get(OutboxMessage, message.id)
    assert (stored.status, stored.attempts, stored.provider_id, stored.error) == (MessageStatus.SENT, 2, "prov-1", "")
    assert "SECRET123" not in stored.body_text and stored.pending_secrets == ""  # delivered: secret cut


def test_without_a_provider_the_outbox_delivers_at_once(session, db_url):
    message = _queue(session)
    assert (message.status, message.transport) == (MessageStatus.SENT, "outbox")
    assert outbox_worker.drain(url=db_url) == 0


def test_workers_claiming_at_once_never_claim_one_message_twice(session, db_url):
    transports.use("email", _Remote())
    queued = {_queue(session).id for _ in range(12)}

    def claim_all() -> list[int]:
        mine = []
        while (claim := outbox_worker.claim_next(url=db_url)) is not None:
            mine.append(claim.message.id)
        return mine

    with ThreadPoolExecutor(4) as pool:
        claimed = [message_id for ids in pool.map(lambda _: claim_all(), range(4)) for message_id in ids]

    assert sorted(claimed) == sorted(queued)  # each claimed, by exactly one worker
