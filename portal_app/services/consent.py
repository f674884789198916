"""What a chart has agreed to receive: the one place every sending path asks.

A chart's consent ("Allow email", "Allow text messages") governs messages to the chart's own
email address and mobile number. A representative's own address is theirs, not the chart's, so
messages to it are not governed by the chart's consent.
"""

from __future__ import annotations

from portal_app.models import Patient
from portal_app.services.errors import InvalidInput

EMAIL = "email"
SMS = "sms"

REFUSED = {
    EMAIL: "The patient has not agreed to email (Allow email is off on the chart).",
    SMS: "The patient has not agreed to text messages (Allow text messages is off on the chart).",
}


def _is_chart_address(patient: Patient, channel: str, destination: str) -> bool:
    if channel == EMAIL:
        return destination.strip().lower() == (patient.email or "").strip().lower()
    return destination.strip() == (patient.mobile_phone or "").strip()


def allows(patient: Patient, channel: str, destination: str | None = None) -> bool:
    """Whether a message by `channel` may go to `destination` (the chart's own address when None)."""
    if destination is not None and not _is_chart_address(patient, channel, destination):
        return True
    if channel == EMAIL:
        return bool(patient.allow_email)
    if channel == SMS:
        return bool(patient.allow_sms)
    return True  # a printed letter goes by post


def require(patient: Patient, channel: str, destination: str | None = None, *, field: str = "") -> None:
    """Raise InvalidInput (with a message fit to show beside `field`) when consent is missing."""
    if not allows(patient, channel, destination):
        raise InvalidInput(REFUSED[channel], field=field or channel)
