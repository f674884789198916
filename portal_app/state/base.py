"""Session plumbing shared by every state class.

Sessions are our own random ids in cookies (Reflex's client token is not a login). Every
handler that touches patient data resolves the principal again from the database, so a
disabled account, an ended session or a changed role takes effect on the next event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import reflex as rx

from portal_app import db, routes
from portal_app.services import portal_auth, staff_auth
from portal_app.services.permissions import Level, Permission
from portal_app.services.portal_auth import PortalPrincipal
from portal_app.services.staff_auth import StaffPrincipal

T = TypeVar("T")
logger = logging.getLogger(__name__)

SESSION_MAX_AGE = 12 * 60 * 60


async def call(fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Run a service in a worker thread with its own database session.

    Hashing, sending and queries block; on the event loop they would stall every client.
    """

    def work() -> T:
        # Our engine (not rx.session()): same URL and SQLite pragmas as the CLI and tests.
        with db.session_scope() as session:
            return fn(session=session, **kwargs)

    return await asyncio.to_thread(work)


_detached: set[asyncio.Task] = set()


def detach(coroutine) -> None:
    """Run work after the answer has gone out (so its duration reveals nothing)."""
    task = asyncio.get_running_loop().create_task(coroutine)
    _detached.add(task)

    def done(finished: asyncio.Task) -> None:
        _detached.discard(finished)
        if not finished.cancelled() and finished.exception() is not None:
            logger.error("Detached task failed", exc_info=finished.exception())

    task.add_done_callback(done)


class SessionState(rx.State):
    """Holds the two session cookies. Values are random ids; only their hashes are stored."""

    staff_sid: str = rx.Cookie("", name="portal_staff_session", same_site="strict",
                               max_age=SESSION_MAX_AGE)
    portal_sid: str = rx.Cookie("", name="portal_patient_session", same_site="strict",
                                max_age=SESSION_MAX_AGE)

    def _ip(self) -> str:
        return self.router.session.client_ip or ""


class StaffSessionState(SessionState):
    """Base of every staff page state: who is signed in, and the guard."""

    staff_name: str = ""
    staff_last_sign_in: str = ""
    staff_failed_since: int = 0
    staff_levels: dict[str, int] = {}

    async def _principal(self) -> StaffPrincipal | None:
        principal = await call(staff_auth.principal_for, session_id=self.staff_sid)
        if principal is None:
            self.staff_name = ""
            self.staff_levels = {}
        else:
            self.staff_name = principal.full_name
            self.staff_last_sign_in = principal.last_sign_in
            self.staff_failed_since = principal.failed_since_last_sign_in
            self.staff_levels = dict(principal.levels)
        return principal

    async def _require(self, permission: Permission, level: Level = Level.READ) -> StaffPrincipal | None:
        """The principal when signed in (password current) and allowed; otherwise None."""
        principal = await self._principal()
        if principal is None or principal.must_change_password or not principal.can(permission, level):
            return None
        return principal

    async def _guard(self, permission: Permission, level: Level = Level.READ):
        """For on_load: the principal, or a redirect event to return instead."""
        principal = await self._principal()
        if principal is None:
            return None, rx.redirect(routes.STAFF_LOGIN)
        if principal.must_change_password:
            return None, rx.redirect(routes.STAFF_PASSWORD)
        if not principal.can(permission, level):
            return None, rx.toast.error("You do not have permission to open that page.")
        return principal, None

    @rx.var
    def can_admin_portal(self) -> bool:
        return self.staff_levels.get(Permission.PORTAL_ADMIN.value, 0) >= Level.UPDATE

    @rx.var
    def can_settings(self) -> bool:
        return self.staff_levels.get(Permission.SETTINGS.value, 0) >= Level.READ

    @rx.var
    def can_outbox(self) -> bool:
        return self.staff_levels.get(Permission.OUTBOX.value, 0) >= Level.READ

    @rx.var
    def can_audit(self) -> bool:
        return self.staff_levels.get(Permission.AUDIT.value, 0) >= Level.READ

    @rx.event
    async def sign_out(self):
        await call(staff_auth.sign_out, session_id=self.staff_sid)
        self.staff_sid = ""
        self.staff_name = ""
        self.staff_levels = {}
        return rx.redirect(routes.STAFF_LOGIN)


class PortalSessionState(SessionState):
    """Base of every patient page state."""

    account_user_id: str = ""

    async def _portal_principal(self) -> PortalPrincipal | None:
        principal = await call(portal_auth.principal_for, session_id=self.portal_sid)
        self.account_user_id = principal.user_id if principal else ""
        return principal

    async def _portal_guard(self, *, allow_must_change: bool = False):
        """For on_load: (principal, None) or (None, redirect)."""
        principal = await self._portal_principal()
        if principal is None:
            return None, rx.redirect(routes.LOGIN)
        if principal.must_change_password and not allow_must_change:
            return None, rx.redirect(routes.PORTAL_PASSWORD)
        return principal, None

    @rx.event
    async def portal_sign_out(self):
        await call(portal_auth.sign_out, session_id=self.portal_sid)
        self.portal_sid = ""
        self.account_user_id = ""
        return rx.redirect(routes.LOGIN)


async def drain_detached() -> None:
    """Wait until detached work has finished (tests, and a clean shutdown)."""
    while _detached:
        await asyncio.gather(*list(_detached), return_exceptions=True)
