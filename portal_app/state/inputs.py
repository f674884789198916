"""What a client sends, as the types a handler expects.

Any browser (or a crafted websocket frame) can send anything for any argument: an id may
arrive as text, a dict or a boolean, a form field as a list. Each helper here returns the
expected type or its empty value, never raises.
"""

from __future__ import annotations

import typing
from typing import Any

MAX_ID = 10**12
MAX_TEXT = 10_000


def as_id(value: Any) -> int:
    """A positive id, or 0 (booleans are not ids): a whole number where 0 means none."""
    return as_int(value)


def as_int(value: Any) -> int:
    """A whole number from 0 up (page numbers, offsets), or 0."""
    if isinstance(value, bool):
        return 0
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return 0
    return number if 0 <= number < MAX_ID else 0


def as_text(value: Any, limit: int = MAX_TEXT) -> str:
    """Text as typed (no NUL bytes), cut at `limit`; anything that is not text is empty."""
    return value.replace("\x00", "")[:limit] if isinstance(value, str) else ""


def as_bool(value: Any) -> bool:
    return value in (True, 1, "true", "on", "1")


def as_texts(value: Any, limit: int = MAX_TEXT) -> list[str]:
    """A list of texts (checkbox groups, selections); other items are dropped."""
    if not isinstance(value, (list, tuple)):
        return []
    return [item[:limit] for item in value if isinstance(item, str)]


def form_text(form_data: Any, name: str, limit: int = MAX_TEXT) -> str:
    """One submitted form field as text ("" when missing or not text)."""
    return as_text(form_data.get(name, "") if isinstance(form_data, dict) else "", limit)


def form_checked(form_data: Any, name: str) -> bool:
    """A submitted checkbox: ticked or not."""
    return as_bool(form_data.get(name) if isinstance(form_data, dict) else None)


def coerce(value: Any, hint: Any) -> Any:
    """`value` as the annotated type of a handler argument (see the module's docstring)."""
    origin = typing.get_origin(hint) or hint
    if hint is int:
        return as_int(value)
    if hint is str:
        # Ids bound in the page (`on_click=State.download(row.id)`) arrive as numbers.
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return str(value) if is_number else as_text(value)
    if hint is bool:
        return as_bool(value)
    if origin is dict:
        return value if isinstance(value, dict) else {}
    if origin is list:
        args = typing.get_args(hint)
        return as_texts(value) if args in ((str,), ()) else (value if isinstance(value, list) else [])
    return value


def form_as_typed(form_data: Any, name: str) -> str:
    """One submitted field exactly as sent, for credentials ("" when missing or not text).

    Unlike `form_text`, nothing is removed or cut: a password or username is checked as the
    user typed it, so one holding a NUL byte or too long is refused, not quietly changed.
    """
    value = form_data.get(name, "") if isinstance(form_data, dict) else ""
    return value if isinstance(value, str) else ""
