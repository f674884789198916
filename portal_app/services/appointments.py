"""Appointment requests from the portal, and the practice's answer.

A request is a Patient Portal queue item of kind APPOINTMENT_REQUEST with an AppointmentRequest
row: 1 to 3 preferred (date, time of day) slots and a reason. Staff `decide` it (scheduled or
declined) with a note; the note becomes a staff post on the item, the patient sees status and
note in the portal and gets a content-free notice. Every function commits its own change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from portal_app.models import AppointmentRequest, PortalTask, StaffUser, TaskKind
from portal_app.services import audit, clock, messages, queue, settings
from portal_app.services.errors import FormInvalid, InvalidInput, NotFound
from portal_app.services.portal_auth import ChartView

MAX_SLOTS = 3
MAX_REASON_CHARS = 1000
MAX_NOTE_CHARS = 2000
HORIZON_DAYS = 365
PAGE_SIZE = 20
SUBJECT = "Appointment request"

TIMES_OF_DAY = {"morning": "Morning", "afternoon": "Afternoon", "any": "Any time"}
STATUS_LABELS = {"requested": "Requested", "scheduled": "Scheduled", "declined": "Declined"}
DECISIONS = ("scheduled", "declined")
_SEP = "\n"


def today() -> date:
    return clock.now().date()


def _readable(day: date, time_of_day: str) -> str:
    return f"{day.strftime('%a %m/%d/%Y')}, {TIMES_OF_DAY.get(time_of_day, time_of_day).lower()}"


def check_slots(preferred: list[tuple[str, str]]) -> list[tuple[date, str]]:
    """Validate preferred slots; position n (from 1) answers to fields "date_n" / "time_n".

    Slot 1 is required; a later slot with no date is skipped. Dates must be after today and
    at most a year ahead. Raises FormInvalid naming every wrong field.
    """
    errors: dict[str, str] = {}
    slots: list[tuple[date, str]] = []
    items = list(preferred or [])
    if len(items) > MAX_SLOTS:
        raise InvalidInput(f"Give at most {MAX_SLOTS} preferred times.", field="date_1")
    if not items:
        items = [("", "")]
    first, last = today() + timedelta(days=1), today() + timedelta(days=HORIZON_DAYS)
    for number, item in enumerate(items, start=1):
        raw_date, raw_time = (list(item) + ["", ""])[:2]
        raw_date, raw_time = (raw_date or "").strip(), (raw_time or "").strip().lower()
        if not raw_date:
            if number == 1:
                errors["date_1"] = "Choose a preferred date."
            continue
        try:
            day = date.fromisoformat(raw_date)
        except ValueError:
            errors[f"date_{number}"] = "Enter a date like 2026-12-03."
            continue
        if day < first:
            errors[f"date_{number}"] = "Choose a date after today."
        elif day > last:
            errors[f"date_{number}"] = f"Choose a date within a year (by {last.strftime('%m/%d/%Y')})."
        if raw_time not in TIMES_OF_DAY:
            errors[f"time_{number}"] = "Choose Morning, Afternoon or Any time."
        if f"date_{number}" in errors or f"time_{number}" in errors:
            continue
        if (day, raw_time) in slots:
            errors[f"date_{number}"] = f"This is the same as preferred date {slots.index((day, raw_time)) + 1}."
            continue
        slots.append((day, raw_time))
    if errors:
        raise FormInvalid(errors)
    return slots


def _check_reason(reason: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("Tell us the reason for the visit.", field="reason")
    if len(text) > MAX_REASON_CHARS:
        raise InvalidInput(f"The reason can be at most {MAX_REASON_CHARS:,} characters; this one has "
                           f"{len(text):,}.", field="reason")
    return text


def request_appointment(*, session: Session, account_id: int, chart: ChartView,
                        preferred: list[tuple[str, str]], reason: str, ip: str = "") -> int:
    """File an appointment request for the chart being viewed; returns the item's id.

    preferred: [("2026-12-03", "morning"|"afternoon"|"any"), ...], 1 to 3 slots.
    Raises FormInvalid with every wrong field (date_n, time_n, reason).
    """
    errors: dict[str, str] = {}
    slots = messages.collect_errors(errors, check_slots, preferred)
    text = messages.collect_errors(errors, _check_reason, reason)
    if errors:
        raise FormInvalid(errors)
    task = queue.file_item(session=session, kind=TaskKind.APPOINTMENT_REQUEST, account_id=account_id,
                           chart=chart, subject=SUBJECT, ip=ip)
    session.add(AppointmentRequest(task_id=task.id, patient_id=chart.patient_id, reason=text,
                                   preferred=_SEP.join(f"{d.isoformat()}|{t}" for d, t in slots)))
    task_id = task.id
    session.commit()
    return task_id


def _slots_of(row: AppointmentRequest) -> list[str]:
    readable = []
    for line in filter(None, row.preferred.split(_SEP)):
        raw_date, _, raw_time = line.partition("|")
        try:
            readable.append(_readable(date.fromisoformat(raw_date), raw_time))
        except ValueError:
            readable.append(line)
    return readable


@dataclass(frozen=True)
class AppointmentView:
    reason: str
    preferred: list[str]
    status: str          # requested, scheduled, declined
    staff_note: str
    decided_by: str
    decided_at: str
    status_label: str = ""


def _request(session: Session, task_id: int) -> tuple[PortalTask, AppointmentRequest]:
    task = session.get(PortalTask, task_id) if isinstance(task_id, int) else None
    row = session.exec(select(AppointmentRequest).where(AppointmentRequest.task_id == task_id)).first() \
        if task is not None else None
    if task is None or row is None or task.kind != TaskKind.APPOINTMENT_REQUEST:
        raise NotFound("That appointment request no longer exists.")
    return task, row


def request_view(*, session: Session, task_id: int) -> AppointmentView:
    """The detail of an Appointment Request item (for the queue)."""
    _, row = _request(session, task_id)
    staff = session.get(StaffUser, row.decided_by_staff_id) if row.decided_by_staff_id else None
    return AppointmentView(reason=row.reason, preferred=_slots_of(row), status=row.status,
                           staff_note=row.staff_note, decided_by=staff.full_name if staff else "",
                           decided_at=clock.display(row.decided_at, settings.zone(session=session)),
                           status_label=STATUS_LABELS.get(row.status, row.status))


def decide(*, session: Session, task_id: int, decision: str, note: str, actor: audit.Actor) -> None:
    """Staff answer a request: "scheduled" or "declined", with a note for the patient.

    The note is required when declining (the patient needs to know what to do next) and
    optional when scheduling; when given it is added as a staff post. Changing an earlier
    decision is allowed (a rescheduled visit) and audited old -> new. The patient's account
    gets a content-free notice.
    """
    if decision not in DECISIONS:
        raise InvalidInput("Choose Scheduled or Declined.", field="decision")
    text = (note or "").strip()
    if len(text) > MAX_NOTE_CHARS:
        raise InvalidInput(f"The note can be at most {MAX_NOTE_CHARS:,} characters; this one has "
                           f"{len(text):,}.", field="note")
    if decision == "declined" and not text:
        raise InvalidInput("Write a note telling the patient why, or what to do instead.", field="note")
    task, row = _request(session, task_id)
    old = row.status
    row.status = decision
    row.staff_note = text
    row.decided_by_staff_id = actor.staff_user_id
    row.decided_at = clock.now()
    session.add(row)
    post_part = ""
    if text and actor.staff_user_id is not None:
        post = messages.add_staff_post(session=session, task=task, staff_user_id=actor.staff_user_id, body=text)
        post_part = f"; post={post.id}"
    notice = messages.notify_patient(session=session, task=task)
    audit.record(session=session, actor=actor, action="appointment.decide", patient_id=task.patient_id,
                 account_id=task.account_id, detail=f"item={task.id}; status {old} -> {decision}{post_part}; {notice}")
    session.commit()


@dataclass(frozen=True)
class RequestRow:
    """One of the chart's requests, as the patient's Appointments page lists it."""

    id: int
    requested_on: str
    preferred: str
    reason: str
    status: str
    status_label: str
    staff_note: str


@dataclass(frozen=True)
class RequestPage:
    rows: list[RequestRow]
    page: int
    pages: int
    total: int


def requests_for(*, session: Session, patient_id: int, page: int = 1) -> RequestPage:
    """The chart's appointment requests, newest first, PAGE_SIZE per page (page from 1)."""
    where = (AppointmentRequest.patient_id == patient_id,)
    total = session.exec(select(func.count()).select_from(AppointmentRequest).where(*where)).one()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, int(page or 1)), pages)
    found = session.exec(select(AppointmentRequest, PortalTask.created_at)
                         .join(PortalTask, PortalTask.id == AppointmentRequest.task_id)
                         .where(*where)
                         .order_by(col(PortalTask.created_at).desc(), col(AppointmentRequest.id).desc())
                         .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    rows = [RequestRow(id=row.task_id, requested_on=clock.aware(created).strftime("%m/%d/%Y"),
                       preferred="; ".join(_slots_of(row)), reason=row.reason, status=row.status,
                       status_label=STATUS_LABELS.get(row.status, row.status), staff_note=row.staff_note)
            for row, created in found]
    return RequestPage(rows=rows, page=page, pages=pages, total=total)
