"""One place that tells the time, so tests can freeze it."""

from __future__ import annotations

from datetime import datetime, timezone

_frozen: datetime | None = None


def now() -> datetime:
    return _frozen or datetime.now(timezone.utc)


def freeze(at: datetime | None) -> None:
    """Fix the clock at `at` (aware, UTC); None lets it run again. For tests."""
    global _frozen
    _frozen = at


def aware(value: datetime | None) -> datetime | None:
    """SQLite may hand back naive datetimes from raw SQL; treat them as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value
