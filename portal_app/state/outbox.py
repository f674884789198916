"""The outbox (`/staff/outbox`): every message, newest first, its text, and retry of failed ones.

Message bodies hold live links: showing them to staff with Outbox access is what the outbox
transport is for (no email provider). Only one page of rows and one open body live in state.
"""

from __future__ import annotations

from functools import partial

import reflex as rx

from portal_app import routes
from portal_app.models import MessageStatus
from portal_app.services import outbox
from portal_app.services.errors import DomainError
from portal_app.services.outbox import MessageRow
from portal_app.services.permissions import Level, Permission
from portal_app.state.actions import Staff, staff_action, staff_page_load
from portal_app.state.base import StaffSessionState, call
from portal_app.state.paging import NewestFirstPaging

PAGE_SIZE = 25
STATUSES = tuple(status.value for status in MessageStatus)
NO_VIEW = "You do not have permission to see the outbox."
NO_RETRY = "You do not have permission to retry messages."


class OutboxState(NewestFirstPaging, StaffSessionState):
    rows: list[MessageRow] = []
    status_filter: str = ""
    notice: str = ""
    error: str = ""

    body_open: bool = False
    body_subject: str = ""
    body_to: str = ""
    body_text: str = ""

    @rx.var
    def can_retry(self) -> bool:
        return self.staff_levels.get(Permission.OUTBOX.value, 0) >= Level.UPDATE

    def _clear(self) -> None:
        self.rows = []
        self.has_older = self.has_newer = False
        self._reset_paging()
        self._close_body()

    async def _read(self) -> None:
        self.rows, self.has_older = await call(partial(outbox.page_of_messages, status=self.status_filter,
                                               before_id=self._before_id, size=PAGE_SIZE))
        self.has_newer = bool(self._before_stack)

    # ---- refusals and failures (state/actions.py calls these) -------------------

    def _forget(self) -> None:
        self._clear()

    def _refusal_message(self, level: Level = Level.READ) -> str:
        return NO_VIEW if level <= Level.READ else NO_RETRY

    def _refused(self, message: str, *, signed_in: bool, level: Level = Level.READ):
        """Signed out goes to sign-in; a refused retry keeps the list a reader may see."""
        self.notice = ""
        if not signed_in:
            return rx.redirect(routes.STAFF_LOGIN)
        if level > Level.READ and self.staff_levels.get(Permission.OUTBOX.value, 0) >= Level.READ:
            self.error = message
            return None
        self._clear()
        self.error = NO_VIEW
        return None

    def _failed(self, error: DomainError):
        self.error = error.message

    def _load_refused(self, *, signed_in: bool) -> None:
        self._clear()
        self.notice = ""
        self.error = NO_VIEW if signed_in else ""

    @staff_page_load(Permission.OUTBOX)
    async def load(self, staff: Staff):
        self._clear()
        self.notice = self.error = ""
        await self._read()
        return None

    @staff_action(Permission.OUTBOX)
    async def set_status_filter(self, staff: Staff, value: str):
        self.notice = self.error = ""
        self.status_filter = value if value in STATUSES else ""
        self._reset_paging()
        await self._read()

    @staff_action(Permission.OUTBOX)
    async def refresh(self, staff: Staff):
        self.notice = self.error = ""
        self._reset_paging()
        await self._read()

    @staff_action(Permission.OUTBOX)
    async def older(self, staff: Staff):
        await self._older()

    @staff_action(Permission.OUTBOX)
    async def newer(self, staff: Staff):
        await self._newer()

    @staff_action(Permission.OUTBOX)
    async def view_body(self, staff: Staff, message_id: int):
        text = await call(partial(outbox.body, message_id=message_id, actor=staff.actor))
        row = next((row for row in self.rows if row.id == message_id), None)
        self.body_subject = row.subject if row else f"Message #{message_id}"
        self.body_to = row.to if row else ""
        self.body_text = text
        self.body_open = True

    def _close_body(self) -> None:
        self.body_open = False
        self.body_subject = self.body_to = self.body_text = ""

    @rx.event
    def close_body(self):
        """Closing the message forgets its text (nothing to guard)."""
        self._close_body()

    @rx.event
    def set_body_open(self, value: bool):
        if not value:
            self._close_body()

    @staff_action(Permission.OUTBOX)
    async def download_pdf(self, staff: Staff, message_id: int):
        """A letter's PDF, for staff to print and mail (Outbox Read; audited)."""
        self.notice = self.error = ""
        filename, data = await call(partial(outbox.letter_pdf, message_id=message_id, actor_id=staff.id))
        return rx.download(data=data, filename=filename, mime_type="application/pdf")

    @staff_action(Permission.OUTBOX, Level.UPDATE)
    async def retry(self, staff: Staff, message_id: int):
        self.notice = self.error = ""
        row = await call(partial(outbox.retry_view, message_id=message_id, actor_id=staff.id))
        await self._read()
        if row.status == MessageStatus.SENT.value:
            self.notice = f"Message #{message_id} to {row.to} was sent."
        else:
            self.error = f"Message #{message_id} to {row.to} failed again: {row.error}"
