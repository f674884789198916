"""Transports deliver an outbox message. Each returns a provider id or raises SendFailed."""

from __future__ import annotations

import os
from typing import Protocol

import httpx

from portal_app.models import OutboxMessage


class SendFailed(Exception):
    pass


class Transport(Protocol):
    name: str

    def send(self, message: OutboxMessage, *, sender: str) -> str: ...


# How long a provider may take to answer before the send counts as failed (a hung provider
# must not hold a delivery worker, let alone a database transaction).
PROVIDER_TIMEOUT_SECONDS = 10


def is_remote(transport: Transport) -> bool:
    """Whether sending goes over the network: then only the delivery worker sends, outside any
    database transaction (services/outbox_worker.py). The outbox transport, and in-memory fakes
    in tests, deliver at once."""
    return bool(getattr(transport, "remote", False))


class OutboxTransport:
    """Keeps the message in the outbox only: staff and the CLI read it there."""

    name = "outbox"

    def send(self, message: OutboxMessage, *, sender: str) -> str:
        return f"outbox-{message.id}"


class ResendTransport:
    """Email through Resend; the outbox idempotency key stops duplicate sends on retry."""

    name = "resend"
    remote = True

    def __init__(self, api_key: str, *, timeout: float = PROVIDER_TIMEOUT_SECONDS) -> None:
        self.api_key = api_key
        self.timeout = timeout

    def __repr__(self) -> str:  # never show the API key
        return f"ResendTransport(timeout={self.timeout!r})"

    def send(self, message: OutboxMessage, *, sender: str) -> str:
        import resend
        from resend.http_client_requests import RequestsClient

        resend.api_key = self.api_key
        # The SDK waits 30 s by default; a hung provider gets ours. (Only the worker sends.)
        resend.default_http_client = RequestsClient(timeout=self.timeout)  # type: ignore[arg-type]
        params: resend.Emails.SendParams = {"from": sender, "to": [message.to_address],
                                            "subject": message.subject, "text": message.body_text}
        if message.body_html:
            params["html"] = message.body_html
        try:
            response = resend.Emails.send(params, {"idempotency_key": message.idempotency_key})
        except Exception as exc:  # the SDK raises several types; all mean "not sent"
            text = f"{type(exc).__name__}: {exc}"
            if "timed out" in text.lower():
                raise SendFailed(f"Resend did not answer within {self.timeout:g} seconds.") from None
            raise SendFailed(text[:900]) from None
        return str(response.get("id", "")) if isinstance(response, dict) else str(response)


class TwilioTransport:
    """Text messages through Twilio's Messages REST endpoint (plain httpx, no SDK)."""

    name = "twilio"
    remote = True
    API = "https://api.twilio.com/2010-04-01/Accounts/{sid}/Messages.json"
    TIMEOUT = httpx.Timeout(float(PROVIDER_TIMEOUT_SECONDS))

    def __init__(self, account_sid: str, auth_token: str, from_number: str,
                 client: httpx.Client | None = None) -> None:
        self.account_sid = account_sid
        self._auth_token = auth_token
        self.from_number = from_number
        self._client = client  # tests pass one with an httpx.MockTransport

    def __repr__(self) -> str:  # never show the auth token
        return f"TwilioTransport(account_sid={self.account_sid!r}, from={self.from_number!r})"

    def _post(self, url: str, data: dict[str, str]) -> httpx.Response:
        auth = (self.account_sid, self._auth_token)
        if self._client is not None:
            return self._client.post(url, data=data, auth=auth, timeout=self.TIMEOUT)
        with httpx.Client(timeout=self.TIMEOUT) as client:
            return client.post(url, data=data, auth=auth)

    def send(self, message: OutboxMessage, *, sender: str) -> str:
        url = self.API.format(sid=self.account_sid)
        data = {"To": message.to_address, "From": self.from_number, "Body": message.body_text}
        try:
            response = self._post(url, data)
        except httpx.TimeoutException:
            raise SendFailed("Twilio did not answer within 10 seconds.") from None
        except httpx.HTTPError as exc:
            raise SendFailed(f"Could not reach Twilio: {type(exc).__name__}.") from None
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        if response.status_code >= 400:
            detail = str(payload.get("message") or response.reason_phrase or "no detail")
            code = payload.get("code")
            detail = detail.replace(self._auth_token, "***") if self._auth_token else detail
            raise SendFailed(f"Twilio refused the message (HTTP {response.status_code}"
                             f"{f', code {code}' if code else ''}): {detail}"[:900])
        return str(payload.get("sid", ""))


def _twilio_from_env() -> TwilioTransport | None:
    sid = os.environ.get("TWILIO_ACCOUNT_SID", "")
    token = os.environ.get("TWILIO_AUTH_TOKEN", "")
    sender = os.environ.get("TWILIO_FROM", "")
    if sid and token and sender:
        return TwilioTransport(sid, token, sender)
    return None


_override: dict[str, Transport] = {}


def use(channel: str, transport: Transport | None) -> None:
    """Replace the transport of a channel (tests); None restores the default."""
    if transport is None:
        _override.pop(channel, None)
    else:
        _override[channel] = transport


def for_channel(channel: str) -> Transport:
    """The transport of a channel. Letters always stay in the outbox: staff print them."""
    if channel in _override:
        return _override[channel]
    if channel == "email" and os.environ.get("RESEND_API_KEY"):
        return ResendTransport(os.environ["RESEND_API_KEY"])
    if channel == "sms":
        twilio = _twilio_from_env()
        if twilio is not None:
            return twilio
    return OutboxTransport()
