"""My Tasks: the Patient Portal queue, its items, forwarding and the Communication queue.

Who may do what follows the seed's two queue permissions (`permissions.queue_access`):

- FULL ("Task - Patient Portal - List" and "Task - Patient Portal"): the Patient Portal Review
  list, open any item, reply, decide appointment requests, merge intake changes, mark reviewed,
  forward.
- LIMITED ("Task - Patient Portal" only): "Patient Portal" shows in My Tasks with its count, but
  the list is refused with a security message. An item forwarded to the user (an open forward)
  opens from Communication and can be *answered*: reply to a message, schedule or decline an
  appointment request (both send a note back to the patient), view and download its documents,
  and mark the forward "Done". Answering does not include changing the chart (merging intake
  changes), marking the item reviewed or forwarding it on: those stay with full-access users.
- LIST_ONLY ("Task - Patient Portal - List" only): the list and counts, but items do not open.
- NONE: no My Tasks at all.

Every function re-reads the user's levels from the database, so a role change applies at once.
The kind-specific detail (threads, intake changes, documents, appointment requests) lives in
the area services; this module checks access and then calls them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone

from sqlmodel import Session, col, func, select

from portal_app import routes
from portal_app.models import AccessType, Patient, PortalTask, StaffUser, TaskForward, TaskKind, TaskStatus
from portal_app.services import appointments, audit, clock, documents, forms, messages, permissions
from portal_app.services import settings as practice_settings
from portal_app.services.errors import Forbidden, InvalidInput, NotFound
from portal_app.services.permissions import Permission, QueueAccess

PAGE_SIZE = 25
MAX_NOTE = 2000
PREVIEW_TYPES = ("application/pdf", "image/png", "image/jpeg")

# "Arranged By: Request" groups, in the seed's order.
KIND_ORDER: tuple[TaskKind, ...] = (TaskKind.DOCUMENT_SHARE, TaskKind.INTAKE_FORM, TaskKind.MESSAGE,
                                    TaskKind.APPOINTMENT_REQUEST)
KIND_LABELS: dict[TaskKind, str] = {
    TaskKind.DOCUMENT_SHARE: "Document Share",
    TaskKind.INTAKE_FORM: "Intake Form",
    TaskKind.MESSAGE: "Message",
    TaskKind.APPOINTMENT_REQUEST: "Appointment Request",
}

ARRANGE_REQUEST = "request"
ARRANGE_PATIENT = "patient"
ARRANGE_DATE = "date"
ARRANGEMENTS: dict[str, str] = {ARRANGE_REQUEST: "Request", ARRANGE_PATIENT: "Patient", ARRANGE_DATE: "Date"}

QUEUE_REFUSED = ("Security: you do not have access to the Patient Portal queue. Items forwarded to "
                 "you open from your Communication queue. Ask an administrator if you need the queue.")
NO_QUEUE = "You do not have access to My Tasks."
ITEM_REFUSED = ("You do not have access to this item. It opens for you only while it is forwarded "
                "to you in your Communication queue.")
LIST_ONLY_REFUSED = ("You can see the Patient Portal list, but opening its items needs \u201cTask - Patient "
                     "Portal\u201d. Ask an administrator if you need it.")
MANAGE_REFUSED = "Only users with full access to the Patient Portal queue can do that."
GONE = "That item does not exist."
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


# ---- access -------------------------------------------------------------------------------

def access_for(*, session: Session, staff_user_id: int) -> QueueAccess:
    """The user's queue access now (an inactive or unknown user has none)."""
    user = session.get(StaffUser, staff_user_id)
    if user is None or not user.active:
        return QueueAccess.NONE
    return permissions.queue_access(permissions.levels_for(session=session, staff_user_id=staff_user_id))


def _open_forward(session: Session, task_id: int, staff_user_id: int) -> TaskForward | None:
    return session.exec(
        select(TaskForward).where(TaskForward.task_id == task_id, TaskForward.to_staff_id == staff_user_id,
                                  col(TaskForward.done_at).is_(None))
        .order_by(col(TaskForward.created_at).desc())).first()


@dataclass(frozen=True)
class _Grant:
    access: QueueAccess
    task: PortalTask
    forward: TaskForward | None

    @property
    def full(self) -> bool:
        return self.access == QueueAccess.FULL


def _item_grant(session: Session, staff_user_id: int, task_id: int) -> _Grant:
    """May this user open the item? FULL always; LIMITED only with an open forward to them."""
    access = access_for(session=session, staff_user_id=staff_user_id)
    if access == QueueAccess.NONE:
        raise Forbidden(NO_QUEUE)
    task = session.get(PortalTask, task_id) if isinstance(task_id, int) and task_id > 0 else None
    if task is None:
        if access == QueueAccess.FULL:
            raise NotFound(GONE)
        raise Forbidden(ITEM_REFUSED)  # no hint whether it exists
    forward = _open_forward(session, task.id, staff_user_id)
    if access == QueueAccess.FULL or (access == QueueAccess.LIMITED and forward is not None):
        return _Grant(access, task, forward)
    raise Forbidden(LIST_ONLY_REFUSED if access == QueueAccess.LIST_ONLY else ITEM_REFUSED)


def _full_grant(session: Session, staff_user_id: int, task_id: int) -> _Grant:
    grant = _item_grant(session, staff_user_id, task_id)
    if not grant.full:
        raise Forbidden(MANAGE_REFUSED)
    return grant


# ---- formatting -----------------------------------------------------------------------------

def patient_label(patient: Patient | None) -> str:
    """"Last, First M. (Preferred)"."""
    if patient is None:
        return "Unknown"
    name = f"{patient.last_name}, {patient.first_name}"
    if patient.middle_name.strip():
        name += f" {patient.middle_name.strip()[0].upper()}."
    if patient.preferred_name.strip():
        name += f" ({patient.preferred_name.strip()})"
    return name


def age_years(dob: date | None, today: date) -> str:
    if dob is None:
        return ""
    years = today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))
    return f"{max(years, 0)}y"


def _sender_note(task: PortalTask) -> str:
    if task.access_type == AccessType.REPRESENTATIVE:
        return f"sent by {task.submitted_by or 'a portal user'} (authorized representative)"
    return ""


# ---- My Tasks counts ------------------------------------------------------------------------

@dataclass(frozen=True)
class MyTasks:
    access: str  # QueueAccess value
    communication: int
    patient_portal: int


def my_tasks(*, session: Session, staff_user_id: int) -> MyTasks:
    """"Communication (N)": open forwards to this user; "Patient Portal (N)": pending items."""
    access = access_for(session=session, staff_user_id=staff_user_id)
    if access == QueueAccess.NONE:
        raise Forbidden(NO_QUEUE)
    return MyTasks(access=access.value,
                   communication=_count_open_forwards(session, staff_user_id),
                   patient_portal=_count_status(session, TaskStatus.PENDING))


def _count_status(session: Session, status: TaskStatus) -> int:
    return session.exec(select(func.count()).select_from(PortalTask).where(PortalTask.status == status)).one()


def _count_open_forwards(session: Session, staff_user_id: int) -> int:
    return session.exec(select(func.count()).select_from(TaskForward).where(
        TaskForward.to_staff_id == staff_user_id, col(TaskForward.done_at).is_(None))).one()


# ---- Patient Portal Review ------------------------------------------------------------------

@dataclass(frozen=True)
class ReviewRow:
    """One line of the list, as state holds it."""

    id: int
    href: str
    group: str
    first_in_group: bool
    patient: str
    sex: str
    age: str
    dob: str
    kind_label: str
    when: str
    sender_note: str
    status_label: str


@dataclass(frozen=True)
class ReviewPage:
    rows: list[ReviewRow]
    total: int
    page: int
    pages: int
    pending: int
    reviewed_month: int
    month_label: str
    can_open: bool


def _month_start(zone) -> tuple[datetime, str]:
    """The start of the current calendar month in the practice's zone (as UTC) and its name."""
    local = clock.now().astimezone(zone)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start.astimezone(timezone.utc), f"{local:%B %Y}"


def review_counts(*, session: Session) -> tuple[int, int, str]:
    """(pending, reviewed this calendar month, month name)."""
    start, label = _month_start(practice_settings.zone(session=session))
    return _count_status(session, TaskStatus.PENDING), _count_reviewed_since(session, start), label


def _count_reviewed_since(session: Session, start: datetime) -> int:
    return session.exec(select(func.count()).select_from(PortalTask).where(
        PortalTask.status == TaskStatus.REVIEWED, col(PortalTask.reviewed_at) >= start)).one()


def _status_of(value: str) -> TaskStatus:
    try:
        return TaskStatus(value)
    except ValueError:
        return TaskStatus.PENDING


def _scope(status: TaskStatus, month_start: datetime) -> tuple:
    """What a status lists: every pending item; the items reviewed this month ("Reviewed (month)").

    Bounding Reviewed to the month keeps every count and page a short index range however much
    history the practice has.
    """
    if status == TaskStatus.REVIEWED:
        return PortalTask.status == status, col(PortalTask.reviewed_at) >= month_start
    return (PortalTask.status == status,)


def _newest_first(status: TaskStatus) -> tuple:
    """Pending: newest sent first. Reviewed: most recently reviewed first (its index order)."""
    at = PortalTask.reviewed_at if status == TaskStatus.REVIEWED else PortalTask.created_at
    return col(at).desc(), col(PortalTask.id).desc()


def _kind_counts(session: Session, scope: tuple) -> dict[TaskKind, int]:
    """One index range count per kind ((status, kind, ...) indexes), in group order."""
    return {kind: session.exec(select(func.count()).select_from(PortalTask)
                               .where(*scope, PortalTask.kind == kind)).one() for kind in KIND_ORDER}


def _page_tasks(session: Session, status: TaskStatus, scope: tuple, arrange: str, offset: int,
                counts: dict[TaskKind, int]) -> list[PortalTask]:
    if arrange == ARRANGE_REQUEST:
        # Slices of each kind in group order, each read along its own index.
        tasks: list[PortalTask] = []
        skip, wanted = offset, PAGE_SIZE
        for kind in KIND_ORDER:
            n = counts.get(kind, 0)
            if skip >= n:
                skip -= n
                continue
            chunk = session.exec(select(PortalTask).where(*scope, PortalTask.kind == kind)
                                 .order_by(*_newest_first(status)).offset(skip).limit(wanted)).all()
            tasks.extend(chunk)
            wanted -= len(chunk)
            skip = 0
            if wanted <= 0:
                break
        return tasks
    query = select(PortalTask).where(*scope)
    if arrange == ARRANGE_PATIENT:
        # The chart's name order is copied onto the item (patient_sort_key): no join, one index.
        query = query.order_by(col(PortalTask.patient_sort_key), col(PortalTask.patient_id),
                               *_newest_first(status))
    else:
        query = query.order_by(*_newest_first(status))
    return list(session.exec(query.offset(offset).limit(PAGE_SIZE)).all())


def review_page(*, session: Session, staff_user_id: int, status: str = TaskStatus.PENDING.value,
                arrange: str = ARRANGE_REQUEST, page: int = 1) -> ReviewPage:
    """One page (25 rows) of the Patient Portal Review list, with its counts."""
    access = access_for(session=session, staff_user_id=staff_user_id)
    if access == QueueAccess.NONE:
        raise Forbidden(NO_QUEUE)
    if access == QueueAccess.LIMITED:
        raise Forbidden(QUEUE_REFUSED)
    wanted = _status_of(status)
    arrange = arrange if arrange in ARRANGEMENTS else ARRANGE_REQUEST
    # The practice's zone decides the month and every time shown: read it once.
    zone = practice_settings.zone(session=session)
    start, month_label = _month_start(zone)
    scope = _scope(wanted, start)
    counts = _kind_counts(session, scope)
    total = sum(counts.values())
    # The listed status's total is one of the two counters: count only the other one.
    if wanted == TaskStatus.PENDING:
        pending, reviewed_month = total, _count_reviewed_since(session, start)
    else:
        pending, reviewed_month = _count_status(session, TaskStatus.PENDING), total
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, int(page) if str(page).lstrip("-").isdigit() else 1), pages)
    tasks = _page_tasks(session, wanted, scope, arrange, (page - 1) * PAGE_SIZE, counts)

    patient_ids = {task.patient_id for task in tasks}
    patients = {p.id: p for p in session.exec(select(Patient).where(col(Patient.id).in_(patient_ids))).all()} \
        if patient_ids else {}
    today = clock.now().astimezone(zone).date()
    rows: list[ReviewRow] = []
    previous_group = None
    for task in tasks:
        patient = patients.get(task.patient_id)
        if arrange == ARRANGE_REQUEST:
            group = KIND_LABELS[task.kind]
        elif arrange == ARRANGE_PATIENT:
            group = patient_label(patient)
        else:
            group = f"{clock.aware(task.created_at).astimezone(zone):%m/%d/%Y}"
        rows.append(ReviewRow(
            id=task.id, href=routes.task_item(task.id), group=group, first_in_group=group != previous_group,
            patient=patient_label(patient), sex=(patient.sex if patient else "") or "Not recorded",
            age=age_years(patient.dob if patient else None, today),
            dob=f"{patient.dob:%m/%d/%Y}" if patient else "", kind_label=KIND_LABELS[task.kind],
            when=clock.display(task.created_at, zone), sender_note=_sender_note(task),
            status_label="Reviewed" if task.status == TaskStatus.REVIEWED else "Pending"))
        previous_group = group
    return ReviewPage(rows=rows, total=total, page=page, pages=pages, pending=pending,
                      reviewed_month=reviewed_month, month_label=month_label,
                      can_open=access == QueueAccess.FULL)


# ---- Communication --------------------------------------------------------------------------

@dataclass(frozen=True)
class CommunicationRow:
    id: int  # the forward's id
    task_id: int
    href: str
    patient: str
    kind_label: str
    when: str
    from_name: str
    note: str
    opened: bool


@dataclass(frozen=True)
class CommunicationPage:
    rows: list[CommunicationRow]
    total: int
    page: int
    pages: int


def communication_page(*, session: Session, staff_user_id: int, page: int = 1) -> CommunicationPage:
    """Open items forwarded to this user, newest first (index ix_forward_to_done)."""
    if access_for(session=session, staff_user_id=staff_user_id) == QueueAccess.NONE:
        raise Forbidden(NO_QUEUE)
    total = _count_open_forwards(session, staff_user_id)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, int(page) if str(page).lstrip("-").isdigit() else 1), pages)
    found = session.exec(
        select(TaskForward, PortalTask, Patient, StaffUser)
        .join(PortalTask, col(PortalTask.id) == TaskForward.task_id)
        .join(Patient, col(Patient.id) == PortalTask.patient_id)
        .join(StaffUser, col(StaffUser.id) == TaskForward.from_staff_id)
        .where(TaskForward.to_staff_id == staff_user_id, col(TaskForward.done_at).is_(None))
        .order_by(col(TaskForward.created_at).desc(), col(TaskForward.id).desc())
        .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    zone = practice_settings.zone(session=session)
    rows = [CommunicationRow(id=fwd.id, task_id=task.id, href=routes.task_item(task.id),
                             patient=patient_label(patient), kind_label=KIND_LABELS[task.kind],
                             when=clock.display(fwd.created_at, zone), from_name=sender.full_name,
                             note=fwd.note, opened=fwd.opened_at is not None)
            for fwd, task, patient, sender in found]
    return CommunicationPage(rows=rows, total=total, page=page, pages=pages)


# ---- one item -------------------------------------------------------------------------------

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


def _item_view(session: Session, grant: _Grant) -> ItemView:
    task = grant.task
    patient = session.get(Patient, task.patient_id)
    zone = practice_settings.zone(session=session)
    today = clock.now().astimezone(zone).date()
    reviewed_note = ""
    if task.status == TaskStatus.REVIEWED:
        reviewer = session.get(StaffUser, task.reviewed_by_staff_id) if task.reviewed_by_staff_id else None
        reviewed_note = f"Reviewed {clock.display(task.reviewed_at, zone)}" + (
            f" by {reviewer.full_name}" if reviewer else "")
    if task.access_type == AccessType.REPRESENTATIVE:
        sender = _sender_note(task).removeprefix("sent by ")
    else:
        sender = f"{task.submitted_by or 'the patient'} (patient)"
    forward_from = ""
    if grant.forward is not None:
        who = session.get(StaffUser, grant.forward.from_staff_id)
        forward_from = who.full_name if who else ""
    return ItemView(
        id=task.id, kind=task.kind.value, kind_label=KIND_LABELS[task.kind], patient_id=task.patient_id,
        patient=patient_label(patient), sex=(patient.sex if patient else "") or "Not recorded",
        age=age_years(patient.dob if patient else None, today), dob=f"{patient.dob:%m/%d/%Y}" if patient else "",
        when=clock.display(task.created_at, zone), subject=task.subject,
        status_label="Reviewed" if task.status == TaskStatus.REVIEWED else "Pending Review",
        reviewed=task.status == TaskStatus.REVIEWED, reviewed_note=reviewed_note, sender=sender,
        can_manage=grant.full, forwarded_to_me=grant.forward is not None,
        forward_note=grant.forward.note if grant.forward else "", forward_from=forward_from)


def open_item(*, session: Session, staff_user_id: int, task_id: int, actor: audit.Actor) -> ItemView:
    """Open an item (audited "task.open"); an open forward to this user is marked opened.

    A refusal is audited too ("task.open_refused"), then raised.
    """
    try:
        grant = _item_grant(session, staff_user_id, task_id)
    except (Forbidden, NotFound) as exc:
        audit.record(session=session, actor=actor, action="task.open_refused",
                     detail=f"item={task_id}; {type(exc).__name__}")
        session.commit()
        raise
    if grant.forward is not None and grant.forward.opened_at is None:
        grant.forward.opened_at = clock.now()
        session.add(grant.forward)
    audit.record(session=session, actor=actor, action="task.open", patient_id=grant.task.patient_id,
                 detail=f"item={grant.task.id}; kind={grant.task.kind.value}; "
                        f"via={'forward' if grant.forward is not None and not grant.full else 'queue'}")
    if grant.task.kind == TaskKind.MESSAGE:
        messages.mark_read_by_staff(session=session, task_id=grant.task.id)
    session.commit()
    return _item_view(session, grant)


def item_view(*, session: Session, staff_user_id: int, task_id: int) -> ItemView:
    """The header again (after an action), with the same access check, not audited."""
    return _item_view(session, _item_grant(session, staff_user_id, task_id))


def item_posts(*, session: Session, staff_user_id: int, task_id: int) -> list:
    grant = _item_grant(session, staff_user_id, task_id)
    return list(messages.thread_posts(session=session, task_id=grant.task.id))


def item_changes(*, session: Session, staff_user_id: int, task_id: int) -> list:
    grant = _item_grant(session, staff_user_id, task_id)
    return list(forms.intake_changes(session=session, task_id=grant.task.id))


def item_documents(*, session: Session, staff_user_id: int, task_id: int) -> list:
    grant = _item_grant(session, staff_user_id, task_id)
    return list(documents.documents_for_task(session=session, task_id=grant.task.id))


def _document_row(session: Session, grant: _Grant, document_id: int) -> documents.DocumentRow:
    row = next((row for row in documents.documents_for_task(session=session, task_id=grant.task.id)
                if row.id == document_id), None)
    if row is None:
        raise NotFound("That document is not part of this item.", field="document")
    return row


def item_document_content(*, session: Session, staff_user_id: int, task_id: int, document_id: int,
                          actor: audit.Actor | None = None):
    """A document of this item (only one attached to it): the bytes the file route serves for
    a preview. With `actor`, the fetch is audited ("task.document_fetch"), so a file read by
    its URL without the page's Preview (audited "task.document_view") is on record too."""
    grant = _item_grant(session, staff_user_id, task_id)
    row = _document_row(session, grant, document_id)
    content = documents.document_content(session=session, document_id=row.id, patient_id=grant.task.patient_id)
    if actor is not None:
        _audit_document(session, grant, row, "task.document_fetch", actor)
    return content


def _audit_document(session: Session, grant: _Grant, row: documents.DocumentRow, action: str,
                    actor: audit.Actor) -> None:
    audit.record(session=session, actor=actor, action=action, patient_id=grant.task.patient_id,
                 detail=f"item={grant.task.id}; document={row.id}")
    session.commit()


def preview_document(*, session: Session, staff_user_id: int, task_id: int, document_id: int,
                     actor: audit.Actor) -> documents.DocumentRow:
    """Staff view a document of this item in the page (audited "task.document_view")."""
    grant = _item_grant(session, staff_user_id, task_id)
    row = _document_row(session, grant, document_id)
    if row.content_type not in PREVIEW_TYPES:
        raise InvalidInput("This file cannot be previewed; use Download.", field="document")
    _audit_document(session, grant, row, "task.document_view", actor)
    return row


def download_document(*, session: Session, staff_user_id: int, task_id: int, document_id: int,
                      actor: audit.Actor) -> documents.DocumentContent:
    """A document of this item to save (audited "task.document_download")."""
    grant = _item_grant(session, staff_user_id, task_id)
    row = _document_row(session, grant, document_id)
    content = documents.document_content(session=session, document_id=row.id, patient_id=grant.task.patient_id)
    _audit_document(session, grant, row, "task.document_download", actor)
    return content


def item_appointment(*, session: Session, staff_user_id: int, task_id: int):
    grant = _item_grant(session, staff_user_id, task_id)
    return appointments.request_view(session=session, task_id=grant.task.id)


def _answered(session: Session, grant: _Grant) -> None:
    """Answering a forwarded item closes the forward."""
    if grant.forward is not None:
        grant.forward.done_at = clock.now()
        session.add(grant.forward)


def reply(*, session: Session, staff_user_id: int, task_id: int, body: str, actor: audit.Actor) -> None:
    """Reply in a message thread (messages.staff_reply audits "task.reply" and notifies)."""
    grant = _item_grant(session, staff_user_id, task_id)
    if grant.task.kind != TaskKind.MESSAGE:
        raise InvalidInput("Only a message can be answered with a reply.", field="body")
    _answered(session, grant)  # commits with the reply (staff_reply commits), or not at all
    try:
        messages.staff_reply(session=session, task_id=grant.task.id, staff_user_id=staff_user_id, body=body,
                             actor=actor)
    except Exception:
        session.rollback()
        raise
    session.commit()


def decide_appointment(*, session: Session, staff_user_id: int, task_id: int, decision: str, note: str,
                       actor: audit.Actor) -> None:
    """"Mark scheduled" / "Decline" with a note to the patient (appointments.decide audits)."""
    grant = _item_grant(session, staff_user_id, task_id)
    if grant.task.kind != TaskKind.APPOINTMENT_REQUEST:
        raise InvalidInput("Only an appointment request can be scheduled or declined.")
    if decision not in ("scheduled", "declined"):
        raise InvalidInput("Choose Mark scheduled or Decline.")
    _answered(session, grant)  # commits with the decision, or not at all
    try:
        appointments.decide(session=session, task_id=grant.task.id, decision=decision, note=note, actor=actor)
    except Exception:
        session.rollback()
        raise
    session.commit()


def merge_change(*, session: Session, staff_user_id: int, task_id: int, change_id: int, actor: audit.Actor,
                 overwrite: bool = False) -> None:
    """Merge one intake change into the chart (full access; forms.merge_change audits, may raise
    forms.MergeConflict)."""
    grant = _full_grant(session, staff_user_id, task_id)
    forms.merge_change(session=session, task_id=grant.task.id, change_id=change_id, actor=actor,
                       overwrite=overwrite)
    session.commit()


def merge_all(*, session: Session, staff_user_id: int, task_id: int, actor: audit.Actor):
    """Merge every mergeable change; conflicts are skipped (returns forms.MergeResult)."""
    grant = _full_grant(session, staff_user_id, task_id)
    result = forms.merge_all(session=session, task_id=grant.task.id, actor=actor)
    session.commit()
    return result


def mark_reviewed(*, session: Session, staff_user_id: int, task_id: int, actor: audit.Actor) -> None:
    """Move the item to Reviewed (full access), audited "task.reviewed"."""
    grant = _full_grant(session, staff_user_id, task_id)
    task = grant.task
    if task.status == TaskStatus.REVIEWED:
        raise InvalidInput("This item is already reviewed.")
    task.status = TaskStatus.REVIEWED
    task.reviewed_at = clock.now()
    task.reviewed_by_staff_id = staff_user_id
    session.add(task)
    audit.record(session=session, actor=actor, action="task.reviewed", patient_id=task.patient_id,
                 detail=f"item={task.id}; status pending -> reviewed")
    session.commit()


def mark_done(*, session: Session, staff_user_id: int, task_id: int, actor: audit.Actor) -> None:
    """"Done": take an item forwarded to this user off their Communication queue."""
    grant = _item_grant(session, staff_user_id, task_id)
    if grant.forward is None:
        raise InvalidInput("This item is not in your Communication queue.")
    _answered(session, grant)
    audit.record(session=session, actor=actor, action="task.done", patient_id=grant.task.patient_id,
                 detail=f"item={grant.task.id}; forward={grant.forward.id}")
    session.commit()


# ---- forwarding -----------------------------------------------------------------------------

@dataclass(frozen=True)
class StaffOption:
    id: int
    label: str


def _can_answer(session: Session, staff_user_id: int) -> bool:
    levels = permissions.levels_for(session=session, staff_user_id=staff_user_id)
    return levels.get(Permission.TASK_PORTAL.value, 0) > 0


def forward_targets(*, session: Session, staff_user_id: int) -> list[StaffOption]:
    """Active staff users (other than this one) who have "Task - Patient Portal"."""
    if access_for(session=session, staff_user_id=staff_user_id) != QueueAccess.FULL:
        raise Forbidden(MANAGE_REFUSED)
    users = session.exec(select(StaffUser).where(StaffUser.active == True, StaffUser.id != staff_user_id)  # noqa: E712
                         .order_by(col(StaffUser.full_name), col(StaffUser.id))).all()
    return [StaffOption(id=user.id, label=f"{user.full_name} ({user.username})")
            for user in users if _can_answer(session, user.id)]


def _clean_note(value: str | None) -> str:
    note = (value or "").replace("\r\n", "\n").strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"The note must be at most {MAX_NOTE} characters.", field="note")
    if _CONTROL.search(note):
        raise InvalidInput("The note contains characters that are not allowed.", field="note")
    return note


def forward(*, session: Session, staff_user_id: int, task_id: int, to_staff_id: int, note: str,
            actor: audit.Actor) -> int:
    """Send the item to a colleague's Communication queue; returns the forward's id."""
    grant = _full_grant(session, staff_user_id, task_id)
    target = session.get(StaffUser, to_staff_id) if isinstance(to_staff_id, int) and to_staff_id > 0 else None
    if target is None:
        raise InvalidInput("Choose a staff user to forward this item to.", field="to_staff")
    if not target.active:
        raise InvalidInput(f"{target.full_name} is not an active user; choose someone else.", field="to_staff")
    if not _can_answer(session, target.id):
        raise InvalidInput(f"{target.full_name} does not have \u201cTask - Patient Portal\u201d and could not "
                           "open this item; choose someone else.", field="to_staff")
    if target.id == staff_user_id:
        raise InvalidInput("Choose someone other than yourself.", field="to_staff")
    note = _clean_note(note)
    row = TaskForward(task_id=grant.task.id, from_staff_id=staff_user_id, to_staff_id=target.id, note=note,
                      created_at=clock.now())
    session.add(row)
    session.flush()
    audit.record(session=session, actor=actor, action="task.forward", patient_id=grant.task.patient_id,
                 detail=f"item={grant.task.id}; to={target.username}")
    session.commit()
    return row.id
