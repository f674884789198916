"""`/portal/messages`: the open chart's message threads, a new message, a thread and its reply.

Every handler checks the session and the Messages area of the chart being viewed itself
(`_area_principal`, which audits a refusal); a thread id from the browser is checked against
that chart on the server. Only the visible page of threads and the open thread live in state.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import reflex as rx

from portal_app.services import messages
from portal_app.services.areas import Area
from portal_app.services.errors import DomainError, FormInvalid, NotFound
from portal_app.services.messages import PostRow, ThreadRow
from portal_app.state.base import PortalSessionState, call
from portal_app.state.inputs import form_text
from portal_app.state.patient_paging import PortalListPaging

REFUSED = "Messages are not available for this chart."
SENT = "Your message was sent to the practice. You will see the reply here."
REPLIED = "Your reply was sent."
# A body is not cut here: the service refuses one over its limit and says how long it was.
TYPED_LIMIT = 10 * 1024 * 1024


class PatientMessagesState(PortalListPaging, PortalSessionState):
    ready: bool = False
    rows: list[ThreadRow] = []

    composing: bool = False
    subject_error: str = ""
    body_error: str = ""
    form_error: str = ""
    notice: str = ""
    # Changes after a successful send so the browser draws empty fields.
    form_version: int = 0

    open_id: int = 0
    open_subject: str = ""
    posts: list[PostRow] = []
    reply_error: str = ""

    def _clear_errors(self) -> None:
        self.subject_error = ""
        self.body_error = ""
        self.form_error = ""
        self.reply_error = ""

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

    def _area(self) -> Area:
        return Area.MESSAGES

    def _refusal(self) -> str:
        return REFUSED

    async def _fetch(self, patient_id: int):
        return await call(partial(messages.threads, patient_id=patient_id, page=self.page))

    @rx.event
    async def load(self):
        """on_load: the Messages area of the open chart, first page of its threads."""
        self._forget()
        target, redirect = await self._area_guard(Area.MESSAGES)
        if redirect is not None:
            return redirect
        _, chart = target
        await self._read(chart.patient_id)
        self.ready = True
        return None

    @rx.event
    async def new_message(self):
        got = await self._allowed("new_message")
        if got is None:
            return rx.toast.error(REFUSED)
        self._clear_errors()
        self._close()
        self.notice = ""
        self.composing = True
        return None

    @rx.event
    async def cancel_new(self):
        if await self._allowed("cancel_new") is None:
            return rx.toast.error(REFUSED)
        self._clear_errors()
        self.composing = False
        return None

    @rx.event
    async def send_message(self, form_data: dict[str, Any]):
        """A new thread with the practice for the chart being viewed."""
        self._clear_errors()
        got = await self._allowed("send_message")
        if got is None:
            return rx.toast.error(REFUSED)
        principal, chart = got
        try:
            await call(partial(messages.start_thread, account_id=principal.account_id, chart=chart,
                       subject=form_text(form_data, "subject"), body=form_text(form_data, "body", TYPED_LIMIT),
                       ip=self._ip()))
        except FormInvalid as exc:
            self.subject_error = exc.errors.get("subject", "")
            self.body_error = exc.errors.get("body", "")
            return None
        except DomainError as exc:
            self.form_error = exc.message
            return None
        self.composing = False
        self.form_version += 1
        self.notice = SENT
        self.page = 1
        await self._read(chart.patient_id)
        return None

    @rx.event
    async def open_thread(self, task_id: int):
        """Show a thread of the chart being viewed (oldest post first); its staff posts become read."""
        self._clear_errors()
        got = await self._allowed("open_thread")
        if got is None:
            return rx.toast.error(REFUSED)
        chart = got[1]
        try:
            thread = await call(partial(messages.open_thread, patient_id=chart.patient_id,
                                task_id=task_id if isinstance(task_id, int) else -1,
                                viewer_account_id=got[0].account_id))
        except NotFound as exc:
            self._close()
            return rx.toast.error(exc.message)
        self.composing = False
        self.notice = ""
        self.open_id, self.open_subject, self.posts = thread.id, thread.subject, thread.posts
        await self._read(chart.patient_id)
        return None

    @rx.event
    async def close_thread(self):
        got = await self._allowed("close_thread")
        if got is None:
            return rx.toast.error(REFUSED)
        self._clear_errors()
        self._close()
        await self._read(got[1].patient_id)
        return None

    @rx.event
    async def send_reply(self, form_data: dict[str, Any]):
        """A reply in the open thread (checked again on the server against the open chart)."""
        self._clear_errors()
        got = await self._allowed("send_reply")
        if got is None:
            return rx.toast.error(REFUSED)
        principal, chart = got
        if not self.open_id:
            return None
        try:
            await call(partial(messages.patient_reply, account_id=principal.account_id, chart=chart,
                       task_id=self.open_id, body=form_text(form_data, "reply", TYPED_LIMIT), ip=self._ip()))
        except NotFound as exc:
            self._close()
            return rx.toast.error(exc.message)
        except DomainError as exc:
            self.reply_error = exc.message
            return None
        thread = await call(partial(messages.open_thread, patient_id=chart.patient_id, task_id=self.open_id,
                            viewer_account_id=principal.account_id))
        self.posts = thread.posts
        self.form_version += 1
        await self._read(chart.patient_id)
        return rx.toast.success(REPLIED)
