"""The chart's "Documents shared with the patient" section (staff chart page, Patient Portal tab).

Runs after ChartState.load and reads the chart id from the page's own URL, as ChartState does.
Read (Patient Portal Admin) lists and downloads (audited "document.list", "document.download");
Update shares a file (audited "document.share").
"""

from __future__ import annotations

from functools import partial

import reflex as rx

from portal_app import routes
from portal_app.services import audit, documents
from portal_app.services.errors import DomainError
from portal_app.services.permissions import Level, Permission
from portal_app.state.actions import Staff, staff_action
from portal_app.state.base import StaffSessionState, call
from portal_app.state.chart_section import STALE, ChartSection
from portal_app.state.inputs import as_id
from portal_app.state.patient_documents import DocumentList

UPLOAD_ID = "chart_document"
SHARED = "The document is shared. The patient sees it under Documents in the portal."
NO_SHARE = "You do not have permission to share documents with patients."
NO_VIEW = "You do not have permission to see the patient's documents."


class ChartDocumentsState(DocumentList, ChartSection, StaffSessionState):
    def _clear_messages(self) -> None:
        self.file_error = self.note_error = self.error = self.notice = ""

    def _clear(self) -> None:
        self.loaded = False
        self._empty_list()
        self._chart_id = 0
        self._clear_messages()

    # ---- refusals and failures (state/actions.py calls these) -------------------------

    def _refusal_message(self, level: Level = Level.READ) -> str:
        return NO_SHARE if level > Level.READ else NO_VIEW

    def _refused(self, message: str, *, signed_in: bool, level: Level = Level.READ):
        """Beside the section; a session that has ended goes to sign-in (the list forgotten)."""
        if not signed_in:
            return rx.redirect(routes.STAFF_LOGIN)
        if level > Level.READ:  # a refused share clears what the last one said
            self._clear_messages()
        self.error = message
        return None

    def _failed(self, error: DomainError):
        """Beside the file or note field when it names one, else the section's error line."""
        self.error = self._refused_file(error)

    async def _read(self) -> None:
        """The list's page (audited "document.list" as the staff user reading the chart)."""
        await self._fetch_page(self._chart_id, reader=audit.Actor.staff(self._reader_id, self._ip()))
        self.loaded = True

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE)
    async def share(self, staff: Staff, files: list[rx.UploadFile]):
        self._clear_messages()
        if not self._chart_id:
            self.error = STALE
            return None
        chosen = await self._chosen_file(files)
        if chosen is None:
            return None
        self._reader_id = staff.id
        await call(partial(documents.share_with_patient, patient_id=self._chart_id, filename=chosen[0],
                   data=chosen[1], note=self.note, actor=staff.actor))
        self._after_share()
        await self._read()
        self.notice = SHARED
        return rx.clear_selected_files(UPLOAD_ID)

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def download(self, staff: Staff, document_id: str):
        content = await call(partial(documents.download, document_id=as_id(document_id),
                             patient_id=self._chart_id or -1, actor=staff.actor))
        return rx.download(data=content.data, filename=content.filename, mime_type=content.content_type)

    # The list's pager (DocumentList) pages through this chart with Read access checked here.
    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def next_page(self, staff: Staff):
        await self._show_page(staff, self.offset + documents.PAGE_SIZE)

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def previous_page(self, staff: Staff):
        await self._show_page(staff, self.offset - documents.PAGE_SIZE)

    async def _show_page(self, staff: Staff, offset: int) -> None:
        self.offset = max(0, offset)
        self._reader_id = staff.id
        await self._read()
