"""One place that tells the time, so tests can freeze it."""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo
from typing import overload

_frozen: datetime | None = None


def now() -> datetime:
    return _frozen or datetime.now(timezone.utc)


def freeze(at: datetime | None) -> None:
    """Fix the clock at `at` (aware, UTC); None lets it run again. For tests."""
    global _frozen
    _frozen = at


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...
@overload
def aware(value: datetime | None) -> datetime | None: ...


def aware(value: datetime | None) -> datetime | None:
    """SQLite may hand back naive datetimes from raw SQL; treat them as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def stamp(value: datetime | None, *, empty: str = "") -> str:
    """A time for staff lists and logs, in UTC: "2026-11-29 14:05 UTC" (`empty` when there is none)."""
    at = aware(value)
    return at.strftime("%Y-%m-%d %H:%M UTC") if at is not None else empty


def spelled(value: datetime | None, zone: tzinfo = timezone.utc) -> str:
    """A time as a patient reads it, in the practice's zone, in plain words:
    "Monday, December 7, 2026 at 1:55 PM (CST)" ('' when none). Pass `settings.zone(session=...)`."""
    at = aware(value)
    if at is None:
        return ""
    local = at.astimezone(zone)
    hour = local.hour % 12 or 12
    label = "UTC" if zone is timezone.utc else (local.tzname() or str(zone))
    return f"{local:%A}, {local:%B} {local.day}, {local.year} at {hour}:{local:%M} {local:%p} ({label})"


def display(value: datetime | None, zone: tzinfo = timezone.utc) -> str:
    """A time as staff and patients read it, in the practice's zone: "04/05/2021 2:48PM (CDT)"."""
    at = aware(value)
    if at is None:
        return ""
    local = at.astimezone(zone)
    hour = local.hour % 12 or 12
    label = "UTC" if zone is timezone.utc else (local.tzname() or str(zone))
    return f"{local:%m/%d/%Y} {hour}:{local:%M%p} ({label})"
