"""Handing a new session to the browser as an HttpOnly cookie, through a one-time grant.

Reflex sets cookies from JavaScript, so a cookie it sets can be read by any script on the
page. Instead, a sign-in handler turns the session it just opened into a grant (`issue`): a
random value that works once, for `GRANT_LIFETIME`, and only at the session route
(`portal_app/session_routes.py`). The page POSTs it there; the route `redeem`s it for a
fresh session id, which only ever travels in its `Set-Cookie: ...; HttpOnly` header. The id the
handler saw dies at `issue`, so no session id ever sits in page state or in a websocket frame.

Both the grant and the session are the one `AuthSession` row: while a grant is out, the row's
`token_hash` is a grant mark ("g" + 63 hex digits of the grant's SHA-256), a value no cookie's
SHA-256 (64 hex digits) can equal, so a grant is never a session id itself.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from portal_app.models import AuthSession, SessionKind
from portal_app.services import clock, tokens

GRANT_LIFETIME = timedelta(seconds=60)
_MARK = "g"


def _grant_hash(grant: str) -> str:
    return _MARK + tokens.digest(grant)[1:]


def issue(*, session: Session, session_id: str) -> str:
    """The one-time grant for the session just opened with `session_id` ("" if it is not live).

    The plain `session_id` stops working here: only the grant can bring the session to a browser.
    """
    if not session_id or len(session_id) > 100:
        return ""
    row = session.exec(select(AuthSession).where(AuthSession.token_hash == tokens.digest(session_id))).first()
    if row is None or row.revoked_at is not None:
        return ""
    grant = tokens.new_session_token()
    row.token_hash = _grant_hash(grant)
    row.last_seen_at = clock.now()
    session.add(row)
    session.commit()
    return grant


def redeem(*, session: Session, grant: str, kind: SessionKind) -> str | None:
    """A fresh session id for a live grant of `kind` (the grant dies); None otherwise.

    A grant older than `GRANT_LIFETIME` ends its session: nobody can bring it to a browser now.
    """
    if not grant or len(grant) > 100:
        return None
    row = session.exec(select(AuthSession).where(AuthSession.token_hash == _grant_hash(grant))).first()
    if row is None or row.kind != kind or row.revoked_at is not None:
        return None
    now = clock.now()
    if now - clock.aware(row.last_seen_at) > GRANT_LIFETIME or clock.aware(row.expires_at) <= now:
        row.revoked_at = now
        session.add(row)
        session.commit()
        return None
    plain = tokens.new_session_token()
    row.token_hash = tokens.digest(plain)
    row.last_seen_at = now
    session.add(row)
    session.commit()
    return plain
