"""Transports: which one a channel uses, and Twilio over httpx (no network: MockTransport)."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest

from portal_app.models import MessageStatus, OutboxMessage
from portal_app.notify import transports
from portal_app.notify.templates import Rendered
from portal_app.services import outbox, outbox_worker

SID, TOKEN, FROM = "AC0123456789abcdef", "s3cret-auth-token", "+15555550100"
TEXT = Rendered(subject="", text="Your token is 4821.", html="")


@pytest.fixture
def twilio_env(monkeypatch):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("TWILIO_FROM", FROM)


def _twilio(handler) -> transports.TwilioTransport:
    return transports.TwilioTransport(SID, TOKEN, FROM,
                                      client=httpx.Client(transport=httpx.MockTransport(handler)))


def _message(**kw) -> OutboxMessage:
    return OutboxMessage(id=7, channel="sms", to_address="+15555550123", body_text="Hello there",
                         idempotency_key="k-1", **kw)


def test_sms_uses_the_outbox_unless_all_three_twilio_settings_are_set(monkeypatch):
    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("TWILIO_FROM", raising=False)
    assert transports.for_channel("sms").name == "outbox"
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    assert transports.for_channel("sms").name == "outbox"  # no sender number yet
    monkeypatch.setenv("TWILIO_FROM", FROM)
    assert transports.for_channel("sms").name == "twilio"


def test_letters_and_email_never_go_to_twilio(twilio_env, monkeypatch):
    monkeypatch.setenv("RESEND_API_KEY", "re_test")
    assert transports.for_channel("letter").name == "outbox"
    assert transports.for_channel("email").name == "resend"
    monkeypatch.delenv("RESEND_API_KEY")
    assert transports.for_channel("email").name == "outbox"


def test_twilio_posts_the_form_with_basic_auth():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"sid": "SM123", "status": "queued"})

    assert _twilio(handler).send(_message(), sender="portal@example.org") == "SM123"
    [request] = seen
    assert request.method == "POST"
    assert str(request.url) == f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
    assert request.headers["authorization"] == httpx.BasicAuth(SID, TOKEN)._auth_header
    assert parse_qs(request.content.decode()) == {"To": ["+15555550123"], "From": [FROM],
                                                  "Body": ["Hello there"]}


def test_twilio_error_names_status_and_message_but_not_the_token():
    def handler(request):
        return httpx.Response(400, json={"code": 21211, "message": "The 'To' number is not valid.",
                                         "status": 400})

    with pytest.raises(transports.SendFailed) as info:
        _twilio(handler).send(_message(), sender="")
    text = str(info.value)
    assert "HTTP 400" in text and "21211" in text and "The 'To' number is not valid." in text
    assert TOKEN not in text


def test_twilio_error_without_json_and_echoing_the_token():
    with pytest.raises(transports.SendFailed) as info:
        _twilio(lambda request: httpx.Response(503, text="busy")).send(_message(), sender="")
    assert "HTTP 503" in str(info.value)

    def echo(request):
        return httpx.Response(401, json={"message": f"Authenticate {TOKEN}"})

    with pytest.raises(transports.SendFailed) as info:
        _twilio(echo).send(_message(), sender="")
    assert TOKEN not in str(info.value) and "HTTP 401" in str(info.value)
    assert TOKEN not in repr(transports.TwilioTransport(SID, TOKEN, FROM))


def test_twilio_timeout_and_network_errors_become_send_failed():
    def slow(request):
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(transports.SendFailed, match="10 seconds"):
        _twilio(slow).send(_message(), sender="")

    def down(request):
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(transports.SendFailed, match="Could not reach Twilio"):
        _twilio(down).send(_message(), sender="")
    assert transports.TwilioTransport.TIMEOUT.read == 10.0


def test_default_client_is_bounded_to_ten_seconds(monkeypatch):
    made: list[dict] = []

    class FakeClient:
        def __init__(self, **kw):
            made.append(kw)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def post(self, url, data, auth):
            return httpx.Response(201, json={"sid": "SM9"})

    monkeypatch.setattr(transports.httpx, "Client", FakeClient)
    assert transports.TwilioTransport(SID, TOKEN, FROM).send(_message(), sender="") == "SM9"
    assert made[0]["timeout"].connect == 10.0 and made[0]["timeout"].read == 10.0


def test_twilio_failure_is_kept_in_the_outbox_and_retry_sends_it(session, db_url, admin):
    answers = [httpx.Response(429, json={"code": 20429, "message": "Too Many Requests"}),
               httpx.Response(201, json={"sid": "SM777"})]
    transports.use("sms", _twilio(lambda request: answers.pop(0)))

    message = outbox.send(session=session, channel="sms", kind="connect_token",
                          to="+15555550123", rendered=TEXT)
    session.commit()
    assert message.status == MessageStatus.QUEUED  # Twilio is only called by the delivery worker
    outbox_worker.drain(url=db_url)
    session.refresh(message)
    assert message.status == MessageStatus.FAILED
    assert message.transport == "twilio"
    assert "HTTP 429" in message.error and "Too Many Requests" in message.error
    assert TOKEN not in message.error

    outbox.retry(session=session, message_id=message.id, actor_id=admin.id)
    outbox_worker.drain(url=db_url)
    retried = session.get(OutboxMessage, message.id)
    session.refresh(retried)
    assert retried.status == MessageStatus.SENT
    assert (retried.provider_id, retried.error, retried.attempts) == ("SM777", "", 2)
