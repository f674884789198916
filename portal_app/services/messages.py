"""Secure messages between a patient's portal and the practice.

A message thread is a Patient Portal queue item of kind MESSAGE; each post is a TaskPost
(author_type "patient" or "staff"). Every post moves the item's `last_activity_at`.

Unread markers, both sides:
- the patient sees "Unread" on a thread with staff posts not yet read by the patient
  (`read_by_patient_at` is set when the patient opens the thread);
- staff see patient posts with no `read_by_staff_at` (set by `mark_read_by_staff`).

A new patient post on a reviewed item puts it back to pending, so staff see it in the queue.

Every function here commits its own change, except where noted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from sqlalchemy import func
from sqlmodel import Session, col, select

from portal_app import routes
from portal_app.models import (
    AccessType,
    AccountStatus,
    Patient,
    PortalAccount,
    PortalConnection,
    PortalTask,
    StaffUser,
    TaskKind,
    TaskPost,
    TaskStatus,
    ident,
)
from portal_app.notify import templates, templates_queue
from portal_app.notify.templates import Rendered
from portal_app.services import audit, clock, consent, outbox, queue, settings
from portal_app.services.errors import FormInvalid, InvalidInput, NotFound
from portal_app.services.portal_auth import ChartView
from portal_app.services.validation import bounded_text

MAX_BODY_CHARS = 10_000
MAX_SUBJECT_CHARS = 200
PAGE_SIZE = 20
PATIENT = "patient"
STAFF = "staff"


def check_body(body: str, *, field: str = "body", what: str = "message") -> str:
    """The trimmed text of a post, or InvalidInput beside `field`."""
    return bounded_text((body or "").strip(), field=field, limit=MAX_BODY_CHARS, name=f"A {what}",
                        missing=f"Write your {what}.", advice=" Shorten it or split it into several messages.")


def _check_subject(subject: str) -> str:
    return bounded_text(" ".join((subject or "").split()), field="subject", limit=MAX_SUBJECT_CHARS,
                        name="A subject", missing="Enter a subject.")


_Args = ParamSpec("_Args")
_Value = TypeVar("_Value")


def collect_errors(errors: dict[str, str], check: Callable[_Args, _Value], *args: _Args.args,
                   **kwargs: _Args.kwargs) -> _Value | None:
    """Run one field check; what it refuses (InvalidInput, or FormInvalid's several fields) is
    added to `errors` and None returned, so a form can name every wrong field at once."""
    try:
        return check(*args, **kwargs)
    except FormInvalid as exc:
        errors.update(exc.errors)
    except InvalidInput as exc:
        errors[exc.field] = exc.message
    return None


def _add_post(*, session: Session, task: PortalTask, author_type: str, body: str, label: str,
              account_id: int | None = None, staff_user_id: int | None = None) -> TaskPost:
    now = clock.now()
    post = TaskPost(task_id=ident(task), author_type=author_type, account_id=account_id,
                    staff_user_id=staff_user_id, author_label=label[:254], body=body, created_at=now)
    task.last_activity_at = now
    session.add(post)
    session.add(task)
    session.flush()
    return post


def _patient_task(session: Session, task_id: int, patient_id: int) -> PortalTask:
    """The message thread `task_id` if it belongs to `patient_id`; NotFound otherwise (same
    answer for another chart's thread as for one that does not exist)."""
    task = session.get(PortalTask, task_id) if isinstance(task_id, int) else None
    if task is None or task.patient_id != patient_id or task.kind != TaskKind.MESSAGE:
        raise NotFound("That conversation was not found.")
    return task


# --- patient side ---------------------------------------------------------------------------

def start_thread(*, session: Session, account_id: int, chart: ChartView, subject: str, body: str,
                 ip: str = "") -> int:
    """A new message from the portal: a pending MESSAGE item with the first patient post.

    Raises FormInvalid with every wrong field ("subject", "body") at once.
    """
    errors: dict[str, str] = {}
    clean_subject = collect_errors(errors, _check_subject, subject)
    clean_body = collect_errors(errors, check_body, body)
    if errors:
        raise FormInvalid(errors)
    assert clean_subject is not None and clean_body is not None  # no errors: each check returned
    account = session.get(PortalAccount, account_id)
    task = queue.file_item(session=session, kind=TaskKind.MESSAGE, account_id=account_id, chart=chart,
                           subject=clean_subject, ip=ip)
    _add_post(session=session, task=task, author_type=PATIENT, body=clean_body,
              label=account.user_id if account else "", account_id=account_id)
    task_id = ident(task)
    session.commit()
    return task_id


def patient_reply(*, session: Session, account_id: int, chart: ChartView, task_id: int, body: str,
                  ip: str = "") -> None:
    """A patient (or their representative) posts in a thread of the chart they are viewing.

    A reviewed thread goes back to pending so staff see the new post.
    """
    task = _patient_task(session, task_id, chart.patient_id)
    text = check_body(body)
    account = session.get(PortalAccount, account_id)
    post = _add_post(session=session, task=task, author_type=PATIENT, body=text,
                     label=account.user_id if account else "", account_id=account_id)
    reopened = task.status == TaskStatus.REVIEWED
    if reopened:
        task.status = TaskStatus.PENDING
        task.reviewed_at = None
        task.reviewed_by_staff_id = None
        session.add(task)
    audit.record(session=session, actor=audit.Actor.portal(account_id, ip), action="portal.message_reply",
                 patient_id=chart.patient_id, account_id=account_id,
                 detail=f"item={task.id}; post={post.id}; as={chart.access_type}"
                        + ("; reviewed -> pending" if reopened else ""))
    session.commit()


@dataclass(frozen=True)
class ThreadRow:
    """One line of the patient's message list."""

    id: int
    subject: str
    last_activity: str
    unread: bool
    unread_count: int


@dataclass(frozen=True)
class ThreadPage:
    rows: list[ThreadRow]
    page: int
    pages: int
    total: int


def threads(*, session: Session, patient_id: int, page: int = 1) -> ThreadPage:
    """The chart's message threads, newest activity first, PAGE_SIZE per page (page from 1)."""
    total = session.exec(select(func.count()).select_from(PortalTask).where(
        PortalTask.patient_id == patient_id, PortalTask.kind == TaskKind.MESSAGE)).one()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, int(page or 1)), pages)
    unread = (select(func.count()).select_from(TaskPost)
              .where(TaskPost.task_id == PortalTask.id, TaskPost.author_type == STAFF,
                     col(TaskPost.read_by_patient_at).is_(None))
              .correlate(PortalTask).scalar_subquery())
    found = session.exec(
        select(PortalTask.id, PortalTask.subject, PortalTask.last_activity_at, unread)
        .where(PortalTask.patient_id == patient_id, PortalTask.kind == TaskKind.MESSAGE)
        .order_by(col(PortalTask.last_activity_at).desc(), col(PortalTask.id).desc())
        .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    zone = settings.zone(session=session)
    rows = [ThreadRow(id=ident(task_id), subject=subject or "(no subject)", last_activity=clock.display(at, zone),
                      unread=bool(count), unread_count=int(count or 0))
            for task_id, subject, at, count in found]
    return ThreadPage(rows=rows, page=page, pages=pages, total=total)


@dataclass(frozen=True)
class PostRow:
    id: int
    author_type: str
    author_label: str
    body: str
    when: str
    unread_by_staff: bool
    unread_by_patient: bool = False


@dataclass(frozen=True)
class ThreadView:
    id: int
    subject: str
    posts: list[PostRow]


def _rows(session: Session, task_id: int, label: Callable[[TaskPost], str] | None = None) -> list[PostRow]:
    """The item's posts, oldest first; `label(post)` names the author (default: as stored)."""
    zone = settings.zone(session=session)
    posts = session.exec(select(TaskPost).where(TaskPost.task_id == task_id)
                         .order_by(col(TaskPost.created_at), col(TaskPost.id))).all()
    return [PostRow(id=ident(p), author_type=p.author_type, author_label=label(p) if label else p.author_label,
                    body=p.body,
                    when=clock.display(p.created_at, zone),
                    unread_by_staff=p.author_type == PATIENT and p.read_by_staff_at is None,
                    unread_by_patient=p.author_type == STAFF and p.read_by_patient_at is None)
            for p in posts]


def _mark_read(session: Session, task_id: int, *, author_type: str) -> None:
    """The other side has read the item: its unread posts by `author_type` are marked (no commit)."""
    by_patient = author_type == STAFF
    column = col(TaskPost.read_by_patient_at if by_patient else TaskPost.read_by_staff_at)
    now = clock.now()
    unread = select(TaskPost).where(TaskPost.task_id == task_id, TaskPost.author_type == author_type,
                                    column.is_(None))
    for post in session.exec(unread).all():
        if by_patient:
            post.read_by_patient_at = now
        else:
            post.read_by_staff_at = now
        session.add(post)


def portal_author(session: Session, account_id: int | None, patient_id: int, viewer_account_id: int | None) -> str:
    """Who wrote a portal post, as the person reading the portal sees it: "You" for their own
    posts, otherwise the writer's name (never their user ID), marked when a representative."""
    if account_id is not None and account_id == viewer_account_id:
        return "You"
    account = session.get(PortalAccount, account_id) if account_id is not None else None
    name = " ".join(part for part in ((account.first_name, account.last_name) if account else ()) if part)
    link = session.exec(select(PortalConnection).where(PortalConnection.account_id == account_id,
                                                       PortalConnection.patient_id == patient_id)).first()
    if link is not None and link.access_type == AccessType.REPRESENTATIVE:
        what = link.relationship or "representative"
        return f"{name} ({what})" if name else f"The patient's {what}"
    patient = session.get(Patient, patient_id)
    return " ".join(part for part in (patient.first_name, patient.last_name) if part) if patient else "The patient"


def open_thread(*, session: Session, patient_id: int, task_id: int,
                viewer_account_id: int | None = None) -> ThreadView:
    """A thread of the chart being viewed, oldest post first; marks the staff posts read by the
    patient (the returned rows still say which were unread). Another chart's thread: NotFound.

    With `viewer_account_id` (the signed-in account), portal posts are labelled for that reader:
    "You" for their own, the writer's name for another account's (see `_portal_author`).
    """
    task = _patient_task(session, task_id, patient_id)
    labels: dict[int | None, str] = {}

    def label(post: TaskPost) -> str:
        if viewer_account_id is None or post.author_type != PATIENT:
            return post.author_label
        if post.account_id not in labels:
            labels[post.account_id] = portal_author(session, post.account_id, patient_id, viewer_account_id)
        return labels[post.account_id]

    rows = _rows(session, ident(task), label)
    _mark_read(session, ident(task), author_type=STAFF)
    session.commit()
    return ThreadView(id=ident(task), subject=task.subject or "(no subject)", posts=rows)


# --- staff side (the queue) -------------------------------------------------------------------

def _task(session: Session, task_id: int) -> PortalTask:
    task = session.get(PortalTask, task_id) if isinstance(task_id, int) else None
    if task is None:
        raise NotFound("That item no longer exists.")
    return task


def thread_posts(*, session: Session, task_id: int) -> list[PostRow]:
    """Every post of an item (any kind), oldest first. Reads only; marks nothing."""
    return _rows(session, ident(_task(session, task_id)))


def mark_read_by_staff(*, session: Session, task_id: int) -> None:
    """Staff have seen the item: its patient posts are no longer unread for staff."""
    _mark_read(session, ident(_task(session, task_id)), author_type=PATIENT)
    session.commit()


@dataclass(frozen=True)
class Notice:
    """What became of the content-free notice to the patient: `detail` for the audit, `told`
    for the staff user who answered (what the patient was told, or that nothing went out)."""

    detail: str
    told: str
    sent: bool


NOTHING_WENT_OUT = "No notice went out to the patient: "


def _not_sent(detail: str, why: str) -> Notice:
    return Notice(detail=detail, told=NOTHING_WENT_OUT + why, sent=False)


def notify_patient(*, session: Session, task: PortalTask, email_template: Callable[..., Rendered] | None = None,
                   sms_template: Callable[..., Rendered] | None = None, words: dict[str, str] | None = None) -> Notice:
    """Tell the account that sent the item that something waits in the portal (no content;
    a booked appointment passes its own templates and `words`: its time, provider, location).

    Email when its user ID is an email address, a text otherwise, when the chart allows that
    channel for its own address. Does not commit.
    """
    account = session.get(PortalAccount, task.account_id) if task.account_id else None
    if account is None or not account.user_id:
        return _not_sent("no account to notify", "no portal account sent this item.")
    if account.status == AccountStatus.DISABLED:
        return _not_sent("account disabled, not notified", "the portal account is disabled.")
    config = settings.get(session=session)
    if not config.portal_active:
        # With the portal off nothing is sent (the patient could not sign in to read it).
        return _not_sent("portal off, not notified",
                         "the portal is switched off (Setup > Portal Settings).")
    channel = "email" if "@" in account.user_id else "sms"
    patient = session.get(Patient, task.patient_id) if task.patient_id else None
    if patient is not None and not consent.allows(patient, channel, account.user_id):
        return _not_sent(f"no {channel} consent, not notified", consent.REFUSED[channel])
    login_url = routes.portal_url(config.portal_base_url, routes.LOGIN)
    rendered = templates.for_channel(channel, email_template=email_template or templates_queue.new_message_email,
                                     sms_template=sms_template or templates_queue.new_message_sms, config=config,
                                     login_url=login_url, **(words or {}))
    message = outbox.send(session=session, channel=channel, kind="portal_notice", to=account.user_id,
                          rendered=rendered, patient_id=task.patient_id)
    status = message.status.value
    if status == "failed":
        return Notice(detail=f"notice #{message.id} failed", sent=False,
                      told="The notice to the patient could not be sent; it is in the outbox to retry.")
    return Notice(detail=f"notice #{message.id} {status}", sent=True,
                  told="The patient was told a new message is waiting in the portal.")


def add_staff_post(*, session: Session, task: PortalTask, staff_user_id: int, body: str) -> TaskPost:
    """A staff post on `task` (checked body), read by staff already. Does not commit."""
    staff = session.get(StaffUser, staff_user_id)
    post = _add_post(session=session, task=task, author_type=STAFF, body=body,
                     label=staff.full_name if staff else "The practice", staff_user_id=staff_user_id)
    post.read_by_staff_at = post.created_at
    session.add(post)
    return post


def staff_reply(*, session: Session, task_id: int, staff_user_id: int, body: str, actor: audit.Actor) -> Notice:
    """A staff reply in an item's thread; the patient gets a content-free notice; audited.

    Returns what became of the notice (the reply is kept even when no notice may go out).

    Raises InvalidInput(field="body") for an empty or too long reply, NotFound for a gone item.
    The item's status is left as it is (the queue decides when it is reviewed).
    """
    task = _task(session, task_id)
    text = check_body(body, what="reply")
    post = add_staff_post(session=session, task=task, staff_user_id=staff_user_id, body=text)
    notice = notify_patient(session=session, task=task)
    audit.record(session=session, actor=actor, action="task.reply", patient_id=task.patient_id,
                 account_id=task.account_id, detail=f"item={task.id}; post={post.id}; {notice.detail}")
    session.commit()
    return notice


def unread_threads(*, session: Session, patient_id: int) -> int:
    """How many of the chart's message threads have a practice reply the patient has not read."""
    return session.exec(select(func.count(func.distinct(TaskPost.task_id)))
                        .join(PortalTask, col(PortalTask.id) == TaskPost.task_id)
                        .where(PortalTask.patient_id == patient_id, TaskPost.author_type == STAFF,
                               col(TaskPost.read_by_patient_at).is_(None))).one()
