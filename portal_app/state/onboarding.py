"""The onboarding list: status rectangles, invitations, search, paging and bulk jobs.

Only the visible page (50 rows) lives in state; the keyset cursors that fetch the next and
previous pages stay on the server. Every handler checks the session and the permission
itself: any client can call any handler, whatever the page's on_load did.
"""

from __future__ import annotations

import asyncio
import json
import time
from functools import partial
from typing import ClassVar

import reflex as rx

from portal_app.services import audit, bulk, invitations, onboarding
from portal_app.services.bulk import JobView
from portal_app.services.errors import DomainError
from portal_app.services.onboarding import Cursor, Page, PatientRow, StatusFilter
from portal_app.services.permissions import Level, Permission
from portal_app.services.staff_auth import StaffPrincipal
from portal_app.state.base import StaffSessionState, call

NO_ACCESS = "You do not have permission to change portal access. Sign in again or ask an administrator."
STATUS_OPTIONS: list[tuple[str, str]] = [(key.value, label) for key, label in onboarding.STATUS_LABELS.items()]
MAX_SEARCH = 200


BULK_SELECTED_ID = "bulk-selected"
SELECT_PAGE_ID = "select-page"
BULK_MATCHING_ID = "bulk-matching"


def access_button_id(patient_id) -> str:
    """The DOM id of a row's status rectangle (the page and the state agree on it)."""
    return f"access-{patient_id}"


def _focus_later(element_id: str) -> rx.event.EventSpec:
    # Radix hands focus back to a dialog's trigger; these dialogs have none (one dialog for
    # the page, not one per row), so the state puts focus back where the user was.
    return rx.call_script(
        f"setTimeout(() => document.getElementById({json.dumps(element_id)})?.focus(), 50)")


def _status_of(value: str) -> StatusFilter:
    """Never trust a filter value from the browser: unknown means "all"."""
    try:
        return StatusFilter(value)
    except ValueError:
        return StatusFilter.ALL


def _id_of(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class OnboardingState(StaffSessionState):
    """State of /staff/onboarding."""

    rows: list[PatientRow] = []
    search: str = ""
    status: str = StatusFilter.ALL.value
    page_number: int = 1
    has_next: bool = False
    has_prev: bool = False
    loaded: bool = False
    allowed: bool = False
    selected_ids: list[int] = []
    # Checkboxes are uncontrolled, so a click shows at once; when the server changes the
    # selection (select page, clear, after a job) this number changes and they are redrawn.
    selection_epoch: int = 0

    # The disable confirmation ("Disable portal access for NAME?").
    confirm_id: int = 0
    confirm_name: str = ""

    # The bulk confirmation and the job's progress (numbers only).
    bulk_dialog_open: bool = False
    bulk_scope: str = ""  # "selected" or "matching"
    bulk_count: int = 0
    bulk_error: str = ""
    job_id: int = 0
    job_status: str = ""
    job_total: int = 0
    job_processed: int = 0
    job_percent: int = 0
    job_summary: str = ""
    job_error: str = ""

    # Backend only: how the visible page was fetched, and which job this tab follows.
    _first: Cursor | None = None
    _last: Cursor | None = None
    _anchor: tuple[str, Cursor | None] = ("after", None)
    _following: int = 0
    _bulk_request: dict | None = None
    _focus_after_dialog: str = ""
    _dismissed_job: int = 0

    # Progress reaches the page a few times a second, not once per item.
    POLL_SECONDS: ClassVar[float] = 0.3
    # A job with no progress for this long (say, the server restarted) is no longer followed.
    STALE_SECONDS: ClassVar[float] = 300.0

    # ---- guards -------------------------------------------------------------

    async def _staff_for_change(self) -> StaffPrincipal | None:
        return await self._require(Permission.PORTAL_ADMIN, Level.UPDATE)

    def _actor(self, staff: StaffPrincipal) -> audit.Actor:
        return audit.Actor.staff(staff.id, self._ip())

    # ---- the list -----------------------------------------------------------

    def _show(self, page: Page, anchor: tuple[str, Cursor | None]) -> None:
        self.rows = page.rows
        self._first, self._last = page.first, page.last
        self._anchor = anchor
        self.has_next, self.has_prev = page.has_next, page.has_prev
        if not self.has_prev:
            self.page_number = 1
        self.loaded = True

    async def _fetch(self, direction: str = "after", cursor: Cursor | None = None) -> None:
        kwargs = {"after": cursor} if direction == "after" else {"before": cursor}
        page = await call(partial(onboarding.list_page, search=self.search, status=_status_of(self.status),
                          **kwargs))
        self._show(page, (direction, cursor))

    def _replace_row(self, row: PatientRow) -> None:
        """Swap one row in place: the page keeps its order and the other 49 rows."""
        self.rows = [row if existing.id == row.id else existing for existing in self.rows]

    def _row(self, patient_id: int) -> PatientRow | None:
        return next((row for row in self.rows if row.id == patient_id), None)

    @rx.event
    async def load_page(self):
        """on_load: check access, show the first page and any job still running."""
        staff, redirect = await self._guard(Permission.PORTAL_ADMIN, Level.READ)
        if staff is None:
            self.allowed, self.loaded = False, True
            self.rows = []
            self._set_selection([])
            return redirect
        self.allowed = True
        self.page_number = 1
        await self._fetch()
        job = await call(partial(bulk.latest_job, staff_user_id=staff.id))
        if job is None or job.id == self._dismissed_job:
            return None
        self._show_job(job)
        if job.status == bulk.RUNNING and self._following != job.id:
            return OnboardingState.follow_job
        return None

    async def _reload(self) -> rx.event.EventSpec | None:
        if await self._require(Permission.PORTAL_ADMIN, Level.READ) is None:
            return rx.toast.error(NO_ACCESS)
        self.page_number = 1
        await self._fetch()
        return None

    @rx.event
    async def set_search(self, value: str):
        """The search box (debounced in the browser)."""
        self.search = str(value or "").replace("\x00", "")[:MAX_SEARCH]
        return await self._reload()

    @rx.event
    async def set_status(self, value: str):
        self.status = _status_of(str(value or "")).value
        return await self._reload()

    @rx.event
    async def next_page(self):
        if await self._require(Permission.PORTAL_ADMIN, Level.READ) is None:
            return rx.toast.error(NO_ACCESS)
        if not self.has_next or self._last is None:
            return None
        await self._fetch("after", self._last)
        self.page_number += 1
        return None

    @rx.event
    async def prev_page(self):
        if await self._require(Permission.PORTAL_ADMIN, Level.READ) is None:
            return rx.toast.error(NO_ACCESS)
        if not self.has_prev or self._first is None:
            return None
        self.page_number = max(1, self.page_number - 1)
        await self._fetch("before", self._first)
        return None

    async def _refresh_in_place(self) -> None:
        """Re-read the page the user is looking at (after a bulk job changed rows)."""
        direction, cursor = self._anchor
        page_number = self.page_number
        await self._fetch(direction, cursor)
        if self.has_prev:
            self.page_number = page_number

    # ---- one patient ----------------------------------------------------------

    @rx.event
    async def toggle_access(self, patient_id: int):
        """The status rectangle: red enables at once, green asks before disabling.

        Which one it is comes from the server's copy of the row, not from the browser.
        """
        staff = await self._staff_for_change()
        if staff is None:
            return rx.toast.error(NO_ACCESS)
        row = self._row(_id_of(patient_id))
        if row is None:
            return rx.toast.error("That patient is not on this page any more. Search again.")
        if row.enabled:
            self.confirm_id, self.confirm_name = row.id, row.name
            self._focus_after_dialog = access_button_id(row.id)
            return None
        try:
            updated = await call(partial(onboarding.enable_access, patient_id=row.id, actor=self._actor(staff)))
        except DomainError as exc:
            return rx.toast.error(exc.message)
        self._replace_row(updated)
        return rx.toast.success(f"Portal access enabled for {updated.name}.")

    @rx.event
    def set_confirm_open(self, is_open: bool):
        """The dialog closed (Cancel, Escape, or after "Disable access")."""
        if not is_open:
            self.confirm_id, self.confirm_name = 0, ""
            if self._focus_after_dialog:
                return _focus_later(self._focus_after_dialog)
        return None

    @rx.event
    async def confirm_disable(self):
        """Disable the patient named in the dialog: ends their portal sessions, voids links."""
        patient_id = self.confirm_id
        self.confirm_id, self.confirm_name = 0, ""
        staff = await self._staff_for_change()
        if staff is None:
            return rx.toast.error(NO_ACCESS)
        if not patient_id:
            return None
        try:
            updated = await call(partial(onboarding.disable_access, patient_id=patient_id,
                                 actor=self._actor(staff)))
        except DomainError as exc:
            return rx.toast.error(exc.message)
        self._replace_row(updated)
        return rx.toast.success(f"Portal access disabled for {updated.name}.")

    @rx.event
    async def send_email(self, patient_id: int):
        """The email link: an invitation (no account) or a password reset (account exists).

        A second click within a minute re-uses the link just sent (the service decides),
        so a double click sends one message.
        """
        staff = await self._staff_for_change()
        if staff is None:
            return rx.toast.error(NO_ACCESS)
        patient_id = _id_of(patient_id)
        try:
            result = await call(partial(invitations.send_invitation_or_reset, patient_id=patient_id,
                                actor=self._actor(staff)))
            if self._row(patient_id) is not None:
                # An invitation moves the account state to "Invited": show it.
                self._replace_row(await call(partial(onboarding.patient_row, patient_id=patient_id)))
        except DomainError as exc:
            return rx.toast.error(exc.message)
        if result.status == "failed":
            return rx.toast.error(result.message)
        return rx.toast.success(result.message)

    # ---- selection ------------------------------------------------------------

    def _set_selection(self, ids: list[int]) -> None:
        """Change the selection from the server: the checkboxes are drawn afresh."""
        self.selected_ids = ids
        self.selection_epoch += 1

    @rx.event
    def toggle_selected(self, patient_id: int, checked: bool):
        """One row's checkbox (it has already changed in the browser)."""
        patient_id = _id_of(patient_id)
        if checked and patient_id and patient_id not in self.selected_ids:
            if len(self.selected_ids) >= bulk.MAX_SELECTED:
                self.bulk_error = (f"At most {bulk.MAX_SELECTED} patients can be selected; use "
                                   "“Enable and invite all matching” instead.")
                self.selection_epoch += 1  # undo the tick the browser already drew
                return
            self.selected_ids = [*self.selected_ids, patient_id]
        elif not checked:
            self.selected_ids = [i for i in self.selected_ids if i != patient_id]

    @rx.event
    def toggle_page(self, checked: bool):
        """"Select all on this page"."""
        on_page = [row.id for row in self.rows]
        if checked:
            extra = [i for i in on_page if i not in self.selected_ids]
            self._set_selection((self.selected_ids + extra)[:bulk.MAX_SELECTED])
        else:
            self._set_selection([i for i in self.selected_ids if i not in on_page])
        return _focus_later(SELECT_PAGE_ID)

    @rx.event
    def clear_selection(self):
        self._set_selection([])

    @rx.var
    def selected_count(self) -> int:
        return len(self.selected_ids)

    @rx.var
    def page_all_selected(self) -> bool:
        return bool(self.rows) and all(row.id in self.selected_ids for row in self.rows)

    # ---- bulk "Enable and invite" ---------------------------------------------

    @rx.event
    async def ask_bulk_selected(self):
        self.bulk_error = ""
        if await self._staff_for_change() is None:
            return rx.toast.error(NO_ACCESS)
        if not self.selected_ids:
            self.bulk_error = "Select at least one patient first."
            return None
        self.bulk_scope, self.bulk_count, self.bulk_dialog_open = "selected", len(self.selected_ids), True
        return None

    @rx.event
    async def ask_bulk_matching(self):
        self.bulk_error = ""
        if await self._staff_for_change() is None:
            return rx.toast.error(NO_ACCESS)
        count = await call(partial(onboarding.count_matching, search=self.search, status=_status_of(self.status)))
        if count == 0:
            self.bulk_error = "No patients match the search and filter."
            return None
        self.bulk_scope, self.bulk_count, self.bulk_dialog_open = "matching", count, True
        return None

    @rx.event
    def set_bulk_dialog_open(self, is_open: bool):
        """The dialog closed (Cancel or Escape; "Start" has already read the scope)."""
        if not is_open:
            self.bulk_dialog_open, self.bulk_scope, self.bulk_count = False, "", 0
            return _focus_later(BULK_MATCHING_ID if not self.selected_ids else BULK_SELECTED_ID)
        return None

    @rx.event
    def dismiss_job(self):
        if self.job_status != bulk.RUNNING:
            self._dismissed_job = self.job_id
            self._show_job(None)

    def _show_job(self, job: JobView | None) -> None:
        self.job_id = job.id if job else 0
        self.job_status = job.status if job else ""
        self.job_total = job.total if job else 0
        self.job_processed = job.processed if job else 0
        self.job_percent = job.percent if job else 0
        self.job_summary = job.summary if job else ""
        self.job_error = job.error if job else ""

    @rx.event
    async def start_bulk(self):
        """"Start" in the bulk dialog: fix what the job covers, then run it in the background.

        The request is taken here, in order with the other events, so the dialog closing
        right after cannot change what the job covers.
        """
        self.bulk_dialog_open = False
        staff = await self._staff_for_change()
        if staff is None:
            return rx.toast.error(NO_ACCESS)
        if self.job_status == bulk.RUNNING:
            return rx.toast.error("An Enable and invite job is still running. Wait for it to finish.")
        scope = self.bulk_scope
        self.bulk_scope, self.bulk_count, self.bulk_error = "", 0, ""
        if scope not in ("selected", "matching"):
            return None
        self._bulk_request = {
            "patient_ids": list(self.selected_ids) if scope == "selected" else None,
            "search": self.search, "status": _status_of(self.status).value,
        }
        return OnboardingState.run_bulk

    @rx.event(background=True)
    async def run_bulk(self):
        """Create the job, work it in a worker thread, and show its progress from the row.

        The work goes on if the page is closed; the row keeps the counts.
        """
        async with self:
            request, self._bulk_request = self._bulk_request, None
            if request is None:
                return None
            staff = await self._staff_for_change()
            if staff is None:
                return rx.toast.error(NO_ACCESS)
            actor = self._actor(staff)
        work = {"patient_ids": request["patient_ids"], "search": request["search"],
                "status": _status_of(request["status"])}
        try:
            job = await call(partial(bulk.start_job, actor=actor, **work))
        except DomainError as exc:
            async with self:
                self.bulk_error = exc.message
            return None
        async with self:
            self._show_job(job)
            self._following = job.id
            if work["patient_ids"] is not None:
                self._set_selection([])
        worker = asyncio.ensure_future(call(partial(bulk.run_job, job_id=job.id, actor=actor, **work)))
        await self._follow(job.id, staff.id, worker)
        return None

    @rx.event(background=True)
    async def follow_job(self):
        """After a reload or in another tab: show a running job's progress until it ends."""
        async with self:
            staff = await self._require(Permission.PORTAL_ADMIN, Level.READ)
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
        last_processed, last_change = -1, time.monotonic()
        job: JobView | None = None
        try:
            while True:
                if worker is not None and worker.done():
                    worker.result()  # surface a crash in the worker as a failed poll below
                job = await call(partial(bulk.job_view, job_id=job_id, staff_user_id=staff_id))
                if job is None:
                    break
                if job.processed != last_processed:
                    last_processed, last_change = job.processed, time.monotonic()
                async with self:
                    if self._following != job_id:
                        return  # the user started another job in this tab
                    self._show_job(job)
                if job.status != bulk.RUNNING:
                    break
                if worker is None and time.monotonic() - last_change > self.STALE_SECONDS:
                    async with self:
                        self.job_error = ("No progress for five minutes: the job may have been "
                                          "interrupted. Counts show what was done.")
                    break
                await asyncio.sleep(self.POLL_SECONDS)
        except Exception:  # noqa: BLE001 (never leave the bar spinning)
            async with self:
                self.job_error = self.job_error or "The job stopped unexpectedly; counts show what was done."
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
