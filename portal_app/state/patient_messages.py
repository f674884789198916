"""`/portal/messages`: the open chart's message threads, a new message, a thread and its reply.

Every handler is a `portal_action(Area.MESSAGES)`: the session and the Messages area of the
chart being viewed are checked again (a refusal is audited and forgets the page); a thread id
from the browser is checked against that chart on the server. Only the visible page of threads
and the open thread live in state.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import reflex as rx

from portal_app.services import messages
from portal_app.services.areas import Area
from portal_app.services.errors import DomainError, FormInvalid, NotFound
from portal_app.services.messages import PostRow, ThreadRow
from portal_app.services.permissions import Level
from portal_app.state.actions import Patient, portal_action, portal_page_load
from portal_app.state.base import PortalSessionState, call
from portal_app.state.field_errors import FieldErrors
from portal_app.state.inputs import form_text
from portal_app.state.patient_paging import PortalListPaging

REFUSED = "Messages are not available for this chart."
SENT = "Your message was sent to the practice. You will see the reply here."
REPLIED = "Your reply was sent."
# A body is not cut here: the service refuses one over its limit and says how long it was.
TYPED_LIMIT = 10 * 1024 * 1024


class PatientMessagesState(FieldErrors, PortalListPaging, PortalSessionState):
    ready: bool = False
    rows: list[ThreadRow] = []

    composing: bool = False
    subject_error: str = ""
    body_error: str = ""
    notice: str = ""
    # Changes after a successful send so the browser draws empty fields.
    form_version: int = 0

    open_id: int = 0
    open_subject: str = ""
    posts: list[PostRow] = []
    reply_error: str = ""

    ERROR_FIELDS: ClassVar[tuple[str, ...]] = ("subject", "body", "reply")

    def _forget(self) -> None:
        self.ready = False
        self.rows = []
        self.page, self.pages, self.total = 1, 1, 0
        self.composing = False
        self.notice = ""
        self._close()
        self._clear_errors()

    def _close(self) -> None:
        self.open_id = 0
        self.open_subject = ""
        self.posts = []

    def _refusal_message(self, level: Level = Level.READ) -> str:
        return REFUSED

    def _failed(self, error: DomainError):
        """A thread that is gone closes; a new message's errors go beside its fields."""
        if isinstance(error, NotFound):
            self._close()
            return rx.toast.error(error.message)
        if isinstance(error, FormInvalid):
            self.subject_error = error.errors.get("subject", "")
            self.body_error = error.errors.get("body", "")
        else:
            self.form_error = error.message
        return None

    async def _fetch(self, patient_id: int):
        return await call(partial(messages.threads, patient_id=patient_id, page=self.page))

    @portal_page_load(Area.MESSAGES)
    async def load(self, me: Patient):
        """on_load: the Messages area of the open chart, first page of its threads."""
        self._forget()
        await self._read(me.patient_id)
        self.ready = True
        return None

    @portal_action(Area.MESSAGES)
    async def next_page(self, me: Patient):
        await self._turn(me, forward=True)

    @portal_action(Area.MESSAGES)
    async def prev_page(self, me: Patient):
        await self._turn(me, forward=False)

    @portal_action(Area.MESSAGES)
    async def new_message(self, me: Patient):
        self._clear_errors()
        self._close()
        self.notice = ""
        self.composing = True

    @portal_action(Area.MESSAGES)
    async def cancel_new(self, me: Patient):
        self._clear_errors()
        self.composing = False

    @portal_action(Area.MESSAGES)
    async def send_message(self, me: Patient, form_data: dict[str, Any]):
        """A new thread with the practice for the chart being viewed."""
        self._clear_errors()
        await call(partial(messages.start_thread, account_id=me.account_id, chart=me.chart,
                   subject=form_text(form_data, "subject"), body=form_text(form_data, "body", TYPED_LIMIT),
                   ip=self._ip()))
        self.composing = False
        self.form_version += 1
        self.notice = SENT
        self.page = 1
        await self._read(me.patient_id)

    @portal_action(Area.MESSAGES)
    async def open_thread(self, me: Patient, task_id: int):
        """Show a thread of the chart being viewed (oldest post first); its staff posts become read."""
        self._clear_errors()
        thread = await call(partial(messages.open_thread, patient_id=me.patient_id, task_id=task_id or -1,
                            viewer_account_id=me.account_id))
        self.composing = False
        self.notice = ""
        self.open_id, self.open_subject, self.posts = thread.id, thread.subject, thread.posts
        await self._read(me.patient_id)

    @portal_action(Area.MESSAGES)
    async def close_thread(self, me: Patient):
        self._clear_errors()
        self._close()
        await self._read(me.patient_id)

    @portal_action(Area.MESSAGES)
    async def send_reply(self, me: Patient, form_data: dict[str, Any]):
        """A reply in the open thread (checked again on the server against the open chart)."""
        self._clear_errors()
        if not self.open_id:
            return None
        try:
            await call(partial(messages.patient_reply, account_id=me.account_id, chart=me.chart,
                       task_id=self.open_id, body=form_text(form_data, "reply", TYPED_LIMIT), ip=self._ip()))
        except NotFound:
            raise  # the thread is gone: _failed closes it
        except DomainError as exc:
            self.reply_error = exc.message
            return None
        thread = await call(partial(messages.open_thread, patient_id=me.patient_id, task_id=self.open_id,
                            viewer_account_id=me.account_id))
        self.posts = thread.posts
        self.form_version += 1
        await self._read(me.patient_id)
        return rx.toast.success(REPLIED)
