"""Portal Documents (`/portal/documents`): share a file with the practice; see and download the
chart's documents (the patient's own and those the practice shared).

Every handler is a `portal_action(Area.DOCUMENTS)`: the session and the Documents area of the
open chart are checked again. The list holds
small view rows of one page; a file's bytes are read only for a download, from the open chart.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import ClassVar

import reflex as rx

from portal_app.services import audit, documents
from portal_app.services.areas import Area
from portal_app.services.documents import DocumentRow
from portal_app.services.errors import DomainError
from portal_app.state.actions import Patient, portal_action, portal_page_load
from portal_app.state.base import PortalSessionState, call
from portal_app.state.inputs import as_id
from portal_app.state.patient_area import AreaRefusals

UPLOAD_ID = "portal_document"
NOT_ALLOWED = "Documents are not available for this chart."
SHARED = "Thank you. Your document was sent to the practice."


async def read_upload(files) -> tuple[str, bytes]:
    """The first uploaded file's name and at most MAX_BYTES + 1 of its bytes (enough to refuse)."""
    if not isinstance(files, list) or not files:
        return "", b""
    upload = files[0]
    name = getattr(upload, "filename", None) or getattr(upload, "name", None) or ""
    data = await asyncio.to_thread(upload.file.read, documents.MAX_BYTES + 1)
    return str(name), data if isinstance(data, bytes) else b""


class DocumentList(rx.State, mixin=True):
    """A chart's documents one page at a time, and the share form's file/note fields; mixed into
    the portal's Documents state and the staff chart's documents section."""

    rows: list[DocumentRow] = []
    total: int = 0
    offset: int = 0
    note: str = ""
    file_error: str = ""
    # The file name `file_error` is about ("" for none chosen): the page hides the error once
    # another file is chosen.
    file_error_for: str = ""
    note_error: str = ""
    # Changes after a share, so the note field starts empty again.
    form_key: int = 0

    @rx.var
    def page_label(self) -> str:
        if not self.total:
            return ""
        last = min(self.offset + documents.PAGE_SIZE, self.total)
        return f"{self.offset + 1}–{last} of {self.total}"

    @rx.var
    def has_next(self) -> bool:
        return self.offset + documents.PAGE_SIZE < self.total

    @rx.var
    def has_previous(self) -> bool:
        return self.offset > 0

    @rx.event
    def set_note(self, value: str):
        self.note = (value if isinstance(value, str) else "")[: documents.MAX_NOTE + 100]

    async def _fetch_page(self, patient_id: int, viewer_account_id: int | None = None,
                          reader: audit.Actor | None = None) -> None:
        """The page at `offset` (moved back when the list got shorter); a staff `reader` is audited."""
        self.total = await call(partial(documents.count_documents, patient_id=patient_id))
        if self.offset >= self.total:
            self.offset = max(0, (self.total - 1) // documents.PAGE_SIZE * documents.PAGE_SIZE)
        self.rows = await call(partial(documents.patient_documents, patient_id=patient_id, offset=self.offset,
                               viewer_account_id=viewer_account_id, actor=reader))

    async def _chosen_file(self, files) -> tuple[str, bytes] | None:
        """The uploaded file's name and bytes, or None with "Choose a file" beside the field."""
        filename, data = await read_upload(files)
        self.file_error_for = filename
        if not filename and not data:
            self.file_error = "Choose a file to share."
            return None
        return filename, data

    def _refused_file(self, exc: DomainError) -> str:
        """A refused share: its message beside the file or note field; any other is returned."""
        if exc.field == "note":
            self.note_error = exc.message
        elif exc.field == "file":
            self.file_error = exc.message
        else:
            return exc.message
        return ""

    def _after_share(self) -> None:
        self.note = ""
        self.form_key += 1
        self.offset = 0

    def _empty_list(self) -> None:
        """Forget the list and the typed note (the page shows no documents)."""
        self.rows = []
        self.total = 0
        self.offset = 0
        self.note = ""


class DocumentsState(AreaRefusals, DocumentList, PortalSessionState):
    ready: bool = False
    form_error: str = ""
    notice: str = ""

    REFUSED: ClassVar[str] = NOT_ALLOWED

    def _clear_errors(self) -> None:
        self.file_error = self.note_error = self.form_error = ""

    def _forget(self) -> None:
        self.ready = False
        self._empty_list()
        self.notice = ""
        self._clear_errors()

    def _failed(self, error: DomainError):
        """A refused share: beside the file or note field, or above the form."""
        self.form_error = self._refused_file(error)

    async def _list(self, me: Patient) -> None:
        await self._fetch_page(me.patient_id, me.account_id)

    @portal_page_load(Area.DOCUMENTS)
    async def load(self, me: Patient):
        self._clear_errors()
        self.notice = ""
        self.offset = 0
        await self._list(me)
        self.ready = True
        return None

    @portal_action(Area.DOCUMENTS, audit_as="share_document")
    async def share(self, me: Patient, files: list[rx.UploadFile]):
        """Send the chosen file (and the note) to the practice as a Document Share item."""
        self._clear_errors()
        self.notice = ""
        chosen = await self._chosen_file(files)
        if chosen is None:
            return None
        await call(partial(documents.upload, account_id=me.account_id, chart=me.chart, filename=chosen[0],
                   data=chosen[1], note=self.note, ip=self._ip()))
        self._after_share()
        self.notice = SHARED
        await self._list(me)
        return rx.clear_selected_files(UPLOAD_ID)

    @portal_action(Area.DOCUMENTS, audit_as="download_document")
    async def download(self, me: Patient, document_id: str):
        try:
            content = await call(partial(documents.download, document_id=as_id(document_id),
                                 patient_id=me.patient_id, actor=me.actor))
        except DomainError as exc:
            return rx.toast.error(exc.message)
        return rx.download(data=content.data, filename=content.filename, mime_type=content.content_type)

    @portal_action(Area.DOCUMENTS, audit_as="list_documents")
    async def next_page(self, me: Patient):
        await self._show_page(me, self.offset + documents.PAGE_SIZE)

    @portal_action(Area.DOCUMENTS, audit_as="list_documents")
    async def previous_page(self, me: Patient):
        await self._show_page(me, self.offset - documents.PAGE_SIZE)

    async def _show_page(self, me: Patient, offset: int) -> None:
        self.offset = max(0, offset)
        await self._list(me)
