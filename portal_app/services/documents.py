"""Documents on the portal: files a patient shares with the practice (a Document Share item) and
files the practice shares with the patient. Kinds are told by content, never by name alone."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from portal_app.db import select_columns
from portal_app.models import PortalDocument, TaskKind, ident
from portal_app.services import accounts, audit, clock, messages, queue, settings
from portal_app.services.errors import InvalidInput, NotFound
from portal_app.services.portal_auth import ChartView
from portal_app.services.validation import strip_bidi

MAX_BYTES = 10 * 1024 * 1024
MAX_NOTE = 1000
PAGE_SIZE = 20

# kind -> (content type, magic bytes, extensions the name may end in)
KINDS: dict[str, tuple[str, bytes, tuple[str, ...]]] = {
    "PDF": ("application/pdf", b"%PDF-", (".pdf",)),
    "PNG": ("image/png", b"\x89PNG\r\n\x1a\n", (".png",)),
    "JPEG": ("image/jpeg", b"\xff\xd8\xff", (".jpg", ".jpeg")),
}
# Programs and scripts, whatever their name says.
_EXECUTABLE = (b"MZ", b"\x7fELF", b"\xca\xfe\xba\xbe", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf",
               b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe", b"#!")
ALLOWED = "Only PDF, PNG and JPEG files can be shared."
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class DocumentRow:
    id: int
    filename: str
    content_type: str
    size_label: str
    note: str
    when: str
    from_practice: bool
    # Who shared it, as the reader sees it: "The practice", "You", or a portal user's name.
    from_label: str = ""


@dataclass(frozen=True)
class DocumentContent:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class CheckedFile:
    filename: str
    content_type: str
    data: bytes
    sha256: str


def kind_of(data: bytes) -> str | None:
    """"PDF", "PNG" or "JPEG" by the file's first bytes; None for anything else."""
    for kind, (_type, magic, _ext) in KINDS.items():
        if data.startswith(magic):
            return kind
    return None


def clean_filename(filename: str | None) -> str:
    """The name without any folder part, control or bidirectional control characters, at most 200
    characters."""
    name = strip_bidi(unicodedata.normalize("NFC", filename or "")).replace("\\", "/").rsplit("/", 1)[-1]
    name = _CONTROL.sub("", name).strip().strip(".") if name.strip(".") else ""
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 199 - len(ext)] + dot + ext) if dot and len(ext) <= 10 else name[:200]
    return name


def check_file(filename: str | None, data: bytes | None) -> CheckedFile:
    """Refuse an empty, too large, unknown or mis-named file; raises InvalidInput(field="file")."""
    data = data or b""
    name = clean_filename(filename)
    if not name:
        raise InvalidInput("Choose a file to share.", field="file")
    if not data:
        raise InvalidInput("That file is empty. Choose a file that has content.", field="file")
    if len(data) > MAX_BYTES:
        raise InvalidInput(f"That file is larger than {MAX_BYTES // (1024 * 1024)} MB. "
                           "Choose a smaller file.", field="file")
    kind = kind_of(data)
    if kind is None:
        if data.startswith(_EXECUTABLE):
            raise InvalidInput(f"That file is a program, not a document, so it cannot be shared. {ALLOWED}",
                               field="file")
        raise InvalidInput(f"That file is not a PDF, PNG or JPEG. {ALLOWED}", field="file")
    content_type, _magic, extensions = KINDS[kind]
    if not name.lower().endswith(extensions):
        raise InvalidInput(f"The file's content is a {kind} but its name does not end in "
                           f"{' or '.join(extensions)}. Rename it or choose another file.", field="file")
    return CheckedFile(filename=name, content_type=content_type, data=data,
                       sha256=hashlib.sha256(data).hexdigest())


def clean_note(note: str | None) -> str:
    value = unicodedata.normalize("NFC", note or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(value) > MAX_NOTE:
        raise InvalidInput(f"The note must be at most {MAX_NOTE} characters.", field="note")
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", value):
        raise InvalidInput("The note contains characters that are not allowed.", field="note")
    return value


def size_label(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def upload(*, session: Session, account_id: int, chart: ChartView, filename: str, data: bytes, note: str,
           ip: str = "") -> int:
    """A patient (or representative) shares a file with the practice: files a Document Share item.

    Returns the item's id.

    Raises:
        InvalidInput: field "file" (empty, too large, not PDF/PNG/JPEG, a program, name and content
            disagree) or "note" (too long).
    """
    checked = check_file(filename, data)
    note = clean_note(note)
    task = queue.file_item(session=session, kind=TaskKind.DOCUMENT_SHARE, account_id=account_id, chart=chart,
                           subject=f"Document: {checked.filename}", ip=ip)
    session.add(PortalDocument(patient_id=chart.patient_id, task_id=ident(task), from_practice=False,
                               filename=checked.filename, content_type=checked.content_type,
                               size=len(checked.data), sha256=checked.sha256, note=note,
                               account_id=account_id, data=checked.data, created_at=clock.now()))
    session.commit()
    return ident(task)


def share_with_patient(*, session: Session, patient_id: int, filename: str, data: bytes, note: str,
                       actor: audit.Actor) -> int:
    """The practice shares a file with the patient (shown in the portal's Documents). Audited.

    Returns the document's id.

    Raises:
        InvalidInput: as `upload`.
        NotFound: no such chart.
    """
    accounts.get_patient(session=session, patient_id=patient_id)
    checked = check_file(filename, data)
    note = clean_note(note)
    document = PortalDocument(patient_id=patient_id, from_practice=True, filename=checked.filename,
                              content_type=checked.content_type, size=len(checked.data), sha256=checked.sha256,
                              note=note, staff_user_id=actor.staff_user_id, data=checked.data,
                              created_at=clock.now())
    session.add(document)
    session.flush()
    audit.record(session=session, actor=actor, action="document.share", patient_id=patient_id,
                 detail=f"document={document.id}; file={checked.filename}; size={len(checked.data)}; "
                        f"sha256={checked.sha256}")
    session.commit()
    return ident(document)


# Every column but the file itself: lists never load the data.
_ROW_COLUMNS = (PortalDocument.id, PortalDocument.filename, PortalDocument.content_type, PortalDocument.size,
                PortalDocument.note, PortalDocument.created_at, PortalDocument.from_practice,
                PortalDocument.account_id)


def _rows(session: Session, results: Iterable[Sequence[Any]],
          label: Callable[[int | None], str] | None = None) -> list[DocumentRow]:
    """View rows from `_ROW_COLUMNS` results; `label(account_id)` names a portal user's upload
    (default "The patient")."""
    zone = settings.zone(session=session)
    rows = []
    for document_id, filename, content_type, size, note, created_at, from_practice, account_id in results:
        from_label = "The practice" if from_practice else (label(account_id) if label else "The patient")
        rows.append(DocumentRow(id=ident(document_id), filename=filename, content_type=content_type,
                                size_label=size_label(size), note=note, when=clock.display(created_at, zone),
                                from_practice=from_practice, from_label=from_label))
    return rows


def patient_documents(*, session: Session, patient_id: int, offset: int = 0, limit: int = PAGE_SIZE,
                      viewer_account_id: int | None = None, actor: audit.Actor | None = None) -> list[DocumentRow]:
    """One page of the chart's documents (the patient's and the practice's), newest first.

    With `viewer_account_id` (the portal's reader), their own uploads say "You" and another
    account's its name (as messages.portal_author). With `actor` (staff reading a chart), the
    view is audited ("document.list": which page, how many rows).
    """
    names: dict[int | None, str] = {}

    def label(account_id: int | None) -> str:
        if account_id not in names:
            names[account_id] = messages.portal_author(session, account_id, patient_id, viewer_account_id)
        return names[account_id]

    rows = _rows(session, session.exec(
        select_columns(*_ROW_COLUMNS).where(PortalDocument.patient_id == patient_id)
        .order_by(col(PortalDocument.created_at).desc(), col(PortalDocument.id).desc())
        .offset(max(0, offset)).limit(max(1, min(limit, 100)))), label if viewer_account_id is not None else None)
    if actor is not None:
        audit.record(session=session, actor=actor, action="document.list", patient_id=patient_id,
                     detail=f"offset={max(0, offset)}; shown={len(rows)}")
        session.commit()
    return rows


def count_documents(*, session: Session, patient_id: int) -> int:
    return session.exec(select(func.count()).select_from(PortalDocument)
                        .where(PortalDocument.patient_id == patient_id)).one()


def documents_for_task(*, session: Session, task_id: int) -> list[DocumentRow]:
    """The files of one Document Share item."""
    return _rows(session, session.exec(select_columns(*_ROW_COLUMNS).where(PortalDocument.task_id == task_id)
                              .order_by(col(PortalDocument.id))))


def document_content(*, session: Session, document_id: int, patient_id: int | None = None) -> DocumentContent:
    """A document's bytes. With `patient_id`, only a document of that chart (else NotFound).

    Raises:
        NotFound: no such document, or it belongs to another chart.
    """
    document = session.get(PortalDocument, document_id) if isinstance(document_id, int) else None
    if document is None or (patient_id is not None and document.patient_id != patient_id):
        raise NotFound("That document is not available.")
    return DocumentContent(filename=document.filename, content_type=document.content_type, data=document.data)



def download(*, session: Session, document_id: int, patient_id: int, actor: audit.Actor) -> DocumentContent:
    """A document of chart `patient_id` to save, for staff on the chart or the chart's portal
    reader: audited "document.download". Asking for another chart's document (or one that does
    not exist) is audited as an object refusal, then refused.

    Raises:
        NotFound: no such document, or it belongs to another chart.
    """
    try:
        content = document_content(session=session, document_id=document_id, patient_id=patient_id)
    except NotFound as exc:
        found = session.get(PortalDocument, document_id) if isinstance(document_id, int) else None
        owner = found.patient_id if found is not None else None  # the chart that was reached for
        raise audit.refused(exc, session=session, actor=actor, patient_id=owner,
                            detail=f"document={document_id}; asked from chart={patient_id}") from None
    audit.record(session=session, actor=actor, action="document.download", patient_id=patient_id,
                 detail=f"document={document_id}; file={content.filename}")
    session.commit()
    return content
