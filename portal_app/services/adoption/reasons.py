"""Why a chart's onboarding is stuck, decided when the board is read.

Expiry and lockouts depend on the clock, so the reason is never stored: `reason_of` decides
it for one `ChartAdoption` row in Python and `reason_case` says the same in SQL for the keyset
list. Both walk `Reason` in declaration order and take the first rule that holds; a test runs
both over the same rows. A chart with portal access off is never stuck (it is not onboarding).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, or_
from sqlmodel import col

from portal_app.models import ChartAdoption
from portal_app.services import clock
from portal_app.services.adoption.labels import DETAILS_TRIES, LETTER_STALE_DAYS, Channel, Reason


def _before(value: datetime | None, moment: datetime) -> bool:
    at = clock.aware(value)
    return at is not None and at < moment


def reason_of(row: ChartAdoption, now: datetime) -> Reason | None:
    """The first reason that holds for the chart at `now`, or None when it is not stuck."""
    if not row.enabled:
        return None
    locked = clock.aware(row.locked_until)
    if locked is not None and locked > now:
        return Reason.LOCKED_OUT
    if row.account_at is not None:
        if row.first_sign_in_at is not None:
            return None
        if _before(row.temp_password_expires_at, now):
            return Reason.TEMP_PASSWORD_EXPIRED
        return Reason.NEVER_SIGNED_IN
    return _attempt_reason(row, now)


def _attempt_reason(row: ChartAdoption, now: datetime) -> Reason | None:
    """No account yet: what became of the newest invitation, key or token."""
    if row.attempt_at is None:
        return None
    if row.delivery_failed == "email":
        return Reason.EMAIL_FAILED
    if row.delivery_failed == "sms":
        return Reason.TEXT_FAILED
    if row.attempt_used:
        return None
    if row.attempt_tries >= DETAILS_TRIES:
        return Reason.DETAILS_MISMATCH
    if row.attempt_channel == Channel.KEY_LETTER and _before(row.attempt_at, now - timedelta(days=LETTER_STALE_DAYS)):
        return Reason.LETTER_UNREDEEMED
    if _before(row.attempt_expires_at, now):
        return Reason.LINK_EXPIRED
    if row.attempt_opened_at is not None:
        return Reason.OPENED_NO_ACCOUNT
    return None


def _rules(now: datetime) -> list[tuple[Any, Reason | None]]:
    """(condition, reason) pairs in the order `reason_of` decides; a None reason ends the walk."""
    a = ChartAdoption
    has_account = col(a.account_at).is_not(None)
    no_account = col(a.account_at).is_(None)
    return [
        (col(a.enabled).is_(False), None),
        (col(a.locked_until) > now, Reason.LOCKED_OUT),
        (and_(has_account, col(a.first_sign_in_at).is_not(None)), None),
        (and_(has_account, col(a.temp_password_expires_at) < now), Reason.TEMP_PASSWORD_EXPIRED),
        (has_account, Reason.NEVER_SIGNED_IN),
        (col(a.attempt_at).is_(None), None),
        (a.delivery_failed == "email", Reason.EMAIL_FAILED),
        (a.delivery_failed == "sms", Reason.TEXT_FAILED),
        (col(a.attempt_used).is_(True), None),
        (col(a.attempt_tries) >= DETAILS_TRIES, Reason.DETAILS_MISMATCH),
        (and_(a.attempt_channel == Channel.KEY_LETTER.value,
              col(a.attempt_at) < now - timedelta(days=LETTER_STALE_DAYS)), Reason.LETTER_UNREDEEMED),
        (col(a.attempt_expires_at) < now, Reason.LINK_EXPIRED),
        (and_(no_account, col(a.attempt_opened_at).is_not(None)), Reason.OPENED_NO_ACCOUNT),
    ]


def reason_case(now: datetime) -> Any:
    """A SQL expression giving the `Reason` value of each row at `now` (NULL: not stuck)."""
    return case(*[(condition, reason.value if reason else None) for condition, reason in _rules(now)],
                else_=None)


def candidates(now: datetime) -> Any:
    """A cheap, index-friendly superset of the stuck rows: access on and either part-way
    through (sent, opened or account made, not yet signed in) or locked now."""
    a = ChartAdoption
    return and_(col(a.enabled).is_(True),
                or_(col(a.stage).between(3, 5), col(a.locked_until) > now))
