"""The outbox: every message stored first, transports chosen by settings, failures kept for retry."""

from __future__ import annotations

import re

import pytest
import resend
from sqlmodel import select

from portal_app.models import AuditEvent, MessageStatus, OutboxMessage
from portal_app.notify import templates, transports
from portal_app.services import audit, invitations, outbox, outbox_worker, settings
from portal_app.services.errors import InvalidInput, NotFound
from tests.unit.conftest import START, make_patient

RENDERED = templates.Rendered(subject="Hello", text="Plain body https://x.example/setup?p=invite&token=abc",
                              html="<p>Html body</p>")


class Failing:
    name = "failing"

    def __init__(self):
        self.calls = 0

    def send(self, message, *, sender):
        self.calls += 1
        raise transports.SendFailed("SMTP 451: try again later")


class Recording:
    name = "recording"

    def __init__(self):
        self.sent = []

    def send(self, message, *, sender):
        self.sent.append((message.id, message.to_address, sender))
        return f"rec-{message.id}"


@pytest.fixture(autouse=True)
def _no_resend_key(monkeypatch):
    monkeypatch.delenv("RESEND_API_KEY", raising=False)


def _send(session, **kw):
    message = outbox.send(session=session, channel="email", kind="invitation", to="maria@example.com",
                          rendered=RENDERED, **kw)
    session.commit()
    return message


def test_default_transport_keeps_the_message_in_the_outbox(session, admin, frozen_clock):
    message = _send(session)
    assert (message.status, message.transport, message.provider_id) == (MessageStatus.SENT, "outbox",
                                                                        f"outbox-{message.id}")
    assert message.sent_at == START and message.attempts == 1 and message.error == ""
    assert message.idempotency_key.startswith("invitation-") and len(message.idempotency_key) > 30
    assert outbox.body(session=session, message_id=message.id, actor_id=admin.id) == RENDERED.text


def test_transport_selection(monkeypatch):
    assert isinstance(transports.for_channel("email"), transports.OutboxTransport)
    monkeypatch.setenv("RESEND_API_KEY", "re_test_123")
    chosen = transports.for_channel("email")
    assert isinstance(chosen, transports.ResendTransport) and chosen.api_key == "re_test_123"
    assert isinstance(transports.for_channel("sms"), transports.OutboxTransport)
    fake = Recording()
    transports.use("email", fake)
    assert transports.for_channel("email") is fake
    transports.use("email", None)
    assert isinstance(transports.for_channel("email"), transports.ResendTransport)


def test_the_sender_address_comes_from_settings(session):
    config = settings.get(session=session)
    config.sender_address = "hello@riverside.example"
    session.add(config)
    session.commit()
    fake = Recording()
    transports.use("email", fake)
    message = _send(session)
    assert fake.sent == [(message.id, "maria@example.com", "hello@riverside.example")]
    assert message.provider_id == f"rec-{message.id}"


def test_failed_send_stays_failed_with_its_error_and_is_not_raised(session):
    transports.use("email", Failing())
    message = _send(session)
    session.expire_all()
    stored = session.get(OutboxMessage, message.id)
    assert (stored.status, stored.error, stored.attempts, stored.sent_at) == (
        MessageStatus.FAILED, "SMTP 451: try again later", 1, None)
    assert stored.body_text == RENDERED.text  # kept whole, ready to retry


def test_retry_flips_a_failed_message_to_sent_and_audits(session, admin, frozen_clock):
    failing = Failing()
    transports.use("email", failing)
    message = _send(session)
    again = outbox.retry(session=session, message_id=message.id, actor_id=admin.id)
    assert again.status == MessageStatus.FAILED and again.attempts == 2 and failing.calls == 2
    transports.use("email", None)
    done = outbox.retry(session=session, message_id=message.id, actor_id=admin.id)
    assert (done.status, done.error, done.attempts, done.transport) == (MessageStatus.SENT, "", 3, "outbox")
    details = [e.detail for e in session.exec(select(AuditEvent).where(AuditEvent.action == "outbox.retry"))]
    assert details == [f"message #{message.id}: failed", f"message #{message.id}: sent"]


def test_only_failed_messages_can_be_retried(session, admin):
    message = _send(session)
    with pytest.raises(InvalidInput, match="Only a failed message"):
        outbox.retry(session=session, message_id=message.id, actor_id=admin.id)
    with pytest.raises(NotFound):
        outbox.retry(session=session, message_id=12345, actor_id=admin.id)


def test_resend_transport_passes_the_idempotency_key(session, db_url, monkeypatch):
    calls = []

    def fake_send(params, options=None):
        calls.append((params, options, resend.api_key))
        return {"id": "re_msg_1"}

    monkeypatch.setenv("RESEND_API_KEY", "re_test_123")
    monkeypatch.setattr(resend.Emails, "send", staticmethod(fake_send))
    message = _send(session)
    assert message.status == MessageStatus.QUEUED and calls == []  # stored, not sent in the transaction
    assert outbox_worker.drain(url=db_url) == 1
    session.refresh(message)
    [(params, options, api_key)] = calls
    assert options == {"idempotency_key": message.idempotency_key}
    assert api_key == "re_test_123"
    assert params == {"from": "portal@example.org", "to": ["maria@example.com"], "subject": "Hello",
                      "text": RENDERED.text, "html": RENDERED.html}
    assert (message.status, message.transport, message.provider_id) == (MessageStatus.SENT, "resend", "re_msg_1")


def test_resend_errors_are_recorded_and_retry_reuses_the_key(session, db_url, admin, monkeypatch):
    keys = []

    def broken(params, options=None):
        keys.append(options["idempotency_key"])
        raise resend.exceptions.ResendError(code=500, error_type="application_error",
                                            message="Resend is down", suggested_action="retry")

    monkeypatch.setenv("RESEND_API_KEY", "re_test_123")
    monkeypatch.setattr(resend.Emails, "send", staticmethod(broken))
    message = _send(session)
    outbox_worker.drain(url=db_url)
    session.refresh(message)
    assert message.status == MessageStatus.FAILED and message.attempts == 1
    assert "Resend is down" in message.error and message.transport == "resend"

    def working(params, options=None):
        keys.append(options["idempotency_key"])
        return {"id": "re_msg_2"}

    monkeypatch.setattr(resend.Emails, "send", staticmethod(working))
    queued = outbox.retry(session=session, message_id=message.id, actor_id=admin.id)
    assert (queued.status, queued.error) == (MessageStatus.QUEUED, "")  # the worker sends it
    outbox_worker.drain(url=db_url)
    session.refresh(message)
    assert message.status == MessageStatus.SENT and message.provider_id == "re_msg_2" and message.attempts == 2
    assert keys == [message.idempotency_key, message.idempotency_key]


def test_failed_invitation_says_so_and_is_in_the_outbox(session, admin):
    transports.use("email", Failing())
    patient = make_patient(session, enabled=True)
    result = invitations.send_invitation_or_reset(session=session, patient_id=patient.id,
                                                  actor=audit.Actor.staff(admin.id))
    assert result.status == "failed"
    assert result.message == f"Invitation to {patient.email} could not be sent; it is in the outbox to retry."
    [row] = outbox.list_messages(session=session, status="failed")
    assert (row.to, row.kind, row.error) == (patient.email, "Invitation", "SMTP 451: try again later")


def test_list_messages_newest_first_filtered_and_paged(session):
    transports.use("email", Failing())
    failed = _send(session)
    transports.use("email", None)
    sent = [_send(session) for _ in range(3)]
    rows = outbox.list_messages(session=session)
    assert [r.id for r in rows] == [sent[2].id, sent[1].id, sent[0].id, failed.id]
    assert [r.id for r in outbox.list_messages(session=session, status="failed")] == [failed.id]
    assert [r.id for r in outbox.list_messages(session=session, status="sent", limit=2)] == [sent[2].id, sent[1].id]
    assert [r.id for r in outbox.list_messages(session=session, before_id=sent[1].id)] == [sent[0].id, failed.id]
    # An unknown status is ignored rather than trusted.
    assert len(outbox.list_messages(session=session, status="'; drop table")) == 4
    assert [m.id for m in outbox.latest(session=session, limit=2)] == [sent[2].id, sent[1].id]
    with pytest.raises(NotFound):
        outbox.body(session=session, message_id=999, actor_id=1)


# --- templates ------------------------------------------------------------------------------------

def test_invitation_template_has_link_practice_phone_and_lifetime():
    rendered = templates.invitation(practice="Riverside", phone="(555) 010-0100", first_name="Maria",
                                    link="https://p.example/setup?p=invite&token=T0K", valid_for="3 days")
    assert rendered.subject == "Set up your Riverside patient portal account"
    assert "https://p.example/setup?p=invite&token=T0K" in rendered.text
    assert "expires in 3 days" in rendered.text and "(555) 010-0100" in rendered.text
    assert 'href="https://p.example/setup?p=invite&amp;token=T0K"' in rendered.html


def test_reset_template():
    rendered = templates.password_reset(practice="Riverside", phone="555", first_name="Maria",
                                        link="https://p.example/setup?p=reset&token=T0K", valid_for="1 hour")
    assert rendered.subject == "Reset your Riverside patient portal password"
    assert "expires in 1 hour" in rendered.text and "token=T0K" in rendered.text
    assert "Choose a new password" in rendered.html


def test_templates_escape_html_from_chart_fields():
    rendered = templates.invitation(practice="A & B <Clinic>", phone="555", first_name="<script>x</script>",
                                    link='https://p.example/"><img src=x>', valid_for="3 days")
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert '"><img' not in rendered.html
    assert "A &amp; B &lt;Clinic&gt;" in rendered.html


@pytest.mark.parametrize("hours, text", [(0.25, "15 minutes"), (1 / 60, "1 minute"), (1, "1 hour"),
                                         (24, "24 hours"), (47, "47 hours"), (72, "3 days"), (336, "14 days")])
def test_describe_lifetime(hours, text):
    assert templates.describe_lifetime(hours) == text


def _invite_through(session, admin, transport):
    transports.use("email", transport)
    patient = make_patient(session, enabled=True)
    invitations.send_invitation_or_reset(session=session, patient_id=patient.id,
                                         actor=audit.Actor.staff(admin.id))
    return session.exec(select(OutboxMessage)).one()


def test_a_link_delivered_by_a_provider_is_not_kept_readable(session, admin):
    message = _invite_through(session, admin, Recording())
    assert message.status == MessageStatus.SENT
    for body in (message.body_text, message.body_html):
        assert f"token={outbox.REDACTED}" in body
        assert not re.search(r"token=(?!" + outbox.REDACTED + r")", body)


def test_the_outbox_transport_keeps_the_link_it_delivers_by(session, admin):
    message = _invite_through(session, admin, transports.OutboxTransport())
    assert outbox.REDACTED not in message.body_text
    assert re.search(r"token=[A-Za-z0-9_-]{20,}", message.body_text)


def test_a_failed_message_keeps_its_link_until_a_retry_delivers_it(session, admin):
    failing = Failing()
    message = _invite_through(session, admin, failing)
    assert re.search(r"token=[A-Za-z0-9_-]{20,}", message.body_text)
    transports.use("email", Recording())
    outbox.retry(session=session, message_id=message.id, actor_id=admin.id)
    session.refresh(message)
    assert message.status == MessageStatus.SENT and f"token={outbox.REDACTED}" in message.body_text
    assert message.pending_secrets == ""  # the secret is not kept anywhere else either


def test_page_of_messages_tells_whether_an_older_page_exists(session):
    for _ in range(3):
        _send(session)
    rows, older = outbox.page_of_messages(session=session, size=2)
    assert len(rows) == 2 and older
    rest, older = outbox.page_of_messages(session=session, size=2, before_id=rows[-1].id)
    assert len(rest) == 1 and not older


def test_retry_view_answers_with_the_view_row(session, admin):
    transports.use("email", Failing())
    message = _send(session)
    transports.use("email", Recording())
    row = outbox.retry_view(session=session, message_id=message.id, actor_id=admin.id)
    assert isinstance(row, outbox.MessageRow)
    assert (row.id, row.status, row.to, row.error) == (message.id, "sent", "maria@example.com", "")


def test_every_kind_sent_reads_as_words():
    import pathlib

    sent = set()
    for path in pathlib.Path("portal_app/services").rglob("*.py"):
        sent |= set(re.findall(r'kind="([a-z_]+)"', path.read_text()))
    sent |= {"reset", "invitation", "representative_setup"}
    assert sent <= set(outbox.KIND_LABELS)  # a new kind gets its words here
    assert outbox.kind_label("connection_key") == "Connection key"
    assert outbox.kind_label("connect_welcome") == "Welcome (connect)"
    assert outbox.kind_label("some_new_kind") == "Some new kind"
