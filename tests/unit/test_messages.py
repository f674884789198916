"""Messages between the portal and the practice: limits, who wrote what, unread markers, notices."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select

from portal_app.models import (
    AccessType,
    AuditEvent,
    OutboxMessage,
    PortalConnection,
    PortalTask,
    TaskKind,
    TaskPost,
    TaskStatus,
)
from portal_app.services import audit, messages
from portal_app.services.errors import FormInvalid, InvalidInput, NotFound
from portal_app.services.portal_auth import ChartView
from tests.unit.conftest import make_patient
from tests.unit.test_state_patient import make_account

ONE_MB = "x" * (1024 * 1024)


def chart_of(patient, access_type: str = "self") -> ChartView:
    return ChartView(patient_id=patient.id, name=f"{patient.first_name} {patient.last_name}",
                     dob=patient.dob.strftime("%m/%d/%Y"), access_type=access_type, email=patient.email,
                     mobile_phone="", home_phone="", address="", areas=("messages", "appointments"))


def _events(session, action: str) -> list[AuditEvent]:
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


@pytest.fixture
def maria(session):
    patient, account = make_account(session)
    return patient, account


def test_a_new_message_is_a_pending_queue_item_with_the_first_post(session, maria, frozen_clock):
    patient, account = maria
    task_id = messages.start_thread(session=session, account_id=account.id, chart=chart_of(patient),
                                    subject="  Refill   question ", body=" Can I get a refill? \n")
    task = session.get(PortalTask, task_id)
    assert (task.kind, task.status, task.patient_id, task.subject) == (
        TaskKind.MESSAGE, TaskStatus.PENDING, patient.id, "Refill question")
    assert (task.account_id, task.submitted_by, task.access_type) == (account.id, account.user_id, AccessType.SELF)
    posts = messages.thread_posts(session=session, task_id=task_id)
    assert [(p.author_type, p.author_label, p.body, p.unread_by_staff) for p in posts] == [
        ("patient", "maria.lopez@example.com", "Can I get a refill?", True)]
    assert [e.detail for e in _events(session, "portal.message")] == [f"item={task_id}; as=self"]


def test_subject_and_message_limits_name_their_fields(session, maria):
    patient, account = maria
    chart = chart_of(patient)
    with pytest.raises(FormInvalid) as caught:
        messages.start_thread(session=session, account_id=account.id, chart=chart, subject=" ", body="")
    assert set(caught.value.errors) == {"subject", "body"}
    with pytest.raises(FormInvalid) as caught:
        messages.start_thread(session=session, account_id=account.id, chart=chart, subject="s" * 201, body="ok")
    assert set(caught.value.errors) == {"subject"}
    # Exactly at the limits is fine.
    messages.start_thread(session=session, account_id=account.id, chart=chart, subject="s" * 200,
                          body="b" * messages.MAX_BODY_CHARS)
    assert len(session.exec(select(PortalTask)).all()) == 1


def test_a_one_megabyte_message_is_refused_with_a_clear_message_and_nothing_is_stored(session, maria):
    patient, account = maria
    with pytest.raises(FormInvalid) as caught:
        messages.start_thread(session=session, account_id=account.id, chart=chart_of(patient),
                              subject="Long", body=ONE_MB)
    assert list(caught.value.errors) == ["body"]
    assert "at most 10,000 characters" in caught.value.errors["body"]
    assert "1,048,576" in caught.value.errors["body"]
    task_id = messages.start_thread(session=session, account_id=account.id, chart=chart_of(patient),
                                    subject="Short", body="hi")
    with pytest.raises(InvalidInput) as caught:
        messages.patient_reply(session=session, account_id=account.id, chart=chart_of(patient),
                               task_id=task_id, body=ONE_MB)
    assert caught.value.field == "body"
    with pytest.raises(InvalidInput) as caught:
        messages.staff_reply(session=session, task_id=task_id, staff_user_id=None, body=ONE_MB,
                             actor=audit.Actor.system("test"))
    assert caught.value.field == "body"
    assert len(session.exec(select(TaskPost)).all()) == 1
    assert session.exec(select(PortalTask)).all()[0].subject == "Short"


def test_another_charts_thread_is_not_found_for_open_and_reply(session, maria):
    patient, account = maria
    other = make_patient(session, first="Otto", last="Other", email="otto@example.com", enabled=True)
    other_task = messages.start_thread(session=session, account_id=account.id, chart=chart_of(other),
                                       subject="Not yours", body="secret")
    with pytest.raises(NotFound):
        messages.open_thread(session=session, patient_id=patient.id, task_id=other_task)
    with pytest.raises(NotFound):
        messages.patient_reply(session=session, account_id=account.id, chart=chart_of(patient),
                               task_id=other_task, body="hello")
    with pytest.raises(NotFound):
        messages.open_thread(session=session, patient_id=patient.id, task_id=99999)
    assert len(session.exec(select(TaskPost)).all()) == 1
    assert messages.threads(session=session, patient_id=patient.id).rows == []


def test_a_representatives_posts_are_recorded_as_theirs_for_that_patient(session, maria):
    patient, account = maria
    child = make_patient(session, first="Lucia", last="Lopez", email="", enabled=True, dob=date(2015, 6, 1))
    session.add(PortalConnection(account_id=account.id, patient_id=child.id, permissions="messages",
                                 access_type=AccessType.REPRESENTATIVE, relationship="parent"))
    session.commit()
    chart = chart_of(child, "representative")
    task_id = messages.start_thread(session=session, account_id=account.id, chart=chart,
                                    subject="Lucia's cough", body="Still coughing")
    messages.patient_reply(session=session, account_id=account.id, chart=chart, task_id=task_id, body="And fever")
    task = session.get(PortalTask, task_id)
    assert (task.patient_id, task.account_id, task.access_type) == (child.id, account.id, AccessType.REPRESENTATIVE)
    posts = session.exec(select(TaskPost).where(TaskPost.task_id == task_id)).all()
    assert {(p.account_id, p.author_label) for p in posts} == {(account.id, account.user_id)}
    assert [e.detail.endswith("as=representative") for e in _events(session, "portal.message_reply")] == [True]
    assert messages.threads(session=session, patient_id=patient.id).rows == []
    assert [r.subject for r in messages.threads(session=session, patient_id=child.id).rows] == ["Lucia's cough"]


def test_unread_markers_on_both_sides(session, maria, admin, frozen_clock):
    patient, account = maria
    chart = chart_of(patient)
    task_id = messages.start_thread(session=session, account_id=account.id, chart=chart, subject="Q", body="Hello")
    assert [p.unread_by_staff for p in messages.thread_posts(session=session, task_id=task_id)] == [True]
    messages.mark_read_by_staff(session=session, task_id=task_id)
    assert [p.unread_by_staff for p in messages.thread_posts(session=session, task_id=task_id)] == [False]

    messages.staff_reply(session=session, task_id=task_id, staff_user_id=admin.id, body="Hi Maria",
                         actor=audit.Actor.staff(admin.id))
    row = messages.threads(session=session, patient_id=patient.id).rows[0]
    assert (row.unread, row.unread_count) == (True, 1)
    # Staff's own post is not unread for staff.
    assert [p.unread_by_staff for p in messages.thread_posts(session=session, task_id=task_id)] == [False, False]

    thread = messages.open_thread(session=session, patient_id=patient.id, task_id=task_id)
    assert [(p.author_type, p.author_label, p.unread_by_patient) for p in thread.posts] == [
        ("patient", "maria.lopez@example.com", False), ("staff", "Ada Admin", True)]
    assert messages.threads(session=session, patient_id=patient.id).rows[0].unread is False
    thread = messages.open_thread(session=session, patient_id=patient.id, task_id=task_id)
    assert thread.posts[1].unread_by_patient is False

    messages.patient_reply(session=session, account_id=account.id, chart=chart, task_id=task_id, body="Thanks")
    assert [p.unread_by_staff for p in messages.thread_posts(session=session, task_id=task_id)] == [False, False, True]


def test_posts_are_oldest_first_and_each_post_moves_last_activity(session, maria, admin, frozen_clock):
    patient, account = maria
    chart = chart_of(patient)
    start = messages.clock.now()
    first = messages.start_thread(session=session, account_id=account.id, chart=chart, subject="First", body="a")
    frozen_clock(start + timedelta(hours=1))
    second = messages.start_thread(session=session, account_id=account.id, chart=chart, subject="Second", body="b")
    frozen_clock(start + timedelta(hours=2))
    messages.staff_reply(session=session, task_id=first, staff_user_id=admin.id, body="reply",
                         actor=audit.Actor.staff(admin.id))
    assert [r.id for r in messages.threads(session=session, patient_id=patient.id).rows] == [first, second]
    assert [p.body for p in messages.thread_posts(session=session, task_id=first)] == ["a", "reply"]
    assert session.get(PortalTask, first).last_activity_at.replace(tzinfo=None) == (
        start + timedelta(hours=2)).replace(tzinfo=None)


def test_the_thread_list_pages_on_the_server(session, maria, frozen_clock):
    patient, account = maria
    chart = chart_of(patient)
    start = messages.clock.now()
    for n in range(45):
        frozen_clock(start + timedelta(minutes=n))
        messages.start_thread(session=session, account_id=account.id, chart=chart, subject=f"S{n}", body="b")
    page1 = messages.threads(session=session, patient_id=patient.id)
    assert (len(page1.rows), page1.pages, page1.total, page1.rows[0].subject) == (20, 3, 45, "S44")
    page3 = messages.threads(session=session, patient_id=patient.id, page=3)
    assert [r.subject for r in page3.rows] == ["S4", "S3", "S2", "S1", "S0"]
    assert messages.threads(session=session, patient_id=patient.id, page=99).page == 3


def test_staff_reply_notifies_the_sender_through_the_outbox_without_content(session, maria, admin):
    patient, account = maria
    task_id = messages.start_thread(session=session, account_id=account.id, chart=chart_of(patient),
                                    subject="Test results", body="What did my HbA1c show?")
    messages.staff_reply(session=session, task_id=task_id, staff_user_id=admin.id,
                         body="Your HbA1c was 6.1, nothing to worry about.",
                         actor=audit.Actor.staff(admin.id, "10.0.0.1"))
    sent = session.exec(select(OutboxMessage)).all()
    assert [(m.channel, m.to_address, m.kind, m.patient_id) for m in sent] == [
        ("email", "maria.lopez@example.com", "portal_notice", patient.id)]
    text = sent[0].subject + sent[0].body_text + sent[0].body_html
    assert "You have a new message from Riverside Family Practice in your portal" in text
    assert "/login" in text
    for private in ("HbA1c", "6.1", "Test results", "Maria", "Lopez"):
        assert private not in text
    events = _events(session, "task.reply")
    assert len(events) == 1 and events[0].staff_user_id == admin.id and events[0].patient_id == patient.id
    assert "HbA1c" not in events[0].detail and f"item={task_id}" in events[0].detail


def test_staff_reply_by_text_when_the_user_id_is_a_phone_number(session, admin):
    patient = make_patient(session, first="Pat", last="Phone", email="", enabled=True)
    from portal_app.models import PortalAccount
    account = PortalAccount(user_id="5550102030")
    session.add(account)
    session.commit()
    task_id = messages.start_thread(session=session, account_id=account.id, chart=chart_of(patient),
                                    subject="Hi", body="Question")
    messages.staff_reply(session=session, task_id=task_id, staff_user_id=admin.id, body="Answer",
                         actor=audit.Actor.staff(admin.id))
    sent = session.exec(select(OutboxMessage)).one()
    assert (sent.channel, sent.to_address) == ("sms", "5550102030") and "Answer" not in sent.body_text


def test_staff_reply_refuses_empty_and_unknown_items(session, maria, admin):
    patient, account = maria
    task_id = messages.start_thread(session=session, account_id=account.id, chart=chart_of(patient),
                                    subject="Hi", body="Question")
    with pytest.raises(InvalidInput) as caught:
        messages.staff_reply(session=session, task_id=task_id, staff_user_id=admin.id, body="  \n ",
                             actor=audit.Actor.staff(admin.id))
    assert caught.value.field == "body"
    with pytest.raises(NotFound):
        messages.staff_reply(session=session, task_id=4242, staff_user_id=admin.id, body="x",
                             actor=audit.Actor.staff(admin.id))
    with pytest.raises(NotFound):
        messages.thread_posts(session=session, task_id=4242)
    with pytest.raises(NotFound):
        messages.mark_read_by_staff(session=session, task_id=4242)
    assert session.exec(select(OutboxMessage)).all() == [] and _events(session, "task.reply") == []


def test_a_patient_post_on_a_reviewed_item_puts_it_back_to_pending(session, maria, admin):
    patient, account = maria
    chart = chart_of(patient)
    task_id = messages.start_thread(session=session, account_id=account.id, chart=chart, subject="Hi", body="Q")
    task = session.get(PortalTask, task_id)
    task.status, task.reviewed_at, task.reviewed_by_staff_id = TaskStatus.REVIEWED, messages.clock.now(), admin.id
    session.add(task)
    session.commit()
    # A staff reply leaves the status alone.
    messages.staff_reply(session=session, task_id=task_id, staff_user_id=admin.id, body="A",
                         actor=audit.Actor.staff(admin.id))
    assert session.get(PortalTask, task_id).status == TaskStatus.REVIEWED
    messages.patient_reply(session=session, account_id=account.id, chart=chart, task_id=task_id, body="One more")
    session.expire_all()
    task = session.get(PortalTask, task_id)
    assert (task.status, task.reviewed_at, task.reviewed_by_staff_id) == (TaskStatus.PENDING, None, None)
    assert _events(session, "portal.message_reply")[0].detail.endswith("reviewed -> pending")


def test_a_disabled_account_is_not_notified(session, maria, admin):
    from portal_app.models import AccountStatus

    patient, account = maria
    task_id = messages.start_thread(session=session, account_id=account.id, chart=chart_of(patient),
                                    subject="Hi", body="Question")
    account.status = AccountStatus.DISABLED
    session.add(account)
    session.commit()
    messages.staff_reply(session=session, task_id=task_id, staff_user_id=admin.id, body="Answer",
                         actor=audit.Actor.staff(admin.id))
    assert session.exec(select(OutboxMessage)).all() == []
    assert "not notified" in _events(session, "task.reply")[0].detail


def test_with_the_portal_off_no_notice_is_sent(session, maria, admin):
    from tests.unit.test_state_patient import switch_portal

    patient, account = maria
    task_id = messages.start_thread(session=session, account_id=account.id, chart=chart_of(patient),
                                    subject="Hi", body="Question")
    switch_portal(session, False)
    messages.staff_reply(session=session, task_id=task_id, staff_user_id=admin.id, body="Answer",
                         actor=audit.Actor.staff(admin.id))
    assert session.exec(select(OutboxMessage)).all() == []
    assert "portal off" in _events(session, "task.reply")[0].detail
    assert [p.body for p in messages.thread_posts(session=session, task_id=task_id)] == ["Question", "Answer"]


def test_the_portal_shows_you_for_your_own_posts_and_a_name_for_another_accounts(session, maria, admin):
    """Never the user ID: "You" for the reader's posts; the patient's or representative's name otherwise."""
    parent = maria[1]
    parent.first_name, parent.last_name = "Maria", "Lopez"
    session.add(parent)
    child, child_account = make_account(session, email="lucia.lopez@example.com", first="Lucia", last="Lopez")
    session.add(PortalConnection(account_id=parent.id, patient_id=child.id, permissions="messages",
                                 access_type=AccessType.REPRESENTATIVE, relationship="parent"))
    session.commit()
    task_id = messages.start_thread(session=session, account_id=parent.id, chart=chart_of(child, "representative"),
                                    subject="School note", body="Please send a school note.")
    messages.staff_reply(session=session, task_id=task_id, staff_user_id=admin.id, body="Sent.",
                         actor=audit.Actor.staff(admin.id))
    messages.patient_reply(session=session, account_id=child_account.id, chart=chart_of(child), task_id=task_id,
                           body="Thanks!")

    def authors(viewer):
        thread = messages.open_thread(session=session, patient_id=child.id, task_id=task_id, viewer_account_id=viewer)
        return [p.author_label for p in thread.posts]

    assert authors(parent.id) == ["You", "Ada Admin", "Lucia Lopez"]
    assert authors(child_account.id) == ["Maria Lopez (parent)", "Ada Admin", "You"]
    # Without a reader (the staff queue), the stored label.
    assert authors(None) == [parent.user_id, "Ada Admin", child_account.user_id]


def test_patients_read_times_in_the_practices_time_zone(session, maria, frozen_clock):
    from portal_app.services import settings

    patient, account = maria
    row = settings.get(session=session)
    row.time_zone = "America/Chicago"
    session.add(row)
    session.commit()
    task_id = messages.start_thread(session=session, account_id=account.id, chart=chart_of(patient),
                                    subject="Hello", body="A question")
    [thread] = messages.threads(session=session, patient_id=patient.id).rows
    [post] = messages.open_thread(session=session, patient_id=patient.id, task_id=task_id).posts
    # START is 15:00 UTC on 11/23/2026: 9:00 in the morning in Chicago.
    assert thread.last_activity == post.when == "11/23/2026 9:00AM (CST)"


def test_the_home_page_counts_threads_with_an_unread_practice_reply(session, maria, admin):
    patient, account = maria
    assert messages.unread_threads(session=session, patient_id=patient.id) == 0
    task_id = messages.start_thread(session=session, account_id=account.id, chart=chart_of(patient),
                                    subject="Hi", body="Question")
    messages.staff_reply(session=session, task_id=task_id, staff_user_id=admin.id, body="Answer",
                         actor=audit.Actor.staff(admin.id))
    assert messages.unread_threads(session=session, patient_id=patient.id) == 1
    messages.open_thread(session=session, patient_id=patient.id, task_id=task_id)
    assert messages.unread_threads(session=session, patient_id=patient.id) == 0
