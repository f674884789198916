"""The Messages page's handlers, called directly: area checks, errors beside fields, threads."""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from portal_app import routes
from portal_app.models import AccessType, AuditEvent, PortalConnection, PortalTask, TaskPost
from portal_app.services import audit, messages
from portal_app.state.patient_login import LoginState
from portal_app.state.patient_messages import PatientMessagesState
from tests.unit.conftest import make_patient
from tests.unit.state_support import tab_signs_in
from tests.unit.test_state_patient import PASSWORD, make_account, public_text, redirect_path, run, state_at

ONE_MB = "y" * (1024 * 1024)


async def _signed_in(session, email="maria.lopez@example.com"):
    root, login = await state_at(routes.LOGIN, LoginState)
    await tab_signs_in(session, login, login.sign_in({"user_id": email, "password": PASSWORD}))
    state = await root.get_state(PatientMessagesState)
    return root, state


async def _maria(session):
    patient, account = make_account(session)
    root, state = await _signed_in(session)
    assert await run(state.load()) is None and state.ready
    return patient, account, root, state


def _refusals(session) -> list[str]:
    return [e.detail for e in session.exec(select(AuditEvent).where(AuditEvent.action == "portal.area_refused"))]


async def test_send_message_files_a_thread_and_shows_it_in_the_list(session):
    patient, account, root, state = await _maria(session)
    assert state.rows == [] and state.total == 0
    await run(state.new_message())
    assert state.composing
    await run(state.send_message({"subject": "Refill", "body": "Please refill my inhaler."}))
    assert (state.subject_error, state.body_error, state.composing) == ("", "", False)
    assert state.notice and state.form_version == 1
    assert [(r.subject, r.unread) for r in state.rows] == [("Refill", False)]
    task = session.exec(select(PortalTask)).one()
    assert (task.patient_id, task.account_id) == (patient.id, account.id)


async def test_errors_stand_beside_their_fields_and_a_1mb_body_is_refused(session):
    _, _, _, state = await _maria(session)
    await run(state.new_message())
    await run(state.send_message({"subject": "", "body": ONE_MB}))
    assert state.subject_error == "Enter a subject."
    assert "at most 10,000 characters" in state.body_error
    # The form stays open (the browser keeps what was typed) and nothing was filed.
    assert state.composing and state.form_version == 0
    assert session.exec(select(PortalTask)).all() == []
    # Anything that is not text counts as empty.
    await run(state.send_message({"subject": ["x"], "body": {"a": 1}}))
    assert state.subject_error and state.body_error


async def test_open_thread_marks_staff_posts_read_and_reply_adds_a_post(session, admin):
    patient, account, root, state = await _maria(session)
    await run(state.send_message({"subject": "Q", "body": "Question"}))
    task_id = state.rows[0].id
    messages.staff_reply(session=session, task_id=task_id, staff_user_id=admin.id, body="Answer",
                         actor=audit.Actor.staff(admin.id))
    await run(state.load())
    assert state.rows[0].unread is True
    await run(state.open_thread(task_id))
    assert state.open_id == task_id and state.open_subject == "Q"
    assert [(p.author_type, p.body, p.unread_by_patient) for p in state.posts] == [
        ("patient", "Question", False), ("staff", "Answer", True)]
    assert [p.author_label for p in state.posts] == ["You", "Ada Admin"]
    assert state.rows[0].unread is False

    await run(state.send_reply({"reply": ""}))
    assert state.reply_error == "Write your message."
    await run(state.send_reply({"reply": "Thank you"}))
    assert state.reply_error == "" and [p.body for p in state.posts] == ["Question", "Answer", "Thank you"]
    # The patient reads "You" on their own posts, never their user ID.
    assert [p.author_label for p in state.posts] == ["You", "Ada Admin", "You"]
    await run(state.close_thread())
    assert state.open_id == 0 and state.posts == []


async def test_another_charts_thread_is_not_found(session):
    _, _, root, state = await _maria(session)
    other, _ = make_account(session, email="otto@example.com", first="Otto", last="Other")
    other_task = PortalTask(kind="message", patient_id=other.id, subject="Otto's secret")
    session.add(other_task)
    session.commit()
    session.add(TaskPost(task_id=other_task.id, author_type="patient", body="private"))
    session.commit()
    event = await run(state.open_thread(other_task.id))
    assert event is not None and state.open_id == 0 and state.posts == []
    assert "Otto" not in public_text(root) and "private" not in public_text(root)
    # A reply aimed at it (a tampered open_id) is refused too.
    state.open_id = other_task.id
    await run(state.send_reply({"reply": "sneaky"}))
    assert len(session.exec(select(TaskPost)).all()) == 1


async def test_a_connection_without_messages_refuses_every_handler_and_audits(session):
    patient, account = make_account(session)
    connection = session.exec(select(PortalConnection).where(PortalConnection.account_id == account.id)).one()
    connection.permissions = "appointments,documents"
    session.add(connection)
    session.commit()
    root, state = await _signed_in(session)
    target = await run(state.load())
    assert redirect_path(target[0]) == routes.PORTAL_HOME and not state.ready
    # A client can call any handler whatever on_load did: each one checks again.
    await run(state.send_message({"subject": "Hi", "body": "Sneaky"}))
    await run(state.new_message())
    await run(state.open_thread(1))
    assert session.exec(select(PortalTask)).all() == []
    assert _refusals(session) == ["area=messages; handler=open", "area=messages; handler=send_message",
                                  "area=messages; handler=new_message", "area=messages; handler=open_thread"]
    assert not state.composing


async def test_a_representatives_message_is_filed_for_the_child_as_theirs(session):
    patient, account = make_account(session)
    child = make_patient(session, first="Lucia", last="Lopez", email="", enabled=True, dob=date(2015, 6, 1))
    session.add(PortalConnection(account_id=account.id, patient_id=child.id, permissions="messages",
                                 access_type=AccessType.REPRESENTATIVE, relationship="parent"))
    session.commit()
    root, state = await _signed_in(session)
    await run(state.switch_chart(str(child.id)))
    await run(state.load())
    assert state.viewing_name == "Lucia Lopez"
    await run(state.send_message({"subject": "Lucia", "body": "Fever"}))
    task = session.exec(select(PortalTask)).one()
    assert (task.patient_id, task.account_id, task.access_type) == (child.id, account.id, AccessType.REPRESENTATIVE)
    post = session.exec(select(TaskPost)).one()
    assert (post.account_id, post.author_label) == (account.id, account.user_id)


async def test_the_list_pages_on_the_server(session):
    patient, account, root, state = await _maria(session)
    for n in range(25):
        session.add(PortalTask(kind="message", patient_id=patient.id, subject=f"S{n:02d}", account_id=account.id))
    session.commit()
    await run(state.load())
    assert (len(state.rows), state.page, state.pages, state.total) == (20, 1, 2, 25)
    await run(state.next_page())
    assert (len(state.rows), state.page) == (5, 2)
    await run(state.next_page())
    assert state.page == 2
    await run(state.prev_page())
    assert state.page == 1 and len(state.rows) == 20


async def test_signed_out_means_nothing(session):
    make_account(session)
    _, state = await state_at(routes.PORTAL_MESSAGES, PatientMessagesState)
    assert redirect_path(await run(state.load())) == routes.LOGIN
    await run(state.send_message({"subject": "Hi", "body": "x"}))
    assert session.exec(select(PortalTask)).all() == [] and not state.ready
