"""My Tasks (`/staff/tasks`) and the Communication queue (`/staff/communication`).

Only the visible page of rows (small view rows from services/tasks) lives in state. Every
handler asks the service again, which re-reads the user's levels: a client may call any
handler whatever the page's on_load did.
"""

from __future__ import annotations

from functools import partial

import reflex as rx

from portal_app import routes
from portal_app.services import tasks
from portal_app.services.errors import DomainError
from portal_app.services.permissions import Level, QueueAccess
from portal_app.services.tasks import CommunicationRow, ReviewRow
from portal_app.state.actions import Staff, staff_action
from portal_app.state.base import StaffSessionState, call

ARRANGE_OPTIONS: list[tuple[str, str]] = list(tasks.ARRANGEMENTS.items())


def sign_in_again(signed_in: bool) -> rx.event.EventSpec:
    """A refused My Tasks call: to the sign-in page, or (signed in) to choose a new password first."""
    return rx.redirect(routes.STAFF_PASSWORD if signed_in else routes.STAFF_LOGIN)


class MyTasksCounts(StaffSessionState):
    """The "My Tasks" list of queues with their counts (shared by both pages).

    Handlers are `staff_action(None)`: any signed-in user with a current password gets in, and
    the queue rule ("either queue permission") is the service's, asked again on every event.
    """

    access: str = ""
    communication_count: int = 0
    portal_count: int = 0
    refused: str = ""

    # ---- refusals (state/actions.py calls these) ------------------------------

    def _forget(self) -> None:
        self.access = ""
        self.communication_count = self.portal_count = 0

    def _refused(self, message: str, *, signed_in: bool, level: Level = Level.READ):
        self._forget()
        return sign_in_again(signed_in)

    def _failed(self, error: DomainError):
        """No queue permission any more: the page says so (`refused`) instead of the queues."""
        self._forget()
        self.refused = error.message

    # ---- counts and the list --------------------------------------------------

    async def _counts(self, staff: Staff) -> None:
        """Refresh the counts (raises Forbidden when the user has no My Tasks)."""
        counts = await call(partial(tasks.my_tasks, staff_user_id=staff.id))
        self.access = counts.access
        self.communication_count = counts.communication
        self.portal_count = counts.patient_portal
        self.refused = ""

    async def _reload(self, staff: Staff) -> None:
        """Counts first (access may have changed since the last event), then the list."""
        await self._counts(staff)
        await self._read(staff)

    async def _read(self, staff: Staff) -> None:
        raise NotImplementedError


class QueuePaging(rx.State, mixin=True):
    """Previous / Next page over a queue list (a MyTasksCounts state's `_reload`)."""

    page: int = 1
    pages: int = 1
    total: int = 0

    async def _turn(self, staff: Staff, step: int) -> None:
        self.page = min(max(1, self.page + step), self.pages)
        await self._reload(staff)

    @staff_action(None)
    async def next_page(self, staff: Staff):
        await self._turn(staff, 1)

    @staff_action(None)
    async def prev_page(self, staff: Staff):
        await self._turn(staff, -1)


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

    def _forget(self) -> None:
        super()._forget()
        self._clear_list()
        self.portal_open = False

    async def _read(self, staff: Staff) -> None:
        try:
            result = await call(partial(tasks.review_page, staff_user_id=staff.id, status=self.status,
                                arrange=self.arrange, page=self.page))
        except DomainError as exc:
            # The counts stay: a limited user sees "Patient Portal (N)" and this security message.
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

    @staff_action(None)
    async def load(self, staff: Staff):
        """on_load: counts, and the list for users who may see it (no access: `refused` says so)."""
        self._clear_list()
        self.portal_open = False
        self.queue_message = ""
        self.loaded = True
        await self._counts(staff)
        if self.access in (QueueAccess.FULL.value, QueueAccess.LIST_ONLY.value):
            self.page = 1
            await self._read(staff)

    @staff_action(None)
    async def open_portal(self, staff: Staff):
        """"Patient Portal (N)": the list, or the security message for a limited user."""
        self.page = 1
        await self._reload(staff)

    @staff_action(None)
    async def set_status(self, staff: Staff, value: str):
        self.status = "reviewed" if value == "reviewed" else "pending"
        self.page = 1
        await self._reload(staff)

    @staff_action(None)
    async def set_arrange(self, staff: Staff, value: str):
        self.arrange = value if value in tasks.ARRANGEMENTS else tasks.ARRANGE_REQUEST
        self.page = 1
        await self._reload(staff)


class CommunicationState(QueuePaging, MyTasksCounts):
    """State of /staff/communication: items forwarded to this user."""

    rows: list[CommunicationRow] = []
    loaded: bool = False

    def _forget(self) -> None:
        super()._forget()
        self.rows, self.total = [], 0

    async def _read(self, staff: Staff) -> None:
        result = await call(partial(tasks.communication_page, staff_user_id=staff.id, page=self.page))
        self.rows, self.page, self.pages, self.total = result.rows, result.page, result.pages, result.total

    @staff_action(None)
    async def load(self, staff: Staff):
        """on_load: counts and the first page (no access: `refused` says so)."""
        self.rows, self.total, self.page, self.pages = [], 0, 1, 1
        self.loaded = True
        await self._reload(staff)
