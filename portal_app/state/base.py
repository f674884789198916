"""Session plumbing shared by every state class.

Sessions are our own random ids in HttpOnly cookies (Reflex's client token is not a login),
set and cleared by plain HTTP routes (portal_app/session_cookies.py) and read here from the
websocket handshake's Cookie header, on the server: no state var holds a session id. Every
handler that touches patient data resolves the principal again from the database, so a
disabled account, an ended session or a changed role takes effect on the next event.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

import reflex as rx

from portal_app import db, routes, session_cookies
from portal_app.models import SessionKind
from portal_app.services import areas, audit, permissions, portal_auth, staff_auth, throttle, tokens
from portal_app.services.areas import Area
from portal_app.services.errors import DomainError
from portal_app.services.permissions import Level, Permission
from portal_app.services.portal_auth import ChartView, PortalPrincipal
from portal_app.services.staff_auth import StaffPrincipal

T = TypeVar("T")
logger = logging.getLogger(__name__)

NO_PERMISSION = "You do not have permission to do that. Sign in again or ask an administrator."


# Work that hashes with argon2 (sign-ins, password checks and changes, new credentials) runs on
# threads of its own. A burst of sign-ins then waits here for a hashing slot (services/throttle.py
# bounds argon2 to one per core) instead of filling the default pool's few threads: every other
# tab's events keep theirs. Four threads a slot, so a sign-in's queries and writes go on beside
# the hashes.
HASHING_POOL = ThreadPoolExecutor(max_workers=4 * throttle.HASH_SLOTS, thread_name_prefix="argon2")


async def call(work: partial[T], *, hashing: bool = False) -> T:
    """Run a service in a worker thread with its own database session.

    `work` is the service with its arguments bound, `partial(service.fn, name=value)`, so a
    type checker sees a wrong keyword name; the session is passed as `session=`. Hashing,
    sending and queries block; on the event loop they would stall every client. Work that
    hashes a password says so (`hashing=True`) and runs on `HASHING_POOL`.
    """

    def in_thread() -> T:
        # Our engine (not rx.session()): same URL and SQLite pragmas as the CLI and tests.
        with db.session_scope() as session:
            return work(session=session)

    if not hashing:
        return await asyncio.to_thread(in_thread)
    context = contextvars.copy_context()  # the hashing lane (services/throttle.py) goes along
    return await asyncio.get_running_loop().run_in_executor(HASHING_POOL, context.run, in_thread)


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


CHART_CLOSED = ("{name}'s chart is no longer open to your account (the practice changed its access), so "
                "nothing was done. Call the practice if you think this is a mistake.")


def area_refused(area: Area, chart_name: str) -> str:
    """The sentence a patient reads on the portal home after an area was refused."""
    return (f"The {areas.AREA_LABELS[area]} area is not available for {chart_name}: the practice has not "
            "turned it on for this chart, or has turned it off. Call the practice if you need it.")


async def forget_after_sign_out(state: rx.State, side: type[SessionState]) -> None:
    """Reset every state of this tab's `side` (state/phi.py): the server keeps a tab's state and
    sends it all again on a reconnect, so nothing of the signed-out visit may stay in it."""
    from portal_app.state import phi  # phi builds on the classes below

    await phi.forget_side(state, side, public_too=True)


class SessionState(rx.State):
    """Reads the two session cookies from the websocket handshake (never a state var).

    A new sign-in reaches the handshake through `state/session_cookie.py`'s `open_session`
    (the page reloads once the HttpOnly cookie is set).

    The tab also remembers which sessions filled it, as digests (backend-only, never sent): a
    reconnect or the sweep (state/phi.py) sends or keeps a side's data only for that session.
    """

    _staff_held: str = ""
    _portal_held: str = ""

    @property
    def staff_sid(self) -> str:
        return session_cookies.read(self.router.headers.cookie, SessionKind.STAFF)

    @property
    def portal_sid(self) -> str:
        return session_cookies.read(self.router.headers.cookie, SessionKind.PORTAL)

    def _set_changed(self, **values) -> None:
        """Assign only the vars whose value differs.

        Reflex sends every assigned var in the event's answer, and recomputes and sends each
        computed var that reads it (the `can_*` flags of every staff page), even when the
        value is the same: the guard runs on every event, so re-assigning its unchanged
        fields would make every click carry them all.
        """
        for name, value in values.items():
            if getattr(self, name) != value:
                setattr(self, name, value)

    def _ip(self) -> str:
        return self.router.session.client_ip or ""

    # ---- what a guarded handler (state/actions.py) does on refusal or failure ----

    def _forget(self) -> None:
        """Clear what the page shows (the session has ended: no PHI may stay in this tab)."""

    def _refusal_message(self, level: Level = Level.READ) -> str:
        return NO_PERMISSION

    def _refused(self, message: str, *, signed_in: bool, level: Level = Level.READ):
        """The answer to a refused call (a page may put the message beside a field instead).

        `level` is what the handler needed: a page may forget its rows on a refused read but
        keep them when only a change was refused.
        """
        return rx.toast.error(message)

    def _load_refused(self, *, signed_in: bool) -> None:
        """A page load was refused (staff_page / portal_page): say why on the page, if it says."""

    def _failed(self, error: DomainError):
        """The answer when a service refused the input (DomainError)."""
        return rx.toast.error(error.message)


class StaffSessionState(SessionState):
    """Base of every staff page state: who is signed in, and the guard."""

    staff_name: str = ""
    staff_last_sign_in: str = ""
    staff_failed_since: int = 0
    staff_session_time: str = ""
    staff_levels: dict[str, int] = {}
    # The practice switched the portal off: every staff page says so (nothing is sent).
    portal_off: bool = False
    # Set when a signed-in user has no permission at all: whom to ask (see `no_rights_notice`).
    staff_access_contacts: str = ""

    async def _principal(self) -> StaffPrincipal | None:
        principal = await call(partial(staff_auth.principal_for, session_id=self.staff_sid))
        self._staff_held = tokens.digest(self.staff_sid) if principal is not None else ""
        if principal is None:
            self._set_changed(staff_name="", staff_levels={})
        else:
            self._set_changed(
                staff_name=principal.full_name, staff_last_sign_in=principal.last_sign_in,
                staff_failed_since=principal.failed_since_last_sign_in,
                staff_session_time=principal.session_time, staff_levels=dict(principal.levels),
                portal_off=not principal.portal_active)
            if any(level > 0 for level in principal.levels.values()):
                self._set_changed(staff_access_contacts="")
        return principal

    async def _require(self, permission: Permission, level: Level = Level.READ, *,
                       audit_as: str = "") -> StaffPrincipal | None:
        """The principal when signed in (password current) and allowed; otherwise None.

        With `audit_as` (the handler's name: a background handler checking for itself), a
        refusal is audited as `staff_action` audits one.
        """
        principal = await self._principal()
        if principal is None or principal.must_change_password or not principal.can(permission, level):
            if audit_as:
                actor = (audit.Actor.staff(principal.id, self._ip()) if principal is not None
                         else audit.Actor.anonymous(ip=self._ip()))
                await call(partial(audit.record_refusal, actor=actor, handler=f"{type(self).__name__}.{audit_as}",
                                   need=f"{permission.name.lower()}>={level.name.lower()}"))
            return None
        return principal

    @rx.var
    def can_admin_portal(self) -> bool:
        return self.staff_levels.get(Permission.PORTAL_ADMIN.value, 0) >= Level.UPDATE

    @rx.var
    def can_tasks(self) -> bool:
        """My Tasks shows for either queue permission (Communication holds forwarded items)."""
        return permissions.queue_access(self.staff_levels) != permissions.QueueAccess.NONE

    @rx.var
    def can_account_setup(self) -> bool:
        return self.staff_levels.get(Permission.ACCOUNT_SETUP.value, 0) >= Level.READ

    @rx.var
    def can_user_management(self) -> bool:
        return self.staff_levels.get(Permission.USER_MANAGEMENT.value, 0) >= Level.READ

    @rx.var
    def can_roles(self) -> bool:
        return self.staff_levels.get(Permission.ROLES.value, 0) >= Level.READ

    @rx.var
    def can_settings(self) -> bool:
        return self.staff_levels.get(Permission.SETTINGS.value, 0) >= Level.READ

    @rx.var
    def can_outbox(self) -> bool:
        return self.staff_levels.get(Permission.OUTBOX.value, 0) >= Level.READ

    @rx.var
    def can_audit(self) -> bool:
        return self.staff_levels.get(Permission.AUDIT.value, 0) >= Level.READ

    @rx.var
    def can_import(self) -> bool:
        return self.staff_levels.get(Permission.PATIENT_IMPORT.value, 0) >= Level.READ

    @rx.event
    async def sign_out(self):
        await call(partial(staff_auth.sign_out, session_id=self.staff_sid))
        self.staff_name = ""
        self.staff_levels = {}
        self.staff_access_contacts = ""
        await forget_after_sign_out(self, StaffSessionState)
        # The cookie is cleared by its route, and the page reloads (a handshake without it).
        return rx.call_script(session_cookies.clear_script(SessionKind.STAFF, routes.STAFF_LOGIN))


class PortalSessionState(SessionState):
    """Base of every patient page state.

    Also holds whose chart is open ("Viewing: NAME") and which areas that connection grants;
    both are re-read from the database on every event, so a revoked connection or a changed
    permission takes effect at once.
    """

    account_user_id: str = ""
    # Chart choices for the "Viewing:" switcher (value = patient id as text, label = name).
    chart_choices: list[dict[str, str]] = []
    viewing_id: str = ""
    viewing_name: str = ""
    viewing_areas: list[str] = []
    # A sentence for the page a refusal sends the tab to, shown once there: the portal home
    # reads `_pending_notice` (an area refused, a chart no longer open, a password changed),
    # the sign-in page `_ended_notice` (why a tab that was signed in no longer is).
    _pending_notice: str = ""
    _ended_notice: str = ""

    def _show_viewing(self, principal: PortalPrincipal | None) -> ChartView | None:
        if principal is None:
            self._set_changed(chart_choices=[], viewing_id="", viewing_name="", viewing_areas=[])
            return None
        current = int(self.viewing_id) if self.viewing_id.isdigit() else None
        chart = principal.chart(current)
        self._set_changed(
            chart_choices=[{"value": str(c.patient_id), "label": c.name} for c in principal.charts],
            viewing_id=str(chart.patient_id), viewing_name=chart.name, viewing_areas=list(chart.areas))
        return chart

    async def _portal_principal(self) -> PortalPrincipal | None:
        principal = await call(partial(portal_auth.principal_for, session_id=self.portal_sid))
        self._portal_held = tokens.digest(self.portal_sid) if principal is not None else ""
        if principal is None and self.account_user_id and self.portal_sid:
            # This tab was signed in a moment ago: the sign-in page it lands on says why not now.
            self._ended_notice = await call(partial(portal_auth.ended_reason, session_id=self.portal_sid))
        self._set_changed(account_user_id=principal.user_id if principal else "")
        self._show_viewing(principal)
        return principal

    async def _area_principal(self, area: Area, action: str = "") -> tuple[PortalPrincipal, ChartView] | None:
        """For an area's handlers: the signed-in account and the open chart, if it grants `area`.

        A refusal is audited. None means: do nothing (the caller may show a message).
        """
        requested, requested_name = self.viewing_id, self.viewing_name
        principal = await self._portal_principal()
        if principal is None or principal.must_change_password:
            return None
        chart = self._show_viewing(principal)
        if requested and requested != str(chart.patient_id):
            # The chart being viewed is no longer open to this account: never act on another one.
            await call(partial(audit.record_object_refusal, actor=audit.Actor.portal(principal.account_id, self._ip()),
                               detail=f"handler={type(self).__name__}.{action or 'area'}; "
                                      f"viewing chart={requested} (no longer open to this account)"))
            self._pending_notice = CHART_CLOSED.format(name=requested_name or "That")
            return None
        if not chart.allows(area.value):
            await call(partial(areas.record_refusal, account_id=principal.account_id, patient_id=chart.patient_id,
                       area=area.value, action=action, ip=self._ip()))
            self._pending_notice = area_refused(area, chart.name)
            return None
        return principal, chart

    async def _area_guard(self, area: Area):
        """For `portal_page_load(area)`: ((principal, chart), None) or (None, a redirect)."""
        principal, redirect = await self._portal_guard()
        if redirect is not None:
            return None, redirect
        chart = self._show_viewing(principal)
        if not chart.allows(area.value):
            await call(partial(areas.record_refusal, account_id=principal.account_id, patient_id=chart.patient_id,
                       area=area.value, action="open", ip=self._ip()))
            self._pending_notice = area_refused(area, chart.name)
            return None, [rx.redirect(routes.PORTAL_HOME), rx.toast.error(self._pending_notice)]
        return (principal, chart), None

    @rx.event
    async def switch_chart(self, patient_id: str):
        """Open another chart of this account (only one the session may see), on the home page."""
        requested = patient_id if isinstance(patient_id, str) and patient_id.isdigit() and len(patient_id) <= 12 else ""
        self.viewing_id = requested
        principal = await self._portal_principal()
        if principal is None:
            return rx.redirect(routes.LOGIN)
        if requested and self.viewing_id != requested:  # a chart this account may not open: audited
            await call(partial(audit.record_object_refusal, actor=audit.Actor.portal(principal.account_id, self._ip()),
                               detail=f"handler={type(self).__name__}.switch_chart; patient_id={requested} "
                                      "(not open to this account)"))
        return rx.redirect(routes.PORTAL_HOME)

    async def _portal_guard(self, *, allow_must_change: bool = False):
        """For `portal_page_load()`: (principal, None) or (None, redirect)."""
        principal = await self._portal_principal()
        if principal is None:
            return None, rx.redirect(routes.LOGIN)
        if principal.must_change_password and not allow_must_change:
            return None, rx.redirect(routes.PORTAL_PASSWORD)
        return principal, None

    @rx.event
    async def portal_sign_out(self):
        await call(partial(portal_auth.sign_out, session_id=self.portal_sid))
        self.account_user_id = ""
        self._show_viewing(None)
        await forget_after_sign_out(self, PortalSessionState)
        return rx.call_script(session_cookies.clear_script(SessionKind.PORTAL, routes.LOGIN))


async def drain_detached() -> None:
    """Wait until detached work has finished (tests, and a clean shutdown)."""
    while _detached:
        await asyncio.gather(*list(_detached), return_exceptions=True)
