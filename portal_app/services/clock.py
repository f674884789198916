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


def stamp(value: datetime | None, zone: tzinfo = timezone.utc, *, empty: str = "") -> str:
    """A time for staff lists, headers and logs, in the practice's zone: `display`, or `empty`
    when there is none. Pass `settings.zone(session=...)`."""
    return display(value, zone) if value is not None else empty


def zone_label(local: datetime, zone: tzinfo) -> str:
    """The zone's short name at that moment, as people read it: "CST", "CDT", "UTC"."""
    name = "UTC" if zone is timezone.utc else (local.tzname() or str(zone))
    # Zones without a letter abbreviation give an offset like "+03": say "UTC+03".
    return f"UTC{name}" if name[:1] in "+-" else name


def _local(value: datetime | None, zone: tzinfo) -> datetime | None:
    at = aware(value)
    return at.astimezone(zone) if at is not None else None


def spelled(value: datetime | None, zone: tzinfo = timezone.utc, *, with_time: bool = True) -> str:
    """A time as a patient reads it, in the practice's zone, in plain words:
    "Monday, December 7, 2026 at 1:55 PM (CST)" ('' when none); with_time=False gives the day
    alone, "December 7, 2026" (a letter's date). Pass `settings.zone(session=...)`."""
    local = _local(value, zone)
    if local is None:
        return ""
    if not with_time:
        return f"{local:%B} {local.day}, {local.year}"
    hour = local.hour % 12 or 12
    return (f"{local:%A}, {local:%B} {local.day}, {local.year} at {hour}:{local:%M} {local:%p} "
            f"({zone_label(local, zone)})")


def display(value: datetime | None, zone: tzinfo = timezone.utc, *, with_time: bool = True) -> str:
    """A time as staff and patients read it, in the practice's zone: "04/05/2021 2:48PM (CDT)";
    with_time=False gives the practice's day alone, "04/05/2021"."""
    local = _local(value, zone)
    if local is None:
        return ""
    if not with_time:
        return f"{local:%m/%d/%Y}"
    hour = local.hour % 12 or 12
    return f"{local:%m/%d/%Y} {hour}:{local:%M%p} ({zone_label(local, zone)})"
