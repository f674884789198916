"""The one way a handler brings a new session to the browser, and clears an ended one.

Every sign-in (staff, patient, a set-up or reset link, a new account with a key) ends in
`open_session`: the session just opened becomes a one-time grant, and the page exchanges it at
`/auth/session` for an HttpOnly cookie, then loads `then` afresh (see portal_app/session_cookies.py).
A step that must come between the password and the session (a second factor) runs before it.
"""

from __future__ import annotations

from functools import partial

import reflex as rx

from portal_app import routes, session_cookies
from portal_app.models import SessionKind
from portal_app.services import session_grants
from portal_app.state.base import call

SIGN_IN_PAGES = {SessionKind.STAFF: routes.STAFF_LOGIN, SessionKind.PORTAL: routes.LOGIN}


async def open_session(kind: SessionKind, session_id: str, then: str):
    """The event that signs this browser in with `session_id` and goes on to `then`.

    `session_id` stops working here (only the grant it becomes can reach a browser).
    """
    grant = await call(partial(session_grants.issue, session_id=session_id))
    if not grant:  # ended in between (e.g. disabled): the sign-in page again
        return rx.redirect(SIGN_IN_PAGES[kind])
    return rx.call_script(session_cookies.exchange_script(kind, grant, then))


def clear_cookie(kind: SessionKind, then: str | None = None):
    """The event that removes this browser's cookie of `kind` (its session has ended)."""
    return rx.call_script(session_cookies.clear_script(kind, then))
