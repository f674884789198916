"""The chart's "Documents shared with the patient" section (staff chart page, Patient Portal tab).

Runs after ChartState.load and reads the chart id from the page's own URL, as ChartState does.
Read (Patient Portal Admin) lists and downloads; Update shares a file (audited "document.share").
"""

from __future__ import annotations

import re
from functools import partial

import reflex as rx

from portal_app import routes
from portal_app.services import audit, documents
from portal_app.services.errors import DomainError
from portal_app.services.permissions import Level, Permission
from portal_app.state.base import StaffSessionState, call
from portal_app.state.inputs import as_id
from portal_app.state.patient_documents import DocumentList

_CHART_PATH = re.compile(r"/staff/patients/(\d{1,12})/?$")
UPLOAD_ID = "chart_document"
STALE = "This chart is no longer open here. Reload the page and try again."
SHARED = "The document is shared. The patient sees it under Documents in the portal."


class ChartDocumentsState(DocumentList, StaffSessionState):
    loaded: bool = False
    error: str = ""
    notice: str = ""

    _chart_id: int = 0

    def _route_patient_id(self) -> int | None:
        match = _CHART_PATH.search(self.router.url.path or "")
        return int(match.group(1)) if match else None

    def _clear_messages(self) -> None:
        self.file_error = self.note_error = self.error = self.notice = ""

    def _clear(self) -> None:
        self.loaded = False
        self.rows = []
        self.total = 0
        self.offset = 0
        self.note = ""
        self._chart_id = 0
        self._clear_messages()

    async def _allowed(self, level: Level):
        """(principal, None), or (None, refusal); the list is forgotten when not signed in."""
        staff = await self._require(Permission.PORTAL_ADMIN, level)
        if staff is not None:
            return staff, None
        if not self.staff_name:
            self._clear()
            return None, rx.redirect(routes.STAFF_LOGIN)
        self.error = ("You do not have permission to share documents with patients." if level > Level.READ
                      else "You do not have permission to see the patient's documents.")
        return None, None

    async def _read(self) -> None:
        await self._fetch_page(self._chart_id)
        self.loaded = True

    @rx.event
    async def load(self):
        """on_load (after ChartState.load): the chart's portal documents."""
        self._clear()
        staff = await self._require(Permission.PORTAL_ADMIN, Level.READ)
        if staff is None:
            return None  # ChartState.load has already redirected or said why
        patient_id = self._route_patient_id()
        if patient_id is None:
            return None
        self._chart_id = patient_id
        await self._read()
        return None

    @rx.event
    async def share(self, files: list[rx.UploadFile]):
        self._clear_messages()
        staff, refusal = await self._allowed(Level.UPDATE)
        if staff is None:
            return refusal
        if not self._chart_id:
            self.error = STALE
            return None
        chosen = await self._chosen_file(files)
        if chosen is None:
            return None
        try:
            await call(partial(documents.share_with_patient, patient_id=self._chart_id, filename=chosen[0],
                       data=chosen[1], note=self.note, actor=audit.Actor.staff(staff.id, self._ip())))
        except DomainError as exc:
            self.error = self._refused_file(exc)
            return None
        self._after_share()
        await self._read()
        self.notice = SHARED
        return rx.clear_selected_files(UPLOAD_ID)

    @rx.event
    async def download(self, document_id: str):
        staff, refusal = await self._allowed(Level.READ)
        if staff is None:
            return refusal
        try:
            content = await call(partial(documents.document_content, document_id=as_id(document_id),
                                 patient_id=self._chart_id or -1))
        except DomainError as exc:
            self.error = exc.message
            return None
        return rx.download(data=content.data, filename=content.filename, mime_type=content.content_type)

    async def _page(self, offset: int):
        staff, refusal = await self._allowed(Level.READ)
        if staff is None:
            return refusal
        self.offset = max(0, offset)
        await self._read()
        return None
