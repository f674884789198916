"""Import patients (`/staff/setup/import`): upload a file, match its columns, preview, dry run, import.

"Patient Import" Read sees this user's latest import and its results; Update uploads and runs.
The file goes to disk chunk by chunk as it arrives (services/import_files.py) and never into
state; only the job's numbers, the file's column names and one page of rows live here. The running
half (dry run, import, progress, the result lists) is the mixin in state/patient_import_run.py.
"""

from __future__ import annotations

import asyncio
from functools import partial

import reflex as rx

from portal_app import routes
from portal_app.services import audit, import_files, import_results
from portal_app.services.errors import DomainError, InvalidInput
from portal_app.services.importing import jobs
from portal_app.services.patient_records import FIELDS
from portal_app.services.permissions import Level, Permission
from portal_app.state.actions import Staff, staff_action, staff_page_load
from portal_app.state.base import StaffSessionState, call
from portal_app.state.patient_import_run import ImportRun

UPLOAD_ID = "import-upload"
FILE_FIELD = "import-file"
NO_OPEN = "You do not have permission to open Import patients."
NO_RUN = "You do not have permission to import patients (Patient Import: Update is needed)."
ONE_FILE = "Upload one file at a time."
UPLOADED = "Uploaded. Check how the file's columns match our fields, then preview."
UPLOADED_FHIR = "Uploaded. Preview the first patients, then run a dry run."
OUTCOMES = {"new": "New", "updated": "Updated", "unchanged": "Unchanged", "refused": "Refused"}
MAPPING_FIX = "A column is chosen twice or the chart number is missing: fix the marked field first."


class PatientImportState(ImportRun, StaffSessionState):
    """The steps of one import, for this staff user."""

    loaded: bool = False
    load_error: str = ""
    can_run: bool = False
    notice: str = ""
    error: str = ""

    # The upload (the file itself is on disk; here only what staff read about it).
    uploading: bool = False
    upload_percent: int = 0
    file_error: str = ""
    file_error_for: str = ""  # the chosen file's name the error is about

    # The column mapping of a CSV: our field -> the file's column ("" = not in the file).
    columns: list[str] = []
    mapping: dict[str, str] = {}
    mapping_errors: dict[str, str] = {}

    # The practice's latest imports (file, who, when, what they did): Read access sees them.
    past_imports: list[dict[str, str]] = []

    # The preview: the first rows as they will be stored (cells in `preview_headers` order).
    preview_headers: list[str] = []
    preview_rows: list[list[str]] = []

    # ---- refusals and failures (state/actions.py calls these) -------------------------------

    def _forget(self) -> None:
        self.loaded = False
        self._forget_job()
        self.columns, self.mapping, self.mapping_errors = [], {}, {}
        self.preview_headers, self.preview_rows = [], []
        self.past_imports = []

    def _refusal_message(self, level: Level = Level.READ) -> str:
        return NO_RUN if level > Level.READ else NO_OPEN

    def _refused(self, message: str, *, signed_in: bool, level: Level = Level.READ):
        if not signed_in:
            return rx.redirect(routes.STAFF_LOGIN)
        self.notice = ""
        self.error = message
        return None

    def _failed(self, error: DomainError):
        """Beside the file control or the named field's select when the error names one."""
        self.notice = ""
        if error.field == import_files.FIELD:
            self.file_error = error.message
        elif error.field in FIELDS:
            self.mapping_errors = {error.field: error.message}
        else:
            self.error = error.message

    def _load_refused(self, *, signed_in: bool) -> None:
        self._forget()
        self.load_error = NO_OPEN if signed_in else ""

    def _clear_messages(self) -> None:
        self.notice = self.error = self.file_error = self.file_error_for = ""

    # ---- the page ----------------------------------------------------------------------------

    @staff_page_load(Permission.PATIENT_IMPORT)
    async def load(self, staff: Staff):
        """This user's latest import (a running one is followed again: see `follow_job`)."""
        self._clear_messages()
        self.load_error = ""
        self.can_run = staff.principal.can(Permission.PATIENT_IMPORT, Level.UPDATE)
        job = await call(partial(jobs.latest_job, staff_user_id=staff.id))
        self._forget_job()
        self.columns, self.mapping, self.mapping_errors = [], {}, {}
        self.preview_headers, self.preview_rows = [], []
        if job is not None:
            self._show_job(job)
            await self._read_columns()
            await self._read_results(staff)
        await self._read_past_imports()
        self.loaded = True
        return type(self).follow_job if self.job_running else None

    async def _read_past_imports(self) -> None:
        found = await call(partial(import_results.recent_imports))
        self.past_imports = [{"file": p.file_name, "by": p.by, "when": p.when, "status": p.status,
                              "summary": p.summary} for p in found]

    @staff_action(Permission.PATIENT_IMPORT, Level.UPDATE)
    async def start_over(self, staff: Staff):
        """"Import another file": this tab leaves the last job (its rows stay in the database)."""
        if self.job_running:
            self.error = "The import is still running. Wait for it to finish."
            return None
        self._forget()
        await self._read_past_imports()
        self.loaded = True
        self._clear_messages()
        return rx.clear_selected_files(UPLOAD_ID)

    # ---- the upload ----------------------------------------------------------------------

    @rx.event
    def set_upload_progress(self, progress: dict):
        """The browser's upload progress (0..1), for the bar under the file control."""
        try:
            self.upload_percent = max(0, min(100, int(float(progress.get("progress", 0)) * 100)))
        except (TypeError, ValueError, AttributeError):
            self.upload_percent = 0

    @rx.event(background=True)
    async def upload(self, chunks: rx.UploadChunkIterator):
        """"Upload": write the file to disk as its chunks arrive, then open an import job for it.

        A background handler (Reflex streams chunks only to one) is not wrapped by staff_action:
        it checks access itself under the lock, before a byte is written.
        """
        async with self:
            staff = await self._require(Permission.PATIENT_IMPORT, Level.UPDATE)
            if staff is None:
                principal = await self._principal()
                actor = (audit.Actor.staff(principal.id, self._ip()) if principal is not None
                         else audit.Actor.anonymous(ip=self._ip()))
                await call(partial(audit.record_refusal, actor=actor,
                                   handler=f"{type(self).__name__}.upload", need="patient_import>=update"))
                return self._refused(NO_RUN, signed_in=principal is not None, level=Level.UPDATE)
            if self.uploading or self.job_running:
                return None
            self._clear_messages()
            self.uploading, self.upload_percent = True, 0
            actor = audit.Actor.staff(staff.id, self._ip())
        incoming: import_files.Incoming | None = None
        try:
            incoming = await self._receive(chunks)
            job = await call(partial(jobs.create_job, actor=actor, file_name=incoming.file_name,
                                     stored_path=str(incoming.path), file_size=incoming.size))
        except DomainError as exc:
            if incoming is not None:  # on disk, but not a file we can import: keep nothing of it
                await asyncio.to_thread(incoming.discard)
            async with self:
                self.uploading = False
                self.file_error = exc.message
            return None
        except BaseException:
            async with self:
                self.uploading = False
            raise
        async with self:
            self.uploading = False
            self._forget()
            self.loaded = True
            self._show_job(job)
            await self._read_columns()
            await self._read_past_imports()
            self.notice = UPLOADED if self.is_csv else UPLOADED_FHIR
        return rx.clear_selected_files(UPLOAD_ID)

    async def _receive(self, chunks: rx.UploadChunkIterator) -> import_files.Incoming:
        """The upload on disk (a refused or broken one is removed, and says why beside the file)."""
        incoming: import_files.Incoming | None = None
        try:
            async for chunk in chunks:
                if incoming is None:
                    incoming = await asyncio.to_thread(import_files.Incoming, chunk.filename)
                    async with self:
                        self.file_error_for = chunk.filename.replace("\\", "/").rsplit("/", 1)[-1]
                elif import_files.display_name(chunk.filename) != incoming.file_name:
                    raise InvalidInput(ONE_FILE, field=import_files.FIELD)
                await asyncio.to_thread(incoming.write, chunk.data)
            if incoming is None:
                raise InvalidInput(import_files.NO_FILE, field=import_files.FIELD)
            await asyncio.to_thread(incoming.finish)
            return incoming
        except BaseException:
            if incoming is not None:
                await asyncio.to_thread(incoming.discard)
            raise

    # ---- the column mapping (CSV) -------------------------------------------------------------

    async def _read_columns(self) -> None:
        """The file's column names (the mapping itself comes with the job: `_show_job`)."""
        self.columns = await call(partial(jobs.columns, job_id=self.job_id)) if self.job_id and self.is_csv else []

    async def _save_mapping(self, actor: audit.Actor) -> bool:
        """Save the mapping as chosen; a problem goes beside its field's select (False)."""
        self.mapping_errors = {}
        try:
            job = await call(partial(jobs.save_mapping, job_id=self.job_id,
                                     mapping={k: v for k, v in self.mapping.items() if v}, actor=actor))
        except InvalidInput as exc:
            if exc.field in FIELDS:
                self.mapping_errors = {exc.field: exc.message}
            else:
                self.error = exc.message
            return False
        self._show_job(job)
        return True

    async def _mapping_holds(self, actor: audit.Actor) -> bool:
        """Before a preview or a pass: the columns as chosen are saved and valid. A stopped import
        keeps the mapping it ran with (saving again would start it over instead of resuming)."""
        if not self.is_csv:
            return True
        if self.mapping_errors:
            return False
        return self.job_can_resume or await self._save_mapping(actor)

    @staff_action(Permission.PATIENT_IMPORT, Level.UPDATE)
    async def choose_column(self, staff: Staff, field: str, column: str):
        """One select changed: keep the choice (even a wrong one) and save the mapping if it holds."""
        if field not in FIELDS or not self.job_id or not self.is_csv or self.job_running:
            return None
        self.notice = self.error = ""
        self.mapping = {**self.mapping, field: column if column in self.columns else ""}
        self.preview_headers, self.preview_rows = [], []
        self._clear_results()
        await self._save_mapping(staff.actor)
        return None

    # ---- the preview -------------------------------------------------------------------------

    @staff_action(Permission.PATIENT_IMPORT, Level.UPDATE)
    async def show_preview(self, staff: Staff):
        """"Preview": the first 20 rows as they will be stored, each with its refusal if any."""
        self.notice = self.error = ""
        if not self.job_id:
            self.file_error = import_files.NO_FILE
            return None
        if not await self._mapping_holds(staff.actor):
            self.error = self.error or MAPPING_FIX
            return None
        rows = await call(partial(import_results.preview, job_id=self.job_id, actor=staff.actor))
        self.preview_headers, self.preview_rows = preview_table(rows)
        if not self.preview_rows:
            self.notice = "The file has no patient rows to show."
        return None


def preview_table(rows: list[jobs.PreviewRow]) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of the preview: the line, the chart number, each other field some row
    carries (in our order), what would happen to the row, and why it would be refused."""
    values = [dict(row.values) for row in rows]
    keys = [key for key in FIELDS if key != "chart_number" and any(key in found for found in values)]
    headers = ["Line", FIELDS["chart_number"], *[FIELDS[key] for key in keys], "Would be", "Refused because"]
    cells = [[str(row.line), found.get("chart_number") or row.chart_number, *[found.get(key, "") for key in keys],
              OUTCOMES.get(row.outcome, row.outcome), row.reason] for row, found in zip(rows, values, strict=True)]
    return headers, cells
