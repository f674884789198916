"""The session cookies: set and cleared by plain HTTP routes, HttpOnly, read from the handshake.

A script on the page can never read a session id:
- Sign-in: the handler turns the new session into a one-time grant (services/session_grants.py)
  and answers with `exchange_script`: the page POSTs the grant to `/auth/session`, which answers
  `Set-Cookie: <name>=<fresh id>; HttpOnly; SameSite=Strict; Path=/` (+ `Secure` when the portal
  is served over https), with no Max-Age (a session cookie: it dies with the browser); then
  the page loads the next address, so the websocket's new handshake carries the cookie.
- Every event: handlers read the id from the handshake's Cookie header on the server
  (`read`, used by `SessionState.staff_sid` / `portal_sid`); Reflex does not send that header
  to the browser.
- Sign-out and expiry: `clear_script` POSTs to `/auth/session/end`, which answers with an
  expired `Set-Cookie`.

Both routes refuse a request whose Origin is another site's (a forged sign-in or sign-out).
"""

from __future__ import annotations

import asyncio
import json
import os
from http.cookies import SimpleCookie

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal_app import db, routes
from portal_app.models import SessionKind
from portal_app.services import session_grants, settings

STAFF_COOKIE = "portal_staff_session"
PATIENT_COOKIE = "portal_patient_session"
COOKIE_NAMES = {SessionKind.STAFF: STAFF_COOKIE, SessionKind.PORTAL: PATIENT_COOKIE}
MAX_BODY = 1024
NO_STORE = {"Cache-Control": "no-store"}


def read(cookie_header: str, kind: SessionKind) -> str:
    """The session id of `kind` in a Cookie header ("" when absent or unreadable)."""
    if not cookie_header:
        return ""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except Exception:  # a malformed header from a crafted client: no session
        return ""
    morsel = jar.get(COOKIE_NAMES[kind])
    return morsel.value if morsel is not None else ""


def _post(path: str, body: dict[str, str], then: str | None) -> str:
    """JavaScript that POSTs `body` same-origin to `path`, then (if `then`) loads that address."""
    after = f"window.location.replace({json.dumps(then)});" if then else ""
    return (f"fetch({json.dumps(path)}, {{method: 'POST', credentials: 'same-origin', "
            f"headers: {{'Content-Type': 'application/json'}}, body: {json.dumps(json.dumps(body))}}})"
            f".catch(() => null).then(() => {{ {after} }});")


def exchange_script(kind: SessionKind, grant: str, then: str) -> str:
    """The page's half of a sign-in: the grant to `/auth/session`, then a fresh load of `then`."""
    return _post(routes.SESSION_COOKIE, {"kind": kind.value, "grant": grant}, then)


def clear_script(kind: SessionKind, then: str | None = None) -> str:
    """The page's half of sign-out or expiry: `/auth/session/end` clears the cookie."""
    return _post(routes.SESSION_COOKIE_END, {"kind": kind.value}, then)


def _same_origin(request: Request) -> bool:
    """The request comes from a page of this portal (browsers send Origin with every POST)."""
    origin = request.headers.get("origin", "")
    if not origin:
        return False
    allowed = {os.environ.get("PORTAL_BASE_URL", "http://localhost:3000").rstrip("/")}
    host = request.headers.get("host", "")
    return origin in allowed or origin.split("://", 1)[-1] == host


def portal_is_https(request: Request, portal_base_url: str = "") -> bool:
    """Cookies get `Secure` and pages HSTS when the portal is served over https."""
    return (request.url.scheme == "https" or portal_base_url.startswith("https://")
            or os.environ.get("PORTAL_BASE_URL", "").startswith("https://"))


async def _body(request: Request) -> dict:
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        return {}
    raw = await request.body()
    try:
        data = json.loads(raw[:MAX_BODY]) if raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _kind(value: object) -> SessionKind | None:
    return next((kind for kind in SessionKind if kind.value == value), None)


def _redeem(grant: str, kind: SessionKind) -> tuple[str | None, str]:
    with db.session_scope() as session:
        plain = session_grants.redeem(session=session, grant=grant, kind=kind)
        return plain, settings.get(session=session).portal_base_url


async def open_session(request: Request) -> Response:
    """POST /auth/session {kind, grant}: the grant's session as an HttpOnly cookie (204), or 403."""
    data = await _body(request)
    kind, grant = _kind(data.get("kind")), data.get("grant")
    if not _same_origin(request) or kind is None or not isinstance(grant, str):
        return Response(status_code=403, headers=NO_STORE)
    plain, base_url = await asyncio.to_thread(_redeem, grant, kind)
    if plain is None:
        return Response(status_code=403, headers=NO_STORE)
    response = Response(status_code=204, headers=NO_STORE)
    response.set_cookie(COOKIE_NAMES[kind], plain, path="/", secure=portal_is_https(request, base_url),
                        httponly=True, samesite="strict")
    return response


async def end_session(request: Request) -> Response:
    """POST /auth/session/end {kind}: an expired cookie of that kind (the session was ended by the
    handler that signed out, or had already expired)."""
    data = await _body(request)
    kind = _kind(data.get("kind"))
    if not _same_origin(request) or kind is None:
        return Response(status_code=403, headers=NO_STORE)
    response = Response(status_code=204, headers=NO_STORE)
    response.delete_cookie(COOKIE_NAMES[kind], path="/", secure=portal_is_https(request),
                           httponly=True, samesite="strict")
    return response


session_routes = [
    Route(routes.SESSION_COOKIE, open_session, methods=["POST"]),
    Route(routes.SESSION_COOKIE_END, end_session, methods=["POST"]),
]
