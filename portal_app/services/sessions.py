"""Sign-in sessions: our own random ids, stored hashed, idle and absolute limits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from portal_app.models import AuthSession, SessionKind
from portal_app.services import clock, tokens

IDLE = timedelta(minutes=15)
ABSOLUTE = timedelta(hours=12)
# Writing last_seen on every event would make each click a write; a minute is precise enough.
TOUCH_EVERY = timedelta(seconds=60)


def start(*, session: Session, kind: SessionKind, staff_user_id: int | None = None,
          portal_account_id: int | None = None, ip: str = "") -> str:
    """Open a session and return its plain id (for the cookie; only its hash is stored)."""
    plain = tokens.new_session_token()
    now = clock.now()
    session.add(AuthSession(kind=kind, token_hash=tokens.digest(plain), staff_user_id=staff_user_id,
                            portal_account_id=portal_account_id, created_at=now, last_seen_at=now,
                            expires_at=now + ABSOLUTE, ip=ip[:64]))
    return plain


def digest_of(plain: str | None) -> str | None:
    """The stored digest to look a cookie value up by; None for a value no session has (empty,
    or too long to be one of ours: not hashed at all)."""
    if not plain or len(plain) > 100:
        return None
    return tokens.digest(plain)


# What `live` needs of a session row, in this order: a principal's joined read starts with them.
LIVE_COLUMNS = (AuthSession.id, AuthSession.kind, AuthSession.revoked_at, AuthSession.expires_at,
                AuthSession.last_seen_at)


def resolve(*, session: Session, kind: SessionKind, plain: str | None) -> AuthSession | None:
    """The live session for a cookie value, touched; None when unknown, ended or idle. (The
    principals read the same rules through `live`, in their own joined read.)"""
    digest = digest_of(plain)
    row = session.exec(select(AuthSession).where(AuthSession.token_hash == digest)).first() if digest else None
    if row is None or not live(session=session, kind=kind,
                               read=(row.id, row.kind, row.revoked_at, row.expires_at, row.last_seen_at)):
        return None
    return row


def live(*, session: Session, kind: SessionKind, read: Sequence[Any]) -> bool:
    """Whether a session read a moment ago (`read`: its `LIVE_COLUMNS` values) is a live one of
    this kind now. An idle or expired one is ended for good (committed); a live one is touched
    (committed) at most once a minute, so idleness counts from the last event."""
    session_row_id, row_kind, revoked_at, expires_at, last_seen_at = read[:len(LIVE_COLUMNS)]
    if row_kind != kind or revoked_at is not None:
        return False
    now = clock.now()
    if clock.aware(expires_at) <= now or now - clock.aware(last_seen_at) > IDLE:
        _set(session, session_row_id, revoked_at=now)
        return False
    if now - clock.aware(last_seen_at) >= TOUCH_EVERY:
        _set(session, session_row_id, last_seen_at=now)
    return True


def _set(session: Session, session_row_id: int, **values: datetime) -> None:
    session.execute(update(AuthSession).where(col(AuthSession.id) == session_row_id).values(**values))
    session.commit()


def end(*, session: Session, plain: str | None) -> AuthSession | None:
    if not plain:
        return None
    row = session.exec(select(AuthSession).where(
        AuthSession.token_hash == tokens.digest(plain))).first()
    if row is not None and row.revoked_at is None:
        row.revoked_at = clock.now()
        session.add(row)
    return row


def end_all(*, session: Session, staff_user_id: int | None = None,
            portal_account_id: int | None = None, keep_plain: str | None = None) -> int:
    """End every live session of a user (optionally all but the caller's own)."""
    query = select(AuthSession).where(col(AuthSession.revoked_at).is_(None))
    if staff_user_id is not None:
        query = query.where(AuthSession.staff_user_id == staff_user_id)
    elif portal_account_id is not None:
        query = query.where(AuthSession.portal_account_id == portal_account_id)
    else:
        return 0
    keep = tokens.digest(keep_plain) if keep_plain else None
    count = 0
    for row in session.exec(query):
        if row.token_hash != keep:
            row.revoked_at = clock.now()
            session.add(row)
            count += 1
    return count


def end_all_portal(*, session: Session) -> int:
    """End every live patient session (the portal was switched off)."""
    count = 0
    for row in session.exec(select(AuthSession).where(AuthSession.kind == SessionKind.PORTAL,
                                                      col(AuthSession.revoked_at).is_(None))):
        row.revoked_at = clock.now()
        session.add(row)
        count += 1
    return count


def live_digests(*, session: Session, digests: list[str]) -> set[str]:
    """Which of these session digests are live sessions now, read only (nothing is touched, so
    asking does not keep a session alive). For the sweep of tabs whose session has ended."""
    wanted = {d: d for d in digests if d and len(d) <= 100}
    if not wanted:
        return set()
    now = clock.now()
    live = set()
    for row in session.exec(select(AuthSession).where(col(AuthSession.token_hash).in_(list(wanted)))):
        if (row.revoked_at is None and clock.aware(row.expires_at) > now
                and now - clock.aware(row.last_seen_at) <= IDLE):
            live.add(wanted[row.token_hash])
    return live
