"""The bulk "Enable and invite" of the onboarding list: ask, start, and follow the job.

A mixin of `OnboardingState` (state/onboarding.py); the using state has the list (`search`,
`status`, `_refresh_in_place`) and the selection (`selected_ids`, `_set_selection`). Only
numbers of the job reach the page, a few times a second.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import ClassVar

import reflex as rx

from portal_app.services import audit, bulk, onboarding
from portal_app.services.bulk import JobView
from portal_app.services.errors import DomainError, PortalUnavailable
from portal_app.services.permissions import Level, Permission
from portal_app.state.actions import STAFF_PORTAL_OFF, Staff, staff_action
from portal_app.state.base import call
from portal_app.state.focus import focus_later
from portal_app.state.onboarding_list import NO_ACCESS, status_of

BULK_SELECTED_ID = "bulk-selected"
BULK_MATCHING_ID = "bulk-matching"
STILL_RUNNING = "An Enable and invite job is still running. Wait for it to finish."
STALLED = "No progress for five minutes: the job may have been interrupted. Counts show what was done."
CRASHED = "The job stopped unexpectedly; counts show what was done."


class OnboardingBulk(rx.State, mixin=True):
    """The bulk dialog and the progress of this staff user's latest job."""

    # The bulk confirmation and the job's progress (numbers only).
    bulk_dialog_open: bool = False
    bulk_scope: str = ""  # "selected" or "matching"
    bulk_count: int = 0
    bulk_error: str = ""
    # "Send again": re-invite patients whose invitation link is still live (that link dies).
    bulk_resend: bool = False
    # Above bulk.TYPE_TO_CONFIRM patients, the number typed to confirm, and its message.
    bulk_confirm_text: str = ""
    bulk_confirm_error: str = ""
    job_id: int = 0
    job_status: str = ""
    job_total: int = 0
    job_processed: int = 0
    job_percent: int = 0
    job_summary: str = ""
    job_error: str = ""
    # Stopped with patients not yet done: "Resume" does them, each once.
    job_can_resume: bool = False

    # Backend only: which job this tab follows, and what "Start" asked for.
    _following: int = 0
    _bulk_request: dict | None = None
    _dismissed_job: int = 0

    # Progress reaches the page a few times a second, not once per item.
    POLL_SECONDS: ClassVar[float] = 0.3
    # A job with no progress for this long (say, the server restarted) is no longer followed.
    STALE_SECONDS: ClassVar[float] = 300.0

    def _show_job(self, job: JobView | None) -> None:
        self.job_id = job.id if job else 0
        self.job_status = job.status if job else ""
        self.job_total = job.total if job else 0
        self.job_processed = job.processed if job else 0
        self.job_percent = job.percent if job else 0
        self.job_summary = job.summary if job else ""
        self.job_error = job.error if job else ""
        self.job_can_resume = job.can_resume if job else False

    def _close_bulk_dialog(self) -> None:
        self.bulk_dialog_open, self.bulk_scope, self.bulk_count = False, "", 0
        self.bulk_resend, self.bulk_confirm_text, self.bulk_confirm_error = False, "", ""

    @rx.var
    def bulk_needs_typing(self) -> bool:
        return self.bulk_count > bulk.TYPE_TO_CONFIRM

    # ---- the dialog ---------------------------------------------------------

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE)
    async def ask_bulk_selected(self, staff: Staff):
        self.bulk_error = ""
        if not self.selected_ids:
            self.bulk_error = "Select at least one patient first."
            return
        self.bulk_scope, self.bulk_count, self.bulk_dialog_open = "selected", len(self.selected_ids), True

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE)
    async def ask_bulk_matching(self, staff: Staff):
        self.bulk_error = ""
        count = await call(partial(onboarding.count_matching, search=self.search, status=status_of(self.status)))
        if count == 0:
            self.bulk_error = "No patients match the search and filter."
            return
        self.bulk_scope, self.bulk_count, self.bulk_dialog_open = "matching", count, True

    @rx.event
    def set_bulk_dialog_open(self, is_open: bool):
        """The dialog closed (Cancel or Escape; "Start" has already read the scope)."""
        if not is_open:
            self._close_bulk_dialog()
            return focus_later(BULK_MATCHING_ID if not self.selected_ids else BULK_SELECTED_ID)
        return None

    @rx.event
    def set_bulk_resend(self, checked: bool):
        self.bulk_resend = bool(checked)

    @rx.event
    def set_bulk_confirm_text(self, value: str):
        self.bulk_confirm_text = str(value or "")[:20]
        self.bulk_confirm_error = ""

    @rx.event
    def dismiss_job(self):
        """Hide a finished job's result (this tab only; nothing on the server changes)."""
        if self.job_status != bulk.RUNNING:
            self._dismissed_job = self.job_id
            self._show_job(None)

    # ---- the job --------------------------------------------------------------

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE)
    async def start_bulk(self, staff: Staff):
        """"Start" in the bulk dialog: fix what the job covers, then run it in the background.

        The request is taken here, in order with the other events, so the dialog closing
        right after cannot change what the job covers.
        """
        try:
            bulk.confirm_count(total=self.bulk_count, typed=self.bulk_confirm_text)
        except DomainError as exc:
            self.bulk_confirm_error = exc.message  # the dialog stays open, the number beside it
            return None
        self.bulk_dialog_open = False
        if self.job_status == bulk.RUNNING:
            return rx.toast.error(STILL_RUNNING)
        scope, resend = self.bulk_scope, self.bulk_resend
        self._close_bulk_dialog()
        self.bulk_error = ""
        if scope not in ("selected", "matching"):
            return None
        self._bulk_request = {
            "patient_ids": list(self.selected_ids) if scope == "selected" else None,
            "search": self.search, "status": status_of(self.status).value, "resend": resend,
        }
        return type(self).run_bulk

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE)
    async def resume_bulk(self, staff: Staff):
        """"Resume" on a stopped job: its patients not yet done, each once (the same job row)."""
        if self.job_status == bulk.RUNNING:
            return rx.toast.error(STILL_RUNNING)
        if not self.job_id or not self.job_can_resume:
            return None
        self.bulk_error = ""
        self._bulk_request = {"resume": self.job_id}
        return type(self).run_bulk

    @rx.event(background=True)
    async def run_bulk(self):
        """Create (or resume) the job, work it in a worker thread, and show its progress from the row.

        The work goes on if the page is closed; the row keeps the counts. A background
        handler is not wrapped by staff_action: it checks access itself under the lock.
        """
        async with self:
            request, self._bulk_request = self._bulk_request, None
            if request is None:
                return None
            staff = await self._require(Permission.PORTAL_ADMIN, Level.UPDATE, audit_as="run_bulk")
            if staff is None:
                return rx.toast.error(NO_ACCESS)
            actor = audit.Actor.staff(staff.id, self._ip())
        work = {"patient_ids": request.get("patient_ids"), "search": request.get("search", ""),
                "status": status_of(request.get("status", "")), "resend": bool(request.get("resend"))}
        try:
            if request.get("resume"):
                job = await call(partial(bulk.resume_job, job_id=int(request["resume"]), actor=actor))
            else:
                job = await call(partial(bulk.start_job, actor=actor, **work))
        except PortalUnavailable:
            async with self:
                self.bulk_error = STAFF_PORTAL_OFF
            return None
        except DomainError as exc:
            async with self:
                self.bulk_error = exc.message
            return None
        async with self:
            self._show_job(job)
            self._following = job.id
            if work["patient_ids"] is not None:
                self._set_selection([])
        worker = asyncio.ensure_future(call(partial(bulk.run_in_own_process, job_id=job.id, actor=actor)))
        await self._follow(job.id, staff.id, worker)
        return None

    @rx.event(background=True)
    async def follow_job(self):
        """After a reload or in another tab: show a running job's progress until it ends."""
        async with self:
            staff = await self._require(Permission.PORTAL_ADMIN, Level.READ, audit_as="follow_job")
            if staff is None:
                return None
            job_id = self.job_id
            if not job_id or self._following == job_id:
                return None
            self._following = job_id
        await self._follow(job_id, staff.id, None)
        return None

    async def _follow(self, job_id: int, staff_id: int, worker: asyncio.Future | None) -> None:
        """Poll the job row and copy its numbers into state a few times a second."""
        job: JobView | None = None
        try:
            job = await self._poll(job_id, staff_id, worker)
        except Exception:  # noqa: BLE001 (never leave the bar spinning)
            async with self:
                self.job_error = self.job_error or CRASHED
                self.job_status = bulk.FAILED
        finally:
            async with self:
                if self._following == job_id:
                    self._following = 0
                # The job may outlast the sign-in session: re-read patient rows only for a
                # user who may still see them.
                if job is not None and job.status != bulk.RUNNING and \
                        await self._require(Permission.PORTAL_ADMIN, Level.READ) is not None:
                    await self._refresh_in_place()

    async def _poll(self, job_id: int, staff_id: int, worker: asyncio.Future | None) -> JobView | None:
        """The polling loop of `_follow`: the job's last view (None if the job went away)."""
        last_processed, last_change = -1, time.monotonic()
        while True:
            if worker is not None and worker.done():
                worker.result()  # surface a crash in the worker as a failed poll
            job = await call(partial(bulk.job_view, job_id=job_id, staff_user_id=staff_id))
            if job is None:
                return None
            if job.processed != last_processed:
                last_processed, last_change = job.processed, time.monotonic()
            async with self:
                if self._following != job_id:
                    return job  # the user started another job in this tab
                self._show_job(job)
            if job.status != bulk.RUNNING:
                return job
            if worker is None and time.monotonic() - last_change > self.STALE_SECONDS:
                async with self:
                    self.job_error = STALLED
                return job
            await asyncio.sleep(self.POLL_SECONDS)
