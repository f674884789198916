"""Appointment requests from the portal, and the practice's answer.

A request is a Patient Portal queue item of kind APPOINTMENT_REQUEST with an AppointmentRequest
row: 1 to 3 preferred (date, time of day) slots and a reason. Staff `decide` it: scheduled, with
what was booked (date and time in the practice's zone, stored UTC; provider; location), or
declined with a required note. A note becomes a staff post on the item; the patient sees status,
booking and note in the portal (with a calendar file, `calendar_file`) and gets a notice that
names the booked time and place, never the reason. Every function commits its own change.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from icalendar import Calendar, Event
from sqlalchemy import func
from sqlmodel import Session, col, select

from portal_app.models import AppointmentRequest, PortalTask, StaffUser, TaskKind, ident
from portal_app.notify import templates_queue
from portal_app.services import audit, clock, messages, queue, settings
from portal_app.services.errors import FormInvalid, InvalidInput, NotFound
from portal_app.services.portal_auth import ChartView
from portal_app.services.validation import bounded_text

MAX_SLOTS = 3
MAX_REASON_CHARS = 1000
MAX_NOTE_CHARS = 2000
MAX_PROVIDER_CHARS = 120
MAX_LOCATION_CHARS = 200
VISIT_MINUTES = 30  # the calendar file's length of a visit
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


def _slot_items(preferred: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The slots as given (at most MAX_SLOTS); none at all reads as an empty slot 1."""
    items = list(preferred or [])
    if len(items) > MAX_SLOTS:
        raise InvalidInput(f"Give at most {MAX_SLOTS} preferred times.", field="date_1")
    return items or [("", "")]


def _raw_slot(item: tuple[str, str]) -> tuple[str, str]:
    """(date text, time of day) trimmed, whatever shape the browser sent."""
    raw_date, raw_time = (list(item) + ["", ""])[:2]
    return (raw_date or "").strip(), (raw_time or "").strip().lower()


def _slot_errors(number: int, day: date, time_of_day: str, window: tuple[date, date]) -> dict[str, str]:
    """What is wrong with a dated slot: a day outside `window` (first, last), an unknown time of day."""
    first, last = window
    errors: dict[str, str] = {}
    if day < first:
        errors[f"date_{number}"] = "Choose a date after today."
    elif day > last:
        errors[f"date_{number}"] = f"Choose a date within a year (by {last.strftime('%m/%d/%Y')})."
    if time_of_day not in TIMES_OF_DAY:
        errors[f"time_{number}"] = "Choose Morning, Afternoon or Any time."
    return errors


def _check_slot(number: int, item: tuple[str, str], window: tuple[date, date],
                earlier: list[tuple[date, str]]) -> tuple[date, str] | None:
    """Slot `number` checked against the window and the `earlier` good slots; None for an empty
    later slot. Raises InvalidInput (one field) or FormInvalid (its date and its time)."""
    raw_date, time_of_day = _raw_slot(item)
    if not raw_date:
        if number == 1:
            raise InvalidInput("Choose a preferred date.", field="date_1")
        return None
    try:
        day = date.fromisoformat(raw_date)
    except ValueError:
        raise InvalidInput("Enter a date like 2026-12-03.", field=f"date_{number}") from None
    errors = _slot_errors(number, day, time_of_day, window)
    if errors:
        raise FormInvalid(errors)
    if (day, time_of_day) in earlier:
        raise InvalidInput(f"This is the same as preferred date {earlier.index((day, time_of_day)) + 1}.",
                           field=f"date_{number}")
    return day, time_of_day


def check_slots(preferred: list[tuple[str, str]]) -> list[tuple[date, str]]:
    """Validate preferred slots; position n (from 1) answers to fields "date_n" / "time_n".

    Slot 1 is required; a later slot with no date is skipped. Dates must be after today and
    at most a year ahead. Raises FormInvalid naming every wrong field.
    """
    errors: dict[str, str] = {}
    slots: list[tuple[date, str]] = []
    window = (today() + timedelta(days=1), today() + timedelta(days=HORIZON_DAYS))
    for number, item in enumerate(_slot_items(preferred), start=1):
        slot = messages.collect_errors(errors, _check_slot, number, item, window, slots)
        if slot is not None:
            slots.append(slot)
    if errors:
        raise FormInvalid(errors)
    return slots


def _check_reason(reason: str) -> str:
    return bounded_text((reason or "").strip(), field="reason", limit=MAX_REASON_CHARS, name="The reason",
                        missing="Tell us the reason for the visit.")


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
    assert slots is not None and text is not None  # no errors: each check returned
    task = queue.file_item(session=session, kind=TaskKind.APPOINTMENT_REQUEST, account_id=account_id,
                           chart=chart, subject=SUBJECT, ip=ip)
    session.add(AppointmentRequest(task_id=ident(task), patient_id=chart.patient_id, reason=text,
                                   preferred=_SEP.join(f"{d.isoformat()}|{t}" for d, t in slots)))
    task_id = ident(task)
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
    booked: str = ""     # "Monday, December 7, 2026 at 1:55 PM (CST)" once scheduled
    provider: str = ""
    location: str = ""


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
                           status_label=STATUS_LABELS.get(row.status, row.status),
                           **_booking_words(session, row))


def _booking_words(session: Session, row: AppointmentRequest) -> dict[str, str]:
    """What was booked, as people read it ('' each while not scheduled)."""
    if row.status != "scheduled" or row.booked_at is None:
        return {"booked": "", "provider": "", "location": ""}
    return {"booked": clock.spelled(row.booked_at, settings.zone(session=session)), "provider": row.provider,
            "location": row.location}


@dataclass(frozen=True)
class Booking:
    """What staff typed when marking a request scheduled: date (YYYY-MM-DD) and time (HH:MM) in
    the practice's zone, the provider and the location."""

    date: str = ""
    time: str = ""
    provider: str = ""
    location: str = ""


def _booked_day(raw: str, today_there: date) -> date:
    if not raw:
        raise InvalidInput("Enter the appointment date.", field="booked_date")
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput("Enter a date like 2026-12-03.", field="booked_date") from None
    if day < today_there:
        raise InvalidInput("This date is in the past; enter the appointment's date.", field="booked_date")
    if day > today_there + timedelta(days=2 * HORIZON_DAYS):
        raise InvalidInput("Enter a date within two years.", field="booked_date")
    return day


def _booked_time(raw: str) -> time:
    if not raw:
        raise InvalidInput("Enter the appointment time.", field="booked_time")
    try:
        at = time.fromisoformat(raw)
    except ValueError:
        raise InvalidInput("Enter a time like 14:30 (hours 0-23, minutes 0-59).", field="booked_time") from None
    return at.replace(second=0, microsecond=0, tzinfo=None)


def _booked_at(day: date, at: time, zone: tzinfo) -> datetime:
    """The booked moment in UTC; a local time the clocks skip (or one already past) is refused."""
    local = datetime.combine(day, at, tzinfo=zone)
    utc = local.astimezone(timezone.utc)
    if utc.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise InvalidInput("That time does not exist on that day (the clocks change); choose another.",
                           field="booked_time")
    if utc <= clock.now():
        raise InvalidInput("This time has already passed; enter the appointment's time.", field="booked_time")
    return utc


def check_booking(booking: Booking, zone: tzinfo) -> tuple[datetime, str, str]:
    """(the booked time in UTC, provider, location), or FormInvalid naming every wrong field
    (booked_date, booked_time, provider, location)."""
    errors: dict[str, str] = {}
    today_there = clock.now().astimezone(zone).date()
    day = messages.collect_errors(errors, _booked_day, (booking.date or "").strip(), today_there)
    at = messages.collect_errors(errors, _booked_time, (booking.time or "").strip())
    provider = messages.collect_errors(errors, bounded_text, " ".join((booking.provider or "").split()),
                                       field="provider", limit=MAX_PROVIDER_CHARS, name="The provider",
                                       missing="Enter the provider the patient will see.")
    location = messages.collect_errors(errors, bounded_text, " ".join((booking.location or "").split()),
                                       field="location", limit=MAX_LOCATION_CHARS, name="The location",
                                       missing="Enter where the appointment is.")
    when = messages.collect_errors(errors, _booked_at, day, at, zone) if day and at else None
    if errors:
        raise FormInvalid(errors)
    assert when is not None and provider is not None and location is not None
    return when, provider, location


def _record_booking(row: AppointmentRequest, decision: str, booked: tuple[datetime, str, str] | None) -> str:
    """Store (or clear, when declined) what was booked; the audit's words for it."""
    old = f"{clock.stamp(row.booked_at)} {row.provider} / {row.location}" if row.booked_at else "none"
    row.booked_at, row.provider, row.location = booked if booked else (None, "", "")
    new = f"{clock.stamp(row.booked_at)} {row.provider} / {row.location}" if booked else "none"
    return f"; booking {old} -> {new}" if old != new else ""


def _notice(session: Session, task: PortalTask, row: AppointmentRequest) -> messages.Notice:
    if row.status != "scheduled" or row.booked_at is None:
        return messages.notify_patient(session=session, task=task)
    words = {"when": clock.spelled(row.booked_at, settings.zone(session=session)), "provider": row.provider,
             "location": row.location}
    notice = messages.notify_patient(session=session, task=task, words=words,
                                     email_template=templates_queue.appointment_booked_email,
                                     sms_template=templates_queue.appointment_booked_sms)
    if notice.sent:
        return dataclasses.replace(notice, told="The patient was sent the time and place.")
    return notice


def decide(*, session: Session, task_id: int, decision: str, note: str, actor: audit.Actor,
           booking: Booking | None = None) -> str:
    """Staff answer a request: "scheduled" with its `booking` (date, time, provider, location:
    all required), or "declined" with a note for the patient.

    The note is required when declining (the patient needs to know what to do next) and
    optional when scheduling; when given it is added as a staff post. Changing an earlier
    decision is allowed (a rescheduled visit) and audited old -> new. The patient's account
    gets a notice (a booked visit's time, provider and place; nothing else).
    """
    if decision not in DECISIONS:
        raise InvalidInput("Choose Scheduled or Declined.", field="decision")
    errors: dict[str, str] = {}
    text = messages.collect_errors(errors, bounded_text, (note or "").strip(), field="note", limit=MAX_NOTE_CHARS,
                                   name="The note")
    if decision == "declined" and text == "":
        errors["note"] = "Write a note telling the patient why, or what to do instead."
    booked = messages.collect_errors(errors, check_booking, booking or Booking(), settings.zone(session=session)) \
        if decision == "scheduled" else None
    if errors:
        raise FormInvalid(errors)
    task, row = _request(session, task_id)
    old = row.status
    row.status = decision
    row.staff_note = text or ""
    row.decided_by_staff_id = actor.staff_user_id
    row.decided_at = clock.now()
    row.decision_seen_at = None  # new again on the patient's home page
    booking_part = _record_booking(row, decision, booked)
    session.add(row)
    post_part = ""
    if text and actor.staff_user_id is not None:
        post = messages.add_staff_post(session=session, task=task, staff_user_id=actor.staff_user_id, body=text)
        post_part = f"; post={post.id}"
    notice = _notice(session, task, row)
    audit.record(session=session, actor=actor, action="appointment.decide", patient_id=task.patient_id,
                 account_id=task.account_id,
                 detail=f"item={task.id}; status {old} -> {decision}{booking_part}{post_part}; {notice.detail}")
    session.commit()
    return notice.told


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
    booked: str = ""
    provider: str = ""
    location: str = ""


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
                         .join(PortalTask, col(PortalTask.id) == AppointmentRequest.task_id)
                         .where(*where)
                         .order_by(col(PortalTask.created_at).desc(), col(AppointmentRequest.id).desc())
                         .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    rows = [RequestRow(id=row.task_id, requested_on=clock.aware(created).strftime("%m/%d/%Y"),
                       preferred="; ".join(_slots_of(row)), reason=row.reason, status=row.status,
                       status_label=STATUS_LABELS.get(row.status, row.status), staff_note=row.staff_note,
                       **_booking_words(session, row))
            for row, created in found]
    return RequestPage(rows=rows, page=page, pages=pages, total=total)


def calendar_file(*, session: Session, patient_id: int, task_id: int, actor: audit.Actor) -> bytes:
    """The booked visit of one of the chart's requests as an iCalendar (.ics) file; audited
    "appointment.calendar_download". Another chart's request, or one not booked: NotFound."""
    task = session.get(PortalTask, task_id) if isinstance(task_id, int) else None
    row = session.exec(select(AppointmentRequest).where(AppointmentRequest.task_id == task_id)).first() \
        if task is not None and task.patient_id == patient_id else None
    if row is None or row.status != "scheduled" or row.booked_at is None:
        error = NotFound("That appointment is not booked.")
        if task is not None and task.patient_id != patient_id:  # another chart's request
            raise audit.refused(error, session=session, actor=actor, patient_id=task.patient_id,
                                detail=f"appointment request={task_id}; asked from chart={patient_id}")
        raise error
    config = settings.get(session=session)
    start = clock.aware(row.booked_at)
    calendar = Calendar()
    calendar.add("prodid", f"-//{config.practice_name}//Patient Portal//EN")
    calendar.add("version", "2.0")
    event = Event()
    event.add("uid", f"appointment-{row.task_id}-{int(start.timestamp())}@portal")
    event.add("dtstamp", clock.now())
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(minutes=VISIT_MINUTES))
    event.add("summary", f"Appointment at {config.practice_name} with {row.provider}")
    event.add("location", row.location)
    event.add("description", f"Provider: {row.provider}. Call {config.practice_phone} to change it.")
    calendar.add_component(event)
    audit.record(session=session, actor=actor, action="appointment.calendar_download", patient_id=patient_id,
                 account_id=actor.portal_account_id, detail=f"item={row.task_id}")
    session.commit()
    return calendar.to_ical()


def unseen_decisions(*, session: Session, patient_id: int) -> int:
    """How many of the chart's requests have a decision the patient has not seen yet."""
    return session.exec(select(func.count()).select_from(AppointmentRequest).where(
        AppointmentRequest.patient_id == patient_id, col(AppointmentRequest.status).in_(DECISIONS),
        col(AppointmentRequest.decision_seen_at).is_(None))).one()


def mark_decisions_seen(*, session: Session, patient_id: int) -> None:
    """The patient's Appointments page showed the chart's decisions: none is new any more."""
    rows = session.exec(select(AppointmentRequest).where(
        AppointmentRequest.patient_id == patient_id, col(AppointmentRequest.status).in_(DECISIONS),
        col(AppointmentRequest.decision_seen_at).is_(None))).all()
    for row in rows:
        row.decision_seen_at = clock.now()
        session.add(row)
    session.commit()
