"""One item: open it (audited), its header, its kind's detail, and its documents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

from sqlmodel import Session

from portal_app.models import AccessType, Patient, PortalTask, StaffUser, TaskKind, TaskStatus
from portal_app.services import appointments, audit, clock, documents, forms, messages
from portal_app.services import settings as practice_settings
from portal_app.services.errors import Forbidden, InvalidInput, NotFound
from portal_app.services.tasks.access import Grant, item_grant
from portal_app.services.tasks.labels import KIND_LABELS, patient_cells, patient_label, sender_note

PREVIEW_TYPES = ("application/pdf", "image/png", "image/jpeg")


@dataclass(frozen=True)
class ItemView:
    """The item page's header and what this user may do with it."""

    id: int = 0
    kind: str = ""
    kind_label: str = ""
    patient_id: int = 0
    patient: str = ""
    sex: str = ""
    age: str = ""
    dob: str = ""
    when: str = ""
    subject: str = ""
    status_label: str = ""
    reviewed: bool = False
    reviewed_note: str = ""
    sender: str = ""
    can_manage: bool = False  # full access: merge, mark reviewed, forward
    forwarded_to_me: bool = False
    forward_note: str = ""
    forward_from: str = ""


def _reviewed_note(session: Session, task: PortalTask, zone: tzinfo) -> str:
    if task.status != TaskStatus.REVIEWED:
        return ""
    reviewer = session.get(StaffUser, task.reviewed_by_staff_id) if task.reviewed_by_staff_id else None
    return f"Reviewed {clock.display(task.reviewed_at, zone)}" + (f" by {reviewer.full_name}" if reviewer else "")


def _sender(task: PortalTask) -> str:
    if task.access_type == AccessType.REPRESENTATIVE:
        return sender_note(task).removeprefix("sent by ")
    return f"{task.submitted_by or 'the patient'} (patient)"


def _forward_from(session: Session, grant: Grant) -> str:
    if grant.forward is None:
        return ""
    who = session.get(StaffUser, grant.forward.from_staff_id)
    return who.full_name if who else ""


def _item_view(session: Session, grant: Grant) -> ItemView:
    task = grant.task
    patient = session.get(Patient, task.patient_id)
    zone = practice_settings.zone(session=session)
    sex, age, dob = patient_cells(patient, clock.now().astimezone(zone).date())
    return ItemView(
        id=grant.task_id, kind=task.kind.value, kind_label=KIND_LABELS[task.kind], patient_id=task.patient_id,
        patient=patient_label(patient), sex=sex, age=age, dob=dob,
        when=clock.display(task.created_at, zone), subject=task.subject,
        status_label="Reviewed" if task.status == TaskStatus.REVIEWED else "Pending Review",
        reviewed=task.status == TaskStatus.REVIEWED, reviewed_note=_reviewed_note(session, task, zone),
        sender=_sender(task), can_manage=grant.full, forwarded_to_me=grant.forward is not None,
        forward_note=grant.forward.note if grant.forward else "", forward_from=_forward_from(session, grant))


def open_item(*, session: Session, staff_user_id: int, task_id: int, actor: audit.Actor) -> ItemView:
    """Open an item (audited "task.open"); an open forward to this user is marked opened.

    A refusal is audited too ("task.open_refused"), then raised.
    """
    try:
        grant = item_grant(session, staff_user_id, task_id)
    except (Forbidden, NotFound) as exc:
        audit.record(session=session, actor=actor, action="task.open_refused",
                     detail=f"item={task_id}; {type(exc).__name__}")
        session.commit()
        exc.audited = True
        raise
    if grant.forward is not None and grant.forward.opened_at is None:
        grant.forward.opened_at = clock.now()
        session.add(grant.forward)
    audit.record(session=session, actor=actor, action="task.open", patient_id=grant.task.patient_id,
                 detail=f"item={grant.task_id}; kind={grant.task.kind.value}; "
                        f"via={'forward' if grant.forward is not None and not grant.full else 'queue'}")
    if grant.task.kind == TaskKind.MESSAGE:
        messages.mark_read_by_staff(session=session, task_id=grant.task_id)
    session.commit()
    return _item_view(session, grant)


def item_view(*, session: Session, staff_user_id: int, task_id: int) -> ItemView:
    """The header again (after an action), with the same access check, not audited."""
    return _item_view(session, item_grant(session, staff_user_id, task_id))


def item_posts(*, session: Session, staff_user_id: int, task_id: int) -> list[messages.PostRow]:
    grant = item_grant(session, staff_user_id, task_id)
    return list(messages.thread_posts(session=session, task_id=grant.task_id))


def item_changes(*, session: Session, staff_user_id: int, task_id: int) -> list[forms.IntakeChangeRow]:
    grant = item_grant(session, staff_user_id, task_id)
    return list(forms.intake_changes(session=session, task_id=grant.task_id))


def item_documents(*, session: Session, staff_user_id: int, task_id: int) -> list[documents.DocumentRow]:
    grant = item_grant(session, staff_user_id, task_id)
    return list(documents.documents_for_task(session=session, task_id=grant.task_id))


def item_appointment(*, session: Session, staff_user_id: int, task_id: int) -> appointments.AppointmentView:
    grant = item_grant(session, staff_user_id, task_id)
    return appointments.request_view(session=session, task_id=grant.task_id)


# ---- documents ------------------------------------------------------------------------------

def _document_row(session: Session, grant: Grant, document_id: int,
                  actor: audit.Actor | None = None) -> documents.DocumentRow:
    """The item's document `document_id`; another's (or none such) is refused, audited with `actor`."""
    row = next((row for row in documents.documents_for_task(session=session, task_id=grant.task_id)
                if row.id == document_id), None)
    if row is None:
        error = NotFound("That document is not part of this item.", field="document")
        if actor is None:
            raise error
        raise audit.refused(error, session=session, actor=actor,
                            detail=f"item={grant.task_id}; document={document_id} (not this item's)")
    return row


def _audit_document(session: Session, grant: Grant, row: documents.DocumentRow, action: str,
                    actor: audit.Actor) -> None:
    audit.record(session=session, actor=actor, action=action, patient_id=grant.task.patient_id,
                 detail=f"item={grant.task_id}; document={row.id}")
    session.commit()


def _content(session: Session, staff_user_id: int, task_id: int, document_id: int,
             actor: audit.Actor | None) -> tuple[Grant, documents.DocumentRow, documents.DocumentContent]:
    grant = item_grant(session, staff_user_id, task_id)
    row = _document_row(session, grant, document_id, actor)
    return grant, row, documents.document_content(session=session, document_id=row.id,
                                                  patient_id=grant.task.patient_id)


def item_document_content(*, session: Session, staff_user_id: int, task_id: int, document_id: int,
                          actor: audit.Actor | None = None) -> documents.DocumentContent:
    """A document of this item (only one attached to it): the bytes the file route serves for
    a preview. With `actor`, the fetch is audited ("task.document_fetch"), so a file read by
    its URL without the page's Preview (audited "task.document_view") is on record too."""
    grant, row, content = _content(session, staff_user_id, task_id, document_id, actor)
    if actor is not None:
        _audit_document(session, grant, row, "task.document_fetch", actor)
    return content


def preview_document(*, session: Session, staff_user_id: int, task_id: int, document_id: int,
                     actor: audit.Actor) -> documents.DocumentRow:
    """Staff view a document of this item in the page (audited "task.document_view")."""
    grant = item_grant(session, staff_user_id, task_id)
    row = _document_row(session, grant, document_id, actor)
    if row.content_type not in PREVIEW_TYPES:
        raise InvalidInput("This file cannot be previewed; use Download.", field="document")
    _audit_document(session, grant, row, "task.document_view", actor)
    return row


def download_document(*, session: Session, staff_user_id: int, task_id: int, document_id: int,
                      actor: audit.Actor) -> documents.DocumentContent:
    """A document of this item to save (audited "task.document_download")."""
    grant, row, content = _content(session, staff_user_id, task_id, document_id, actor)
    _audit_document(session, grant, row, "task.document_download", actor)
    return content
