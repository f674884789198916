"""The practice's portal settings (one row)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timezone
from functools import partial
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from portal_app.models import PracticeSettings
from portal_app.services import audit, clock, sessions
from portal_app.services import sms_countries as sms_countries_module
from portal_app.services.errors import FormInvalid, InvalidInput
from portal_app.services.validation import clean_text, normalize_email


@dataclass(frozen=True)
class SettingsView:
    portal_active: bool
    practice_name: str
    practice_phone: str
    portal_base_url: str
    sender_address: str
    invitation_hours: int
    reset_minutes: int
    token_length: int = 6
    connect_token_days: int = 3
    key_days: int = 3
    letter_key_days: int = 21
    verification_minutes: int = 30
    time_zone: str = "UTC"
    inactive_months: int = 0
    fhir_chart_system: str = ""
    sms_countries: str = "US"


# Connect Patient's numbers: field -> (label as the form shows it, lowest, highest).
CONNECT_RANGES: dict[str, tuple[str, int, int]] = {
    "token_length": ("Token length", 4, 8),
    "connect_token_days": ("Connect token lifetime", 1, 14),
    "key_days": ("Connection key lifetime (email or text)", 1, 14),
    "letter_key_days": ("Connection key lifetime (letter)", 1, 60),
    "verification_minutes": ("Verification link lifetime", 5, 1440),
}


def get(*, session: Session) -> PracticeSettings:
    row = session.get(PracticeSettings, 1)
    if row is None:
        try:
            with session.begin_nested():
                session.add(PracticeSettings(id=1))
        except IntegrityError:  # another worker made it a moment ago (a new database)
            pass
        session.commit()
        row = session.get(PracticeSettings, 1)
        assert row is not None
    return row


def zone(*, session: Session) -> ZoneInfo | timezone:
    """The practice's time zone (UTC when unset or unknown)."""
    return zone_named(get(session=session).time_zone)


def zone_named(name: str | None) -> ZoneInfo | timezone:
    """The zone of a stored name (UTC when unset or unknown)."""
    name = name or ""
    try:
        return ZoneInfo(name) if name else timezone.utc
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def view(*, session: Session) -> SettingsView:
    row = get(session=session)
    return SettingsView(
        portal_active=row.portal_active, practice_name=row.practice_name,
        practice_phone=row.practice_phone, portal_base_url=row.portal_base_url,
        sender_address=row.sender_address, invitation_hours=row.invitation_hours,
        reset_minutes=row.reset_minutes, token_length=row.token_length,
        connect_token_days=row.connect_token_days, key_days=row.key_days,
        letter_key_days=row.letter_key_days, verification_minutes=row.verification_minutes,
        time_zone=row.time_zone, inactive_months=row.inactive_months,
        fhir_chart_system=row.fhir_chart_system, sms_countries=row.sms_countries,
    )


def _base_url(value: str) -> str:
    value = clean_text(value, field="portal_base_url", label="Portal URL", max_length=300,
                       required=True).rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise InvalidInput("Enter the portal's address, like https://portal.example.org.",
                           field="portal_base_url")
    return value


def _time_zone(value: str) -> str:
    name = clean_text(value, field="time_zone", label="Time zone", max_length=64, required=True)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("Enter a time zone name like America/Chicago or UTC.", field="time_zone") from None
    return name


INACTIVE_MONTHS = ("Months without a visit", 0, 120)
_URI = re.compile(r"(https?://[^\s/?#]+[^\s]*|urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:[^\s]+)")


def _fhir_system(value: str) -> str:
    """A FHIR identifier system (a URL or a URN), or "" for the MR-typed identifier."""
    text = clean_text(value, field="fhir_chart_system", label="FHIR identifier system", max_length=300)
    if text and not _URI.fullmatch(text):
        raise InvalidInput("Enter the identifier system as a URI, like https://ehr.example.org/mrn or "
                           "urn:oid:2.16.840.1.113883.19.5, or leave it blank.", field="fhir_chart_system")
    return text


def _whole(value: str | int, *, field: str, label: str, low: int, high: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{label} must be a whole number.", field=field) from None
    if not low <= number <= high:
        raise InvalidInput(f"{label} must be between {low} and {high}.", field=field)
    return number


def _optional_checks(*, time_zone: str | None, inactive_months: str | int | None,
                     fhir_chart_system: str | None, sms_countries: str | None = None,
                     **connect: str | int | None) -> dict[str, Callable[[], object]]:
    """The checks of the fields a caller may leave out (None keeps the stored value)."""
    checks: dict[str, Callable[[], object]] = {}
    if sms_countries is not None:
        checks["sms_countries"] = partial(sms_countries_module.parse_countries, sms_countries)
    if time_zone is not None:
        checks["time_zone"] = partial(_time_zone, time_zone)
    if inactive_months is not None:
        label, low, high = INACTIVE_MONTHS
        checks["inactive_months"] = partial(_whole, inactive_months, field="inactive_months", label=label,
                                            low=low, high=high)
    if fhir_chart_system is not None:
        checks["fhir_chart_system"] = partial(_fhir_system, fhir_chart_system)
    for name, raw in connect.items():
        if raw is not None:
            label, low, high = CONNECT_RANGES[name]
            checks[name] = partial(_whole, raw, field=name, label=label, low=low, high=high)
    return checks


def update(*, session: Session, actor_id: int, portal_active: bool, practice_name: str,
           practice_phone: str, portal_base_url: str, sender_address: str,
           invitation_hours: str | int, reset_minutes: str | int,
           token_length: str | int | None = None, connect_token_days: str | int | None = None,
           key_days: str | int | None = None, letter_key_days: str | int | None = None,
           verification_minutes: str | int | None = None, time_zone: str | None = None,
           inactive_months: str | int | None = None, fhir_chart_system: str | None = None,
           sms_countries: str | None = None) -> SettingsView:
    """Validate every field first (so one bad field changes nothing), then save and audit.

    The Connect Patient numbers (token length and lifetimes), the time zone, the no-visit months
    and the FHIR identifier system keep their stored value when None is passed. (The caller runs
    `access_rules.apply_inactivity` after a save: settings cannot import the rules.)
    """
    errors: dict[str, str] = {}
    values: dict[str, object] = {"portal_active": bool(portal_active)}
    checks = {
        "practice_name": lambda: clean_text(practice_name, field="practice_name",
                                            label="Practice name", required=True),
        "practice_phone": lambda: clean_text(practice_phone, field="practice_phone",
                                             label="Practice phone", max_length=40, required=True),
        "portal_base_url": lambda: _base_url(portal_base_url),
        "sender_address": lambda: normalize_email(sender_address, field="sender_address"),
        "invitation_hours": lambda: _whole(invitation_hours, field="invitation_hours",
                                           label="Invitation lifetime", low=1, high=336),
        "reset_minutes": lambda: _whole(reset_minutes, field="reset_minutes",
                                        label="Reset lifetime", low=5, high=1440),
    }
    checks.update(_optional_checks(
        time_zone=time_zone, inactive_months=inactive_months, fhir_chart_system=fhir_chart_system,
        sms_countries=sms_countries, token_length=token_length, connect_token_days=connect_token_days,
        key_days=key_days, letter_key_days=letter_key_days, verification_minutes=verification_minutes))
    for name, check in checks.items():
        try:
            values[name] = check()
        except InvalidInput as exc:
            errors[name] = exc.message
    if errors:
        raise FormInvalid(errors)
    row = get(session=session)
    changes = [f"{name}: {getattr(row, name)!r} -> {value!r}" for name, value in values.items()
               if getattr(row, name) != value]
    if row.portal_active and not values["portal_active"]:
        # Switched off: patients are signed out now, not merely refused until it is back on.
        ended = sessions.end_all_portal(session=session)
        changes.append(f"patient sessions ended={ended}")
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = clock.now()
    session.add(row)
    if changes:
        audit.record(session=session, actor=audit.Actor.staff(actor_id), action="settings.update",
                     detail="; ".join(changes))
    session.commit()
    return view(session=session)

