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
from portal_app.state.base import StaffSessionState, call
from portal_app.state.paging import NewestFirstPaging

PAGE_SIZE = 25
STATUSES = tuple(status.value for status in MessageStatus)


class OutboxState(NewestFirstPaging, StaffSessionState):
    rows: list[MessageRow] = []
    status_filter: str = ""
    notice: str = ""
    error: str = ""

    body_open: bool = False
    body_subject: str = ""
    body_to: str = ""
    body_text: str = ""

    # Keyset paging: the `before_id` of each page above the current one, and the current one.

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

    async def _allowed(self, level: Level = Level.READ):
        """The principal, or a refusal event (and the page forgotten)."""
        staff = await self._require(Permission.OUTBOX, level)
        if staff is not None:
            return staff, None
        if not self.staff_name:
            self._clear()
            return None, rx.redirect(routes.STAFF_LOGIN)
        if level > Level.READ and await self._require(Permission.OUTBOX, Level.READ) is not None:
            self.error = "You do not have permission to retry messages."
            return None, None
        self._clear()
        self.error = "You do not have permission to see the outbox."
        return None, None

    @rx.event
    async def load(self):
        self._clear()
        self.notice = self.error = ""
        staff, redirect = await self._guard(Permission.OUTBOX)
        if staff is None:
            if self.staff_name:
                self.error = "You do not have permission to see the outbox."
            return redirect
        await self._read()
        return None

    @rx.event
    async def set_status_filter(self, value: str):
        self.notice = self.error = ""
        staff, refusal = await self._allowed()
        if staff is None:
            return refusal
        self.status_filter = value if value in STATUSES else ""
        self._reset_paging()
        await self._read()
        return None

    @rx.event
    async def refresh(self):
        self.notice = self.error = ""
        staff, refusal = await self._allowed()
        if staff is None:
            return refusal
        self._reset_paging()
        await self._read()
        return None

    @rx.event
    async def view_body(self, message_id: int):
        staff, refusal = await self._allowed()
        if staff is None:
            return refusal
        try:
            text = await call(partial(outbox.body, message_id=int(message_id)))
        except (DomainError, ValueError, TypeError) as exc:
            self.error = getattr(exc, "message", "That message no longer exists.")
            return None
        row = next((row for row in self.rows if row.id == int(message_id)), None)
        self.body_subject = row.subject if row else f"Message #{message_id}"
        self.body_to = row.to if row else ""
        self.body_text = text
        self.body_open = True
        return None

    def _close_body(self) -> None:
        self.body_open = False
        self.body_subject = self.body_to = self.body_text = ""

    @rx.event
    def close_body(self):
        self._close_body()

    @rx.event
    def set_body_open(self, value: bool):
        if not value:
            self._close_body()

    @rx.event
    async def download_pdf(self, message_id: int):
        """A letter's PDF, for staff to print and mail (Outbox Read; audited)."""
        self.notice = self.error = ""
        staff, refusal = await self._allowed()
        if staff is None:
            return refusal
        try:
            filename, data = await call(partial(outbox.letter_pdf, message_id=int(message_id), actor_id=staff.id))
        except (DomainError, ValueError, TypeError) as exc:
            self.error = getattr(exc, "message", "That letter has no PDF to download.")
            return None
        return rx.download(data=data, filename=filename, mime_type="application/pdf")

    @rx.event
    async def retry(self, message_id: int):
        self.notice = self.error = ""
        staff, refusal = await self._allowed(Level.UPDATE)
        if staff is None:
            return refusal
        try:
            row = await call(partial(outbox.retry_view, message_id=int(message_id), actor_id=staff.id))
        except (DomainError, ValueError, TypeError) as exc:
            self.error = getattr(exc, "message", "That message cannot be retried.")
            return None
        await self._read()
        if row.status == MessageStatus.SENT.value:
            self.notice = f"Message #{message_id} to {row.to} was sent."
        else:
            self.error = f"Message #{message_id} to {row.to} failed again: {row.error}"
        return None
