"""My Tasks (`/staff/tasks`) and the Communication queue (`/staff/communication`).

Only the visible page of rows (small view rows from services/tasks.py) lives in state. Every
handler asks the service again, which re-reads the user's levels: a client may call any
handler whatever the page's on_load did.
"""

from __future__ import annotations

from functools import partial

import reflex as rx

from portal_app import routes
from portal_app.services import tasks
from portal_app.services.errors import DomainError
from portal_app.services.permissions import QueueAccess
from portal_app.services.tasks import CommunicationRow, ReviewRow
from portal_app.state.base import StaffSessionState, call

SIGNED_OUT = "Your session has ended. Please sign in again."
ARRANGE_OPTIONS: list[tuple[str, str]] = list(tasks.ARRANGEMENTS.items())


class MyTasksCounts(StaffSessionState):
    """The "My Tasks" list of queues with their counts (shared by both pages)."""

    access: str = ""
    communication_count: int = 0
    portal_count: int = 0
    refused: str = ""
    _must_change: bool = False

    async def _counts(self) -> bool:
        """Refresh the counts; False (and `refused` set) when the user has no My Tasks."""
        principal = await self._principal()
        if principal is None or principal.must_change_password:
            self._forget()
            self._must_change = principal is not None
            return False
        try:
            counts = await call(partial(tasks.my_tasks, staff_user_id=principal.id))
        except DomainError as exc:
            self._forget()
            self.refused = exc.message
            return False
        self.access = counts.access
        self.communication_count = counts.communication
        self.portal_count = counts.patient_portal
        self.refused = ""
        return True

    async def _reload(self):
        """Counts first (access may have changed since the last event), then the list."""
        if not await self._counts():
            return self._signed_out()
        await self._read()
        return None

    async def _read(self) -> None:
        raise NotImplementedError

    async def _require_any(self):
        principal = await self._principal()
        return None if principal is None or principal.must_change_password else principal

    def _forget(self) -> None:
        self.access = ""
        self.communication_count = self.portal_count = 0

    def _signed_out(self):
        if not self.staff_name:
            return rx.redirect(routes.STAFF_LOGIN)
        if self._must_change:
            return rx.redirect(routes.STAFF_PASSWORD)
        return None


class QueuePaging(rx.State, mixin=True):
    """Previous / Next page over a queue list (a MyTasksCounts state's `_reload`)."""

    page: int = 1
    pages: int = 1
    total: int = 0

    async def _turn(self, step: int):
        self.page = min(max(1, self.page + step), self.pages)
        return await self._reload()

    @rx.event
    async def next_page(self):
        return await self._turn(1)

    @rx.event
    async def prev_page(self):
        return await self._turn(-1)


class TasksState(QueuePaging, MyTasksCounts):
    """State of /staff/tasks: the counts and the Patient Portal Review list."""

    portal_open: bool = False
    queue_message: str = ""
    rows: list[ReviewRow] = []
    status: str = "pending"
    arrange: str = tasks.ARRANGE_REQUEST
    pending: int = 0
    reviewed_month: int = 0
    month_label: str = ""
    can_open: bool = False
    loaded: bool = False

    def _clear_list(self) -> None:
        self.rows = []
        self.total = self.pending = self.reviewed_month = 0
        self.page = self.pages = 1
        self.can_open = False

    async def _read(self) -> None:
        principal = await self._require_any()
        if principal is None:
            self._clear_list()
            self.portal_open = False
            return
        try:
            result = await call(partial(tasks.review_page, staff_user_id=principal.id, status=self.status,
                                arrange=self.arrange, page=self.page))
        except DomainError as exc:
            self._clear_list()
            self.queue_message = exc.message
            self.portal_open = False
            return
        self.queue_message = ""
        self.portal_open = True
        self.rows = result.rows
        self.page, self.pages, self.total = result.page, result.pages, result.total
        self.pending, self.reviewed_month, self.month_label = result.pending, result.reviewed_month, \
            result.month_label
        self.can_open = result.can_open

    @rx.event
    async def load(self):
        """on_load: sign-in check, counts, and the list for users who may see it."""
        self._clear_list()
        self.portal_open = False
        self.queue_message = ""
        self.loaded = True
        if not await self._counts():
            return self._signed_out()  # no access: the page says so (refused)
        if self.access in (QueueAccess.FULL.value, QueueAccess.LIST_ONLY.value):
            self.page = 1
            await self._read()
        return None

    @rx.event
    async def open_portal(self):
        """"Patient Portal (N)": the list, or the security message for a limited user."""
        self.page = 1
        return await self._reload()

    @rx.event
    async def set_status(self, value: str):
        self.status = "reviewed" if value == "reviewed" else "pending"
        self.page = 1
        return await self._reload()

    @rx.event
    async def set_arrange(self, value: str):
        self.arrange = value if value in tasks.ARRANGEMENTS else tasks.ARRANGE_REQUEST
        self.page = 1
        return await self._reload()


class CommunicationState(QueuePaging, MyTasksCounts):
    """State of /staff/communication: items forwarded to this user."""

    rows: list[CommunicationRow] = []
    loaded: bool = False

    async def _read(self) -> None:
        principal = await self._require_any()
        if principal is None:
            self.rows = []
            return
        try:
            result = await call(partial(tasks.communication_page, staff_user_id=principal.id, page=self.page))
        except DomainError as exc:
            self.rows, self.total = [], 0
            self.refused = exc.message
            return
        self.rows, self.page, self.pages, self.total = result.rows, result.page, result.pages, result.total

    @rx.event
    async def load(self):
        self.rows, self.total, self.page, self.pages = [], 0, 1, 1
        self.loaded = True
        return await self._reload()  # no access: the page says so (refused)
