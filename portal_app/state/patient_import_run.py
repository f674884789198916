"""The running half of Import patients: dry run, import, resume, progress, and the result lists.

A mixin of `PatientImportState` (state/patient_import.py). The work runs in a worker thread;
a background handler copies the job row's numbers into state a few times a second (the
bulk-invite pattern of state/onboarding_bulk.py), so a reopened page picks a running job up.
Only one page of refused rows and one page of updated charts live here.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import ClassVar

import reflex as rx

from portal_app import routes
from portal_app.services import audit, import_results
from portal_app.services.errors import DomainError
from portal_app.services.importing import jobs
from portal_app.services.importing.jobs import JobView
from portal_app.services.patient_records import FIELDS
from portal_app.services.permissions import Level, Permission
from portal_app.state.actions import Staff, staff_action
from portal_app.state.base import call

STILL_RUNNING = "The import is still running. Wait for it to finish."
STALLED = "No progress for five minutes: the job may have been interrupted. Counts show what was done."
CRASHED = "The job stopped unexpectedly; counts show what was done. Reopen the page to resume."
NO_ACCESS = "You do not have permission to import patients (Patient Import: Update is needed)."
CHECK_FIRST = "Fix the marked column first."
NOTHING_CHANGED = jobs.NOTHING_CHANGED


class ImportRun(rx.State, mixin=True):
    """The job this tab shows (numbers only) and a page of each result list."""

    job_id: int = 0
    file_name: str = ""
    file_format: str = ""  # csv, fhir-bundle, ndjson
    file_format_label: str = ""  # "CSV (UTF-8, comma-separated)"
    file_size_text: str = ""
    job_status: str = ""
    job_dry_run: bool = False  # the running (or last) pass was a dry run
    job_can_resume: bool = False  # an import stopped part-way
    job_total: int = 0
    job_processed: int = 0
    job_percent: int = 0
    job_summary: str = ""
    job_error: str = ""
    count_new: int = 0
    count_updated: int = 0
    count_unchanged: int = 0
    count_refused: int = 0
    count_skipped: int = 0

    # The result lists of the last pass: a page of refused rows and of updated charts.
    results_shown: bool = False
    results_dry_run: bool = False
    refused_rows: list[dict[str, str]] = []
    refused_page_number: int = 0  # 0-based
    refused_pages: int = 0
    updated_rows: list[dict[str, str]] = []
    updated_page_number: int = 0
    updated_pages: int = 0

    # Backend only: which job this tab follows, and what "Dry run" / "Import" asked for.
    # A job is followed once per pass (a dry run, then the import, of one job id): `_follow_pass`
    # names the current follower, so a finishing follower of the dry run cannot stop the import's.
    _following: int = 0
    _follow_pass: int = 0
    _request: str = ""

    POLL_SECONDS: ClassVar[float] = 0.3
    STALE_SECONDS: ClassVar[float] = 300.0

    @rx.var
    def is_csv(self) -> bool:
        return self.file_format == "csv"

    @rx.var
    def job_running(self) -> bool:
        return self.job_status == jobs.RUNNING

    @rx.var
    def can_resume(self) -> bool:
        return self.job_can_resume and self.job_status != jobs.RUNNING

    @rx.var
    def import_done(self) -> bool:
        return self.job_status == jobs.DONE and not self.job_dry_run

    @rx.var
    def refusals_href(self) -> str:
        if not self.job_id:
            return ""
        return routes.import_refusals_file(self.job_id, dry_run=self.results_dry_run)

    @rx.var
    def refusals_file_name(self) -> str:
        return f"import-{self.job_id}-{'dry-run-' if self.results_dry_run else ''}refusals.csv"

    @rx.var
    def processed_text(self) -> str:
        return f"{self.job_processed:,} of {self.job_total:,} rows ({self.job_percent}%)"

    @rx.var
    def result_text(self) -> str:
        """What the last pass did (or would do), e.g. "Imported: 1,204 new, 37 updated, 2,990
        unchanged, 4 refused."; "" before any pass and while one runs."""
        if not self.job_id or self.job_status in ("", jobs.UPLOADED, jobs.RUNNING):
            return ""
        counts = (f"{self.count_new:,} new, {self.count_updated:,} updated, {self.count_unchanged:,} unchanged, "
                  f"{self.count_refused:,} refused")
        if self.count_skipped:
            counts += f", {self.count_skipped:,} skipped (not patients)"
        if self.job_status == jobs.DONE and not self.job_dry_run:
            if self.count_new == self.count_updated == 0:
                return f"{NOTHING_CHANGED} ({counts})"
            return f"Imported: {counts}."
        if self.job_status in (jobs.CHECKED, jobs.DONE):
            return f"Dry run: the import would make {counts}. Nothing was changed."
        # Stopped part-way: the job's error (shown below) says where and why.
        return f"Done before it stopped: {counts}."

    @rx.var
    def refused_page_text(self) -> str:
        return _page_text(self.refused_page_number, len(self.refused_rows), self.count_refused)

    @rx.var
    def updated_page_text(self) -> str:
        return _page_text(self.updated_page_number, len(self.updated_rows), self.count_updated)

    def _show_job(self, job: JobView | None) -> None:
        self.job_id = job.id if job else 0
        self.file_name = job.file_name if job else ""
        self.file_format = job.file_format if job else ""
        self.file_format_label = job.format_label if job else ""
        self.file_size_text = _size_text(job.file_size) if job else ""
        self.job_status = job.status if job else ""
        self.job_dry_run = job.dry_run if job else False
        self.job_can_resume = job.can_resume if job else False
        self.job_total = job.total if job else 0
        self.job_processed = job.processed if job else 0
        self.job_percent = job.percent if job else 0
        self.job_summary = job.summary if job else ""
        self.job_error = job.error if job else ""
        self.count_new = job.new if job else 0
        self.count_updated = job.updated if job else 0
        self.count_unchanged = job.unchanged if job else 0
        self.count_refused = job.refused if job else 0
        self.count_skipped = job.skipped if job else 0
        if job is not None and job.file_format == "csv":
            chosen = dict(job.mapping)
            self.mapping = {key: chosen.get(key, "") for key in FIELDS}

    def _clear_results(self) -> None:
        self.results_shown = False
        self.refused_rows, self.updated_rows = [], []
        self.refused_page_number = self.updated_page_number = self.refused_pages = self.updated_pages = 0

    def _forget_job(self) -> None:
        self._show_job(None)
        self._clear_results()
        self._following = 0
        self._request = ""

    async def _read_results(self, staff: Staff) -> None:
        """The first page of each list, after a finished pass (the view of refusals is audited)."""
        self._clear_results()
        if not self.job_id or self.job_status not in (jobs.CHECKED, jobs.DONE, jobs.INTERRUPTED, jobs.FAILED):
            return
        self.results_dry_run = self.job_dry_run
        await self._read_refused(staff.actor)
        await self._read_updated(staff.actor)
        self.results_shown = True

    async def _read_refused(self, actor: audit.Actor) -> None:
        found = await call(partial(import_results.refused_page, job_id=self.job_id, dry_run=self.results_dry_run,
                                   page=self.refused_page_number, actor=actor))
        self.refused_page_number, self.refused_pages = found.page, found.pages
        self.refused_rows = [{"line": f"{r.line:,}", "chart": r.chart_number, "reason": r.detail} for r in found.rows]

    async def _read_updated(self, actor: audit.Actor) -> None:
        found = await call(partial(import_results.updated_page, job_id=self.job_id, dry_run=self.results_dry_run,
                                   page=self.updated_page_number, actor=actor))
        self.updated_page_number, self.updated_pages = found.page, found.pages
        self.updated_rows = [{"line": f"{r.line:,}", "chart": r.chart_number, "changes": r.detail}
                             for r in found.rows]

    # ---- the result lists' pagers ------------------------------------------------------------

    @staff_action(Permission.PATIENT_IMPORT, Level.READ)
    async def refused_page(self, staff: Staff, forward: bool):
        self.refused_page_number = max(0, self.refused_page_number + (1 if forward else -1))
        await self._read_refused(staff.actor)

    @staff_action(Permission.PATIENT_IMPORT, Level.READ)
    async def updated_page(self, staff: Staff, forward: bool):
        self.updated_page_number = max(0, self.updated_page_number + (1 if forward else -1))
        await self._read_updated(staff.actor)

    # ---- starting a pass ---------------------------------------------------------------------

    async def _ready_to_run(self, staff: Staff) -> bool:
        """A job this tab shows, not running, with a mapping that holds (CSV)."""
        self.notice = self.error = ""
        if not self.job_id:
            self.error = "Upload a file first."
            return False
        if self.job_running:
            self.error = STILL_RUNNING
            return False
        if not await self._mapping_holds(staff.actor):
            self.error = self.error or CHECK_FIRST
            return False
        return True

    @staff_action(Permission.PATIENT_IMPORT, Level.UPDATE)
    async def start_dry_run(self, staff: Staff):
        """"Dry run": go over the whole file, count what would happen, change nothing."""
        if not await self._ready_to_run(staff):
            return None
        self._request = "dry_run"
        self._clear_results()
        return type(self).run_pass

    @staff_action(Permission.PATIENT_IMPORT, Level.UPDATE)
    async def start_import(self, staff: Staff):
        """"Import" (or "Resume" after an interruption: the job goes on after its last saved row)."""
        if not await self._ready_to_run(staff):
            return None
        self._request = "import"
        self._clear_results()
        return type(self).run_pass

    @rx.event(background=True)
    async def run_pass(self):
        """Work the job in a worker thread and show its progress from the row.

        The work goes on if the page is closed; the row keeps the counts. A background
        handler is not wrapped by staff_action: it checks access itself under the lock.
        """
        async with self:
            request, self._request = self._request, ""
            job_id = self.job_id
            if request not in ("dry_run", "import") or not job_id:
                return None
            staff = await self._require(Permission.PATIENT_IMPORT, Level.UPDATE, audit_as="run_pass")
            if staff is None:
                return rx.toast.error(NO_ACCESS)
            actor = audit.Actor.staff(staff.id, self._ip())
            self.job_status, self.job_dry_run = jobs.RUNNING, request == "dry_run"
            self.job_processed = self.job_percent = 0
            follower = self._start_following(job_id)
        # In a child process: the server's threads (and the GIL) stay free for everyone's clicks.
        work = partial(jobs.run_in_own_process, job_id=job_id, actor=actor, dry_run=request == "dry_run")
        worker = asyncio.ensure_future(call(work))
        await self._follow(follower, job_id, staff.id, worker)
        return None

    @rx.event(background=True)
    async def follow_job(self):
        """After a reload or in another tab: show a running job's progress until it ends."""
        async with self:
            staff = await self._require(Permission.PATIENT_IMPORT, Level.READ, audit_as="follow_job")
            if staff is None:
                return None
            job_id = self.job_id
            if not job_id or self._following == job_id:
                return None
            follower = self._start_following(job_id)
        await self._follow(follower, job_id, staff.id, None)
        return None

    def _start_following(self, job_id: int) -> int:
        """Make this pass the tab's follower of `job_id` (under the lock); its number."""
        self._following = job_id
        self._follow_pass += 1
        return self._follow_pass

    def _is_follower(self, follower: int) -> bool:
        return self._following != 0 and self._follow_pass == follower

    async def _follow(self, follower: int, job_id: int, staff_id: int, worker: asyncio.Future | None) -> None:
        """Poll the job row and copy its numbers into state a few times a second."""
        job: JobView | None = None
        try:
            job = await self._poll(follower, job_id, staff_id, worker)
        except DomainError as exc:
            async with self:
                self.job_error = exc.message
                job = await call(partial(jobs.job_view, job_id=job_id, staff_user_id=staff_id))
                if job is not None:
                    self._show_job(job)
        except Exception:  # noqa: BLE001 (never leave the bar spinning)
            async with self:
                self.job_error = self.job_error or CRASHED
                self.job_status = jobs.FAILED
        finally:
            async with self:
                await self._stop_following(follower, job_id)

    async def _stop_following(self, follower: int, job_id: int) -> None:
        """The end of a follower (under the lock): show the results, unless a later pass follows."""
        if not self._is_follower(follower):
            return
        self._following = 0
        # The job may outlast the sign-in session: read the lists only for a user who may.
        staff = await self._require(Permission.PATIENT_IMPORT, Level.READ)
        if staff is not None and self.job_id == job_id and self.job_status != jobs.RUNNING:
            await self._read_results(Staff(staff, audit.Actor.staff(staff.id, self._ip())))
            await self._read_past_imports()

    async def _poll(self, follower: int, job_id: int, staff_id: int,
                    worker: asyncio.Future | None) -> JobView | None:
        """The polling loop of `_follow`: the job's last view (None if the job went away)."""
        last_processed, last_change = -1, time.monotonic()
        while True:
            if worker is not None and worker.done():
                worker.result()  # surface a crash in the worker as a failed poll
            job = await call(partial(jobs.job_view, job_id=job_id, staff_user_id=staff_id))
            if job is None:
                return None
            if job.processed != last_processed:
                last_processed, last_change = job.processed, time.monotonic()
            async with self:
                if not self._is_follower(follower):
                    return job
                self._show_job(job)
            if job.status != jobs.RUNNING and (worker is None or worker.done()):
                return job
            if worker is None and time.monotonic() - last_change > self.STALE_SECONDS:
                async with self:
                    self.job_error = STALLED
                return job
            await asyncio.sleep(self.POLL_SECONDS)


def _page_text(page: int, shown: int, total: int) -> str:
    if not shown:
        return ""
    first = page * import_results.PAGE_SIZE + 1
    return f"{first:,}–{first + shown - 1:,} of {total:,}"


def _size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} bytes"
