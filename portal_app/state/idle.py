"""Automatic logoff (HIPAA 164.312(a)(2)(iii)): what the idle timer of a signed-in page calls.

The timer itself runs in the browser (components/idle_timer.py): it warns two minutes before
the server's idle limit and, at the limit, covers the page and calls `sign_out_idle`, which
ends the session, forgets every state of the tab (state/phi.py) and opens the sign-in page
with a sentence saying why. "Stay signed in" (and activity after a quiet minute) calls
`keep_alive`, which looks the session up again: that is what keeps it alive on the server.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import reflex as rx

from portal_app import routes
from portal_app.models import SessionKind
from portal_app.services import portal_auth, sessions, staff_auth
from portal_app.state.base import PortalSessionState, StaffSessionState, call
from portal_app.state.phi import forget_side
from portal_app.state.session_cookie import clear_cookie

# The warning comes this long before the server's idle limit (sessions.IDLE).
WARN_BEFORE = timedelta(minutes=2)
ENDED_PARAM = "ended"
ENDED_IDLE = "idle"

IDLE_MINUTES = int(sessions.IDLE.total_seconds() // 60)
WARN_MINUTES = int(WARN_BEFORE.total_seconds() // 60)
IDLE_WARNING = (f"You will be signed out in {WARN_MINUTES} minutes because there has been no activity on this "
                "page. Select Stay signed in to keep working.")
IDLE_SIGNED_OUT = (f"You were signed out because there was no activity for {IDLE_MINUTES} minutes, so that "
                   "no one else can read your information on this screen. Sign in again to go on.")


def ended_url(login_route: str) -> str:
    """The sign-in page, saying the tab was signed out for being idle."""
    return f"{login_route}?{ENDED_PARAM}={ENDED_IDLE}"


class StaffIdleState(StaffSessionState):
    """The idle timer of a staff page."""

    @rx.event
    async def keep_alive(self):
        """Look the session up again (that touches it); gone already: to sign-in, forgetting."""
        if await self._principal() is None:
            await forget_side(self, StaffSessionState)
            return rx.redirect(ended_url(routes.STAFF_LOGIN))
        return None

    @rx.event
    async def sign_out_idle(self):
        """The idle limit was reached in this tab: end the session and forget the tab."""
        await call(partial(staff_auth.sign_out, session_id=self.staff_sid))
        await forget_side(self, StaffSessionState, public_too=True)
        return clear_cookie(SessionKind.STAFF, ended_url(routes.STAFF_LOGIN))


class PortalIdleState(PortalSessionState):
    """The idle timer of a patient page."""

    @rx.event
    async def keep_alive(self):
        if await self._portal_principal() is None:
            await forget_side(self, PortalSessionState)
            return rx.redirect(ended_url(routes.LOGIN))
        return None

    @rx.event
    async def sign_out_idle(self):
        await call(partial(portal_auth.sign_out, session_id=self.portal_sid))
        await forget_side(self, PortalSessionState, public_too=True)
        return clear_cookie(SessionKind.PORTAL, ended_url(routes.LOGIN))


class SignedOutNoticeState(rx.State):
    """Whether the sign-in page was opened by the idle timer (a fixed sentence; no PHI)."""

    @rx.var
    def ended_idle(self) -> bool:
        return self.router.url.query_parameters.get(ENDED_PARAM, "") == ENDED_IDLE
