"""The two lists: Patient Portal Review (25 rows a page, arranged three ways) and Communication."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlmodel import Session, col, func, select

from portal_app import routes
from portal_app.models import Patient, PortalTask, StaffUser, TaskForward, TaskKind, TaskPost, TaskStatus, ident
from portal_app.services import clock
from portal_app.services import settings as practice_settings
from portal_app.services.errors import Forbidden
from portal_app.services.permissions import QueueAccess
from portal_app.services.tasks.access import QUEUE_REFUSED, require_queue
from portal_app.services.tasks.counts import count_open_forwards, count_reviewed_since, count_status, month_start
from portal_app.services.tasks.labels import KIND_LABELS, KIND_ORDER, patient_cells, patient_label, sender_note

PAGE_SIZE = 25

ARRANGE_REQUEST = "request"
ARRANGE_PATIENT = "patient"
ARRANGE_DATE = "date"
ARRANGEMENTS: dict[str, str] = {ARRANGE_REQUEST: "Request", ARRANGE_PATIENT: "Patient", ARRANGE_DATE: "Date"}


def page_in(page: int, total: int) -> tuple[int, int]:
    """(the page to show, the number of pages): `page` kept within 1..pages."""
    pages = max(1, math.ceil(total / PAGE_SIZE))
    return min(max(1, int(page) if str(page).lstrip("-").isdigit() else 1), pages), pages


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
    subject: str = ""
    preview: str = ""      # the first words of the patient's latest post
    new_reply: bool = False  # a patient post after the first, not yet opened by staff
    latest: str = ""       # when that reply came (shown with "New reply")


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


def _status_of(value: str) -> TaskStatus:
    try:
        return TaskStatus(value)
    except ValueError:
        return TaskStatus.PENDING


def _scope(status: TaskStatus, start: datetime) -> tuple:
    """What a status lists: every pending item; the items reviewed this month ("Reviewed (month)").

    Bounding Reviewed to the month keeps every count and page a short index range however much
    history the practice has.
    """
    if status == TaskStatus.REVIEWED:
        return PortalTask.status == status, col(PortalTask.reviewed_at) >= start
    return (PortalTask.status == status,)


def _newest_first(status: TaskStatus) -> tuple:
    """Pending: latest activity first (a patient's new reply brings an item back to the top).
    Reviewed: most recently reviewed first. Each is its index's order."""
    at = PortalTask.reviewed_at if status == TaskStatus.REVIEWED else PortalTask.last_activity_at
    return col(at).desc(), col(PortalTask.id).desc()


def _kind_counts(session: Session, scope: tuple) -> dict[TaskKind, int]:
    """One index range count per kind ((status, kind, ...) indexes), in group order."""
    return {kind: session.exec(select(func.count()).select_from(PortalTask)
                               .where(*scope, PortalTask.kind == kind)).one() for kind in KIND_ORDER}


def _by_request(session: Session, status: TaskStatus, scope: tuple, offset: int,
                counts: dict[TaskKind, int]) -> list[PortalTask]:
    """Slices of each kind in group order, each read along its own index."""
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


def _page_tasks(session: Session, status: TaskStatus, scope: tuple, arrange: str, offset: int,
                counts: dict[TaskKind, int]) -> list[PortalTask]:
    if arrange == ARRANGE_REQUEST:
        return _by_request(session, status, scope, offset, counts)
    query = select(PortalTask).where(*scope)
    if arrange == ARRANGE_PATIENT:
        # The chart's name order is copied onto the item (patient_sort_key): no join, one index.
        query = query.order_by(col(PortalTask.patient_sort_key), col(PortalTask.patient_id),
                               *_newest_first(status))
    else:
        query = query.order_by(*_newest_first(status))
    return list(session.exec(query.offset(offset).limit(PAGE_SIZE)).all())


def _group(task: PortalTask, patient: Patient | None, arrange: str, zone: tzinfo) -> str:
    """The heading a row is listed under: its kind, its patient or the day it was sent."""
    if arrange == ARRANGE_REQUEST:
        return KIND_LABELS[task.kind]
    if arrange == ARRANGE_PATIENT:
        return patient_label(patient)
    sent = clock.aware(task.reviewed_at if task.status == TaskStatus.REVIEWED else task.last_activity_at)
    return f"{sent.astimezone(zone):%m/%d/%Y}" if sent is not None else ""


PREVIEW_WORDS = 12
PREVIEW_CHARS = 90


def first_words(text: str) -> str:
    """The start of a post for a list row: at most PREVIEW_WORDS words and PREVIEW_CHARS characters."""
    words = text.split()
    short = " ".join(words[:PREVIEW_WORDS])
    if len(short) > PREVIEW_CHARS:
        short = short[:PREVIEW_CHARS].rstrip()
    return short + ("\u2026" if short != " ".join(words) else "")


@dataclass(frozen=True)
class _Posts:
    """What the page's rows show of their threads: the latest patient post's start, and a new reply."""

    preview: dict[int, str]
    new_reply: dict[int, datetime]


def _posts(session: Session, task_ids: set[int]) -> _Posts:
    """One read of the page's patient posts: each item's latest one, and any unread reply
    (a patient post, not the first of the thread, that staff have not opened)."""
    if not task_ids:
        return _Posts({}, {})
    latest = (select(func.max(TaskPost.id))
              .where(col(TaskPost.task_id).in_(task_ids), TaskPost.author_type == "patient")
              .group_by(col(TaskPost.task_id)))
    preview = {post.task_id: first_words(post.body)
               for post in session.exec(select(TaskPost).where(col(TaskPost.id).in_(latest))).all()}
    first = dict(session.exec(select(TaskPost.task_id, func.min(TaskPost.id))
                              .where(col(TaskPost.task_id).in_(task_ids)).group_by(col(TaskPost.task_id))).all())
    unread = session.exec(select(TaskPost.task_id, TaskPost.id, TaskPost.created_at)
                          .where(col(TaskPost.task_id).in_(task_ids), TaskPost.author_type == "patient",
                                 col(TaskPost.read_by_staff_at).is_(None))).all()
    new_reply: dict[int, datetime] = {}
    for task_id, post_id, at in unread:
        if post_id != first.get(task_id) and (task_id not in new_reply or at > new_reply[task_id]):
            new_reply[task_id] = at
    return _Posts(preview, new_reply)


def _review_rows(session: Session, tasks: list[PortalTask], arrange: str, zone: tzinfo) -> list[ReviewRow]:
    patient_ids = {task.patient_id for task in tasks}
    patients = {p.id: p for p in session.exec(select(Patient).where(col(Patient.id).in_(patient_ids))).all()} \
        if patient_ids else {}
    today = clock.now().astimezone(zone).date()
    posts = _posts(session, {ident(task) for task in tasks})
    rows: list[ReviewRow] = []
    previous_group = None
    for task in tasks:
        patient = patients.get(task.patient_id)
        group = _group(task, patient, arrange, zone)
        sex, age, dob = patient_cells(patient, today)
        rows.append(ReviewRow(
            id=ident(task), href=routes.task_item(ident(task)), group=group,
            first_in_group=group != previous_group, patient=patient_label(patient), sex=sex, age=age, dob=dob,
            kind_label=KIND_LABELS[task.kind], when=clock.display(task.created_at, zone),
            sender_note=sender_note(task),
            status_label="Reviewed" if task.status == TaskStatus.REVIEWED else "Pending",
            subject=task.subject, preview=posts.preview.get(ident(task), ""),
            new_reply=ident(task) in posts.new_reply,
            latest=clock.display(posts.new_reply.get(ident(task)), zone)))
        previous_group = group
    return rows


def review_page(*, session: Session, staff_user_id: int, status: str = TaskStatus.PENDING.value,
                arrange: str = ARRANGE_REQUEST, page: int = 1) -> ReviewPage:
    """One page (25 rows) of the Patient Portal Review list, with its counts."""
    access = require_queue(session=session, staff_user_id=staff_user_id)
    if access == QueueAccess.LIMITED:
        raise Forbidden(QUEUE_REFUSED)
    wanted = _status_of(status)
    arrange = arrange if arrange in ARRANGEMENTS else ARRANGE_REQUEST
    # The practice's zone decides the month and every time shown: read it once.
    zone = practice_settings.zone(session=session)
    start, month_label = month_start(zone)
    scope = _scope(wanted, start)
    counts = _kind_counts(session, scope)
    total = sum(counts.values())
    # The listed status's total is one of the two counters: count only the other one.
    if wanted == TaskStatus.PENDING:
        pending, reviewed_month = total, count_reviewed_since(session, start)
    else:
        pending, reviewed_month = count_status(session, TaskStatus.PENDING), total
    page, pages = page_in(page, total)
    tasks = _page_tasks(session, wanted, scope, arrange, (page - 1) * PAGE_SIZE, counts)
    return ReviewPage(rows=_review_rows(session, tasks, arrange, zone), total=total, page=page, pages=pages,
                      pending=pending, reviewed_month=reviewed_month, month_label=month_label,
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
    require_queue(session=session, staff_user_id=staff_user_id)
    total = count_open_forwards(session, staff_user_id)
    page, pages = page_in(page, total)
    found = session.exec(
        select(TaskForward, PortalTask, Patient, StaffUser)
        .join(PortalTask, col(PortalTask.id) == TaskForward.task_id)
        .join(Patient, col(Patient.id) == PortalTask.patient_id)
        .join(StaffUser, col(StaffUser.id) == TaskForward.from_staff_id)
        .where(TaskForward.to_staff_id == staff_user_id, col(TaskForward.done_at).is_(None))
        .order_by(col(TaskForward.created_at).desc(), col(TaskForward.id).desc())
        .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    zone = practice_settings.zone(session=session)
    rows = [CommunicationRow(id=ident(fwd), task_id=fwd.task_id, href=routes.task_item(fwd.task_id),
                             patient=patient_label(patient), kind_label=KIND_LABELS[task.kind],
                             when=clock.display(fwd.created_at, zone), from_name=sender.full_name,
                             note=fwd.note, opened=fwd.opened_at is not None)
            for fwd, task, patient, sender in found]
    return CommunicationPage(rows=rows, total=total, page=page, pages=pages)
