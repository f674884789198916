"""Transports deliver an outbox message. Each returns a provider id or raises SendFailed."""

from __future__ import annotations

import os
from typing import Protocol

from portal_app.models import OutboxMessage


class SendFailed(Exception):
    pass


class Transport(Protocol):
    name: str

    def send(self, message: OutboxMessage, *, sender: str) -> str: ...


class OutboxTransport:
    """Keeps the message in the outbox only: staff and the CLI read it there."""

    name = "outbox"

    def send(self, message: OutboxMessage, *, sender: str) -> str:
        return f"outbox-{message.id}"


class ResendTransport:
    """Email through Resend; the outbox idempotency key stops duplicate sends on retry."""

    name = "resend"

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key

    def send(self, message: OutboxMessage, *, sender: str) -> str:
        import resend

        resend.api_key = self.api_key
        params = {"from": sender, "to": [message.to_address], "subject": message.subject,
                  "text": message.body_text}
        if message.body_html:
            params["html"] = message.body_html
        try:
            response = resend.Emails.send(params, {"idempotency_key": message.idempotency_key})
        except Exception as exc:  # the SDK raises several types; all mean "not sent"
            raise SendFailed(f"{type(exc).__name__}: {exc}"[:900]) from None
        return str(response.get("id", "")) if isinstance(response, dict) else str(response)


_override: dict[str, Transport] = {}


def use(channel: str, transport: Transport | None) -> None:
    """Replace the transport of a channel (tests); None restores the default."""
    if transport is None:
        _override.pop(channel, None)
    else:
        _override[channel] = transport


def for_channel(channel: str) -> Transport:
    if channel in _override:
        return _override[channel]
    if channel == "email" and os.environ.get("RESEND_API_KEY"):
        return ResendTransport(os.environ["RESEND_API_KEY"])
    return OutboxTransport()
