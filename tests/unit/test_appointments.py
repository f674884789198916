"""Appointment requests: slot rules, the stored item, the practice's decision."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from portal_app.models import AccessType, AppointmentRequest, AuditEvent, OutboxMessage, PortalTask, TaskKind
from portal_app.services import appointments, audit, messages
from portal_app.services.errors import FormInvalid, InvalidInput, NotFound
from tests.unit.conftest import START
from tests.unit.test_messages import chart_of
from tests.unit.test_state_patient import make_account

TODAY = START.date()  # 2026-11-23
BOOKING = appointments.Booking(date="2026-11-26", time="09:30", provider="Dr. Kim", location="Main St clinic")


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


@pytest.fixture
def maria(session, frozen_clock):
    return make_account(session)


def _request(session, account, patient, preferred, reason="Knee pain", access="self"):
    return appointments.request_appointment(session=session, account_id=account.id,
                                            chart=chart_of(patient, access), preferred=preferred, reason=reason)


def test_a_request_is_a_queue_item_with_its_slots_and_reason(session, maria):
    patient, account = maria
    task_id = _request(session, account, patient, [(day(10), "morning"), ("", ""), (day(12), "any")],
                       reason="  Knee pain  ")
    task = session.get(PortalTask, task_id)
    assert (task.kind, task.patient_id, task.account_id, task.access_type, task.subject) == (
        TaskKind.APPOINTMENT_REQUEST, patient.id, account.id, AccessType.SELF, "Appointment request")
    view = appointments.request_view(session=session, task_id=task_id)
    assert view.reason == "Knee pain" and view.status == "requested" and view.status_label == "Requested"
    assert view.preferred == ["Thu 12/03/2026, morning", "Sat 12/05/2026, any time"]
    assert (view.staff_note, view.decided_by, view.decided_at) == ("", "", "")
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "portal.appointment_request")).all()
    assert [e.detail for e in events] == [f"item={task_id}; as=self"]


@pytest.mark.parametrize("preferred, errors", [
    ([], {"date_1"}),
    ([("", "morning")], {"date_1"}),
    ([(day(0), "morning")], {"date_1"}),            # today is not in the future
    ([(day(-3), "any")], {"date_1"}),
    ([(day(366), "any")], {"date_1"}),              # more than a year ahead
    ([("12/03/2026", "any")], {"date_1"}),
    ([(day(5), "evening")], {"time_1"}),
    ([(day(5), "")], {"time_1"}),
    ([(day(5), "any"), (day(5), "any")], {"date_2"}),  # the same slot twice
    ([(day(5), "any"), (day(-1), "morning"), (day(400), "x")], {"date_2", "date_3", "time_3"}),
])
def test_bad_slots_are_named_beside_their_fields(session, maria, preferred, errors):
    patient, account = maria
    with pytest.raises(FormInvalid) as caught:
        _request(session, account, patient, preferred)
    assert set(caught.value.errors) == errors
    assert session.exec(select(PortalTask)).all() == []


def test_edges_tomorrow_and_a_year_ahead_are_fine_and_three_slots_at_most(session, maria):
    patient, account = maria
    _request(session, account, patient, [(day(1), "afternoon"), (day(365), "any")])
    with pytest.raises(InvalidInput):
        _request(session, account, patient, [(day(1), "any"), (day(2), "any"), (day(3), "any"), (day(4), "any")])
    assert len(session.exec(select(AppointmentRequest)).all()) == 1


def test_reason_is_required_and_at_most_1000_characters_and_all_errors_come_together(session, maria):
    patient, account = maria
    with pytest.raises(FormInvalid) as caught:
        _request(session, account, patient, [(day(-1), "any")], reason="  ")
    assert set(caught.value.errors) == {"date_1", "reason"}
    with pytest.raises(FormInvalid) as caught:
        _request(session, account, patient, [(day(2), "any")], reason="r" * 1001)
    assert "at most 1,000" in caught.value.errors["reason"]
    _request(session, account, patient, [(day(2), "any")], reason="r" * 1000)


def test_a_representatives_request_is_recorded_as_theirs(session, maria):
    patient, account = maria
    task_id = _request(session, account, patient, [(day(3), "any")], access="representative")
    task = session.get(PortalTask, task_id)
    assert (task.account_id, task.submitted_by, task.access_type) == (
        account.id, account.user_id, AccessType.REPRESENTATIVE)


def test_decide_sets_status_posts_the_note_notifies_and_audits(session, maria, admin):
    patient, account = maria
    task_id = _request(session, account, patient, [(day(3), "morning")], reason="Rash on my arm")
    appointments.decide(session=session, task_id=task_id, decision="scheduled",
                        note="Booked Thursday 9:30 with Dr. Kim.", actor=audit.Actor.staff(admin.id, "10.0.0.2"),
                        booking=BOOKING)
    view = appointments.request_view(session=session, task_id=task_id)
    assert (view.status, view.status_label, view.staff_note, view.decided_by) == (
        "scheduled", "Scheduled", "Booked Thursday 9:30 with Dr. Kim.", "Ada Admin")
    assert view.decided_at.startswith("11/23/2026")
    posts = messages.thread_posts(session=session, task_id=task_id)
    assert [(p.author_type, p.body) for p in posts] == [("staff", "Booked Thursday 9:30 with Dr. Kim.")]
    sent = session.exec(select(OutboxMessage)).one()
    assert sent.to_address == account.user_id
    # The notice names the booked time, provider and place; never the reason.
    assert "Rash" not in sent.body_text
    assert "Thursday, November 26, 2026 at 9:30 AM (UTC) with Dr. Kim at Main St clinic" in sent.body_text
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "appointment.decide")).one()
    assert event.staff_user_id == admin.id and "requested -> scheduled" in event.detail
    assert "booking none -> 11/26/2026 9:30AM (UTC) Dr. Kim / Main St clinic" in event.detail
    page = appointments.requests_for(session=session, patient_id=patient.id)
    assert [(r.status_label, r.staff_note) for r in page.rows] == [("Scheduled", "Booked Thursday 9:30 with Dr. Kim.")]

    # A later change (declined after all) is audited old -> new.
    appointments.decide(session=session, task_id=task_id, decision="declined", note="Dr. Kim is away.",
                        actor=audit.Actor.staff(admin.id))
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "appointment.decide")
                          .order_by(AuditEvent.id)).all()
    assert "scheduled -> declined" in events[-1].detail


def test_decide_validation(session, maria, admin):
    patient, account = maria
    task_id = _request(session, account, patient, [(day(3), "morning")])
    actor = audit.Actor.staff(admin.id)
    for decision, note, field in [("maybe", "x", "decision"), ("declined", "  ", "note"),
                                  ("scheduled", "n" * 2001, "note")]:
        with pytest.raises(InvalidInput) as caught:
            appointments.decide(session=session, task_id=task_id, decision=decision, note=note, actor=actor,
                                booking=BOOKING)
        assert field in getattr(caught.value, "errors", {caught.value.field: ""})
    with pytest.raises(NotFound):
        appointments.decide(session=session, task_id=9999, decision="scheduled", note="", actor=actor,
                            booking=BOOKING)
    # A message item is not an appointment request.
    message_id = messages.start_thread(session=session, account_id=account.id, chart=chart_of(patient),
                                       subject="Hi", body="Q")
    with pytest.raises(NotFound):
        appointments.request_view(session=session, task_id=message_id)
    assert appointments.request_view(session=session, task_id=task_id).status == "requested"
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "appointment.decide")).all() == []
    # Scheduling without a note is allowed (no post is added).
    appointments.decide(session=session, task_id=task_id, decision="scheduled", note="", actor=actor,
                        booking=BOOKING)
    assert messages.thread_posts(session=session, task_id=task_id) == []


def test_requests_list_is_the_charts_own_newest_first(session, maria, frozen_clock):
    patient, account = maria
    other, other_account = make_account(session, email="otto@example.com", first="Otto", last="Other")
    first = _request(session, account, patient, [(day(3), "morning")])
    frozen_clock(START + timedelta(hours=1))
    second = _request(session, account, patient, [(day(4), "afternoon")])
    _request(session, other_account, other, [(day(5), "any")])
    page = appointments.requests_for(session=session, patient_id=patient.id)
    assert [r.id for r in page.rows] == [second, first] and page.total == 2
    assert page.rows[0].preferred == "Fri 11/27/2026, afternoon" and page.rows[0].status_label == "Requested"


@pytest.mark.parametrize("booking, errors", [
    (appointments.Booking(), {"booked_date", "booked_time", "provider", "location"}),
    (appointments.Booking(date="2026-11-20", time="09:30", provider="Dr. Kim", location="Clinic"), {"booked_date"}),
    (appointments.Booking(date="26/11/2026", time="09:30", provider="Dr. Kim", location="Clinic"), {"booked_date"}),
    (appointments.Booking(date="2026-11-26", time="25:10", provider="Dr. Kim", location="Clinic"), {"booked_time"}),
    (appointments.Booking(date="2026-11-23", time="09:00", provider="Dr. Kim", location="Clinic"), {"booked_time"}),
    (appointments.Booking(date="2026-11-26", time="9:30", provider="", location=""), {"provider", "location"}),
])
def test_scheduling_needs_a_future_date_a_real_time_a_provider_and_a_location(session, maria, admin, booking,
                                                                              errors):
    patient, account = maria
    task_id = _request(session, account, patient, [(day(3), "morning")])
    with pytest.raises(FormInvalid) as caught:
        appointments.decide(session=session, task_id=task_id, decision="scheduled", note="",
                            actor=audit.Actor.staff(admin.id), booking=booking)
    assert set(caught.value.errors) >= errors
    assert appointments.request_view(session=session, task_id=task_id).status == "requested"


def test_a_time_the_clocks_skip_is_refused_and_the_booking_is_stored_utc(session, maria, admin):
    from portal_app.models import PracticeSettings

    patient, account = maria
    config = session.exec(select(PracticeSettings)).first()
    if config is None:
        config = PracticeSettings()
    config.time_zone = "America/Chicago"
    session.add(config)
    session.commit()
    task_id = _request(session, account, patient, [(day(3), "morning")])
    actor = audit.Actor.staff(admin.id)
    skipped = appointments.Booking(date="2027-03-14", time="02:30", provider="Dr. Kim", location="Clinic")
    with pytest.raises(FormInvalid) as caught:
        appointments.decide(session=session, task_id=task_id, decision="scheduled", note="", actor=actor,
                            booking=skipped)
    assert "clocks change" in caught.value.errors["booked_time"]
    appointments.decide(session=session, task_id=task_id, decision="scheduled", note="", actor=actor,
                        booking=BOOKING)
    row = session.exec(select(AppointmentRequest).where(AppointmentRequest.task_id == task_id)).one()
    assert row.booked_at.replace(tzinfo=None) == datetime(2026, 11, 26, 15, 30)  # 9:30 CST
    shown = appointments.requests_for(session=session, patient_id=patient.id).rows[0]
    assert (shown.booked, shown.provider, shown.location) == (
        "Thursday, November 26, 2026 at 9:30 AM (CST)", "Dr. Kim", "Main St clinic")
    # Declining later clears the booking.
    appointments.decide(session=session, task_id=task_id, decision="declined", note="Dr. Kim is away.", actor=actor)
    assert appointments.requests_for(session=session, patient_id=patient.id).rows[0].booked == ""


def test_the_calendar_file_is_the_charts_own_booked_visit_and_audited(session, maria, admin):
    patient, account = maria
    task_id = _request(session, account, patient, [(day(3), "morning")])
    actor = audit.Actor.portal(account.id)
    with pytest.raises(NotFound):  # not booked yet
        appointments.calendar_file(session=session, patient_id=patient.id, task_id=task_id, actor=actor)
    appointments.decide(session=session, task_id=task_id, decision="scheduled", note="",
                        actor=audit.Actor.staff(admin.id), booking=BOOKING)
    with pytest.raises(NotFound):  # another chart
        appointments.calendar_file(session=session, patient_id=patient.id + 1, task_id=task_id, actor=actor)
    data = appointments.calendar_file(session=session, patient_id=patient.id, task_id=task_id, actor=actor).decode()
    assert "BEGIN:VEVENT" in data and "DTSTART:20261126T093000Z" in data and "Main St clinic" in data
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "appointment.calendar_download")).all()
    assert [(e.patient_id, e.detail) for e in events] == [(patient.id, f"item={task_id}")]


def test_the_home_page_counts_decisions_until_the_appointments_page_shows_them(session, maria, admin):
    patient, account = maria
    task_id = _request(session, account, patient, [(day(3), "morning")])
    assert appointments.unseen_decisions(session=session, patient_id=patient.id) == 0
    appointments.decide(session=session, task_id=task_id, decision="declined", note="Call us.",
                        actor=audit.Actor.staff(admin.id))
    assert appointments.unseen_decisions(session=session, patient_id=patient.id) == 1
    appointments.mark_decisions_seen(session=session, patient_id=patient.id)
    assert appointments.unseen_decisions(session=session, patient_id=patient.id) == 0
