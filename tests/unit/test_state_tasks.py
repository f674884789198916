"""TasksState, CommunicationState and TaskItemState handlers, called directly."""

from __future__ import annotations

from sqlmodel import select

from portal_app import routes
from portal_app.models import (
    AuditEvent,
    PortalDocument,
    Role,
    RolePermission,
    StaffUser,
    TaskForward,
    TaskKind,
    TaskPost,
    TaskStatus,
)
from portal_app.services import permissions, staff_auth, tasks
from portal_app.services.permissions import Level, Permission
from portal_app.state.task_item import TaskItemState
from portal_app.state.tasks import CommunicationState, TasksState
from tests.unit.conftest import START, make_patient
from tests.unit.state_support import PASSWORD, everything_in_state, sign_in_admin, staff_with, state_for
from tests.unit.test_tasks import PNG, forward_row, intake_with_a_conflict, task
from tests.unit.two_step import staff_sign_in

L, A = Permission.TASK_PORTAL_LIST, Permission.TASK_PORTAL


def _limited(session, username="lee"):
    staff_auth.create_staff(session=session, username=username, full_name=f"{username.title()} Limited",
                            password=PASSWORD, role=permissions.COMMUNICATIONS_ONLY)
    user = session.exec(select(StaffUser).where(StaffUser.username == username)).one()
    return user, staff_sign_in(session, username, PASSWORD)


async def my_tasks(sid):
    root, state = await state_for(TasksState, session_id=sid, path=routes.TASKS)
    result = await state.load()
    return root, state, result


async def item(sid, task_id):
    root, state = await state_for(TaskItemState, session_id=sid, path=routes.task_item(task_id),
                                  route=routes.TASK_ITEM)
    result = await state.load()
    return root, state, result


async def test_full_user_sees_counts_and_the_first_page(session, admin, frozen_clock):
    patient = make_patient(session)
    for kind in (TaskKind.MESSAGE, TaskKind.DOCUMENT_SHARE, TaskKind.INTAKE_FORM):
        task(session, patient, kind)
    root, state, result = await my_tasks(sign_in_admin(session))
    assert result is None and state.access == "full" and state.portal_open
    assert (state.portal_count, state.communication_count, state.pending, state.total) == (3, 0, 3, 3)
    assert [r.kind_label for r in state.rows] == ["Document Share", "Intake Form", "Message"]
    await state.set_arrange("date")
    assert state.arrange == "date"
    await state.set_arrange("nonsense")
    assert state.arrange == "request"
    await state.set_status("reviewed")
    assert state.rows == [] and state.total == 0
    everything = everything_in_state(root)
    assert "sort_key" not in everything and "maria.lopez@example.com" not in everything


async def test_limited_user_gets_the_security_message_not_rows(session, admin, frozen_clock):
    patient = make_patient(session)
    task(session, patient)
    _, sid = _limited(session)
    _, state, _ = await my_tasks(sid)
    assert state.access == "limited" and state.portal_count == 1 and not state.portal_open
    await state.open_portal()
    assert state.queue_message == tasks.QUEUE_REFUSED and state.rows == [] and not state.portal_open
    await state.next_page()
    assert state.rows == []


async def test_no_queue_permission_sees_nothing(session, admin):
    sid = staff_with(session, "nobody", {Permission.OUTBOX: Level.WRITE})
    _, state, result = await my_tasks(sid)
    assert state.access == "" and state.refused == tasks.NO_QUEUE and result is None
    await state.open_portal()
    assert state.rows == [] and not state.portal_open
    _, comm = await state_for(CommunicationState, session_id=sid, path=routes.COMMUNICATION)
    await comm.load()
    assert comm.rows == [] and comm.refused == tasks.NO_QUEUE
    patient = make_patient(session)
    item_row = task(session, patient)
    _, page, _ = await item(sid, item_row.id)
    assert not page.loaded and page.load_error == tasks.NO_QUEUE and page.item.patient == ""


async def test_signed_out_goes_to_sign_in(session):
    _, state, result = await my_tasks("")
    assert state.access == "" and result is not None


async def test_a_role_change_applies_to_the_open_page(session, admin, frozen_clock):
    patient = make_patient(session)
    task(session, patient)
    sid = staff_with(session, "fay", {L: Level.WRITE, A: Level.WRITE})
    _, state, _ = await my_tasks(sid)
    assert len(state.rows) == 1
    role = session.exec(select(Role).where(Role.name == "role for fay")).one()
    grant = session.exec(select(RolePermission).where(RolePermission.role_id == role.id,
                                                      RolePermission.permission == L.value)).one()
    grant.level = 0
    session.add(grant)
    session.commit()
    await state.set_status("pending")
    assert state.rows == [] and state.queue_message == tasks.QUEUE_REFUSED


async def test_limited_user_answers_a_forwarded_message_from_communication(session, admin, frozen_clock):
    patient = make_patient(session)
    item_row = task(session, patient, subject="Refill")
    session.add(TaskPost(task_id=item_row.id, author_type="patient", author_label="Maria", body="Refill please",
                         created_at=START))
    session.commit()
    lee, sid = _limited(session)
    _, page, _ = await item(sid, item_row.id)
    assert not page.loaded and page.load_error == tasks.ITEM_REFUSED
    forward_row(session, item_row, lee, admin)
    _, comm = await state_for(CommunicationState, session_id=sid, path=routes.COMMUNICATION)
    await comm.load()
    assert [(r.href, r.kind_label) for r in comm.rows] == [(routes.task_item(item_row.id), "Message")]
    assert comm.communication_count == 1
    _, page, _ = await item(sid, item_row.id)
    assert page.loaded and page.item.forwarded_to_me and not page.item.can_manage
    assert [p["body"] for p in page.posts] == ["Refill please"]
    page.set_reply_text("")
    await page.send_reply()
    assert page.reply_error != "" and page.loaded
    page.set_reply_text("Sent to your pharmacy.")
    await page.send_reply()
    assert page.reply_error == "" and page.notice.startswith("Reply sent")
    assert page.closed and page.posts[-1]["body"] == "Sent to your pharmacy."
    page.set_reply_text("One more thing")
    await page.send_reply()  # closed: nothing more goes out, and the page keeps what it showed
    assert page.error == "This item is no longer open here. Reload the page and try again."
    assert page.posts[-1]["body"] == "Sent to your pharmacy."
    assert len(session.exec(select(TaskPost).where(TaskPost.author_type == "staff")).all()) == 1
    forward = session.exec(select(TaskForward)).one()
    session.refresh(forward)
    assert forward.opened_at is not None and forward.done_at is not None
    await page.mark_reviewed()
    session.refresh(item_row)
    assert item_row.status == TaskStatus.PENDING


async def test_full_user_merges_with_a_conflict_then_overwrites(session, admin, frozen_clock):
    patient, form, city, pharmacy = intake_with_a_conflict(session)
    _, page, _ = await item(sign_in_admin(session), form.id)
    assert page.loaded and page.unmerged_count == 2
    await page.merge(str(city.id))
    assert page.notice == "Merged into the chart." and page.unmerged_count == 1
    await page.merge(str(pharmacy.id))
    assert page.conflict_id == pharmacy.id and "changed in the chart" in page.conflict_text
    session.refresh(patient)
    assert patient.pharmacy == "Main St"
    await page.overwrite(page.conflict_id)
    session.refresh(patient)
    assert patient.pharmacy == "New Rx" and page.unmerged_count == 0 and page.has_mergeable
    await page.mark_reviewed()
    assert page.item.reviewed and page.item.status_label == "Reviewed"


async def test_forward_refuses_an_inactive_user_beside_the_field(session, admin):
    patient = make_patient(session)
    item_row = task(session, patient)
    lee, _ = _limited(session)
    _, page, _ = await item(sign_in_admin(session), item_row.id)
    await page.ask_forward()
    assert page.forward_open and page.forward_to == str(lee.id)
    lee.active = False
    session.add(lee)
    session.commit()
    await page.send_forward()
    assert "not an active user" in page.forward_error and page.forward_open
    lee.active = True
    session.add(lee)
    session.commit()
    page.set_forward_note("Please call her")
    await page.send_forward()
    assert page.forward_error == "" and not page.forward_open and page.notice.startswith("Forwarded to Lee")
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "task.forward")).one()


async def test_document_preview_and_download(session, admin):
    patient = make_patient(session)
    share = task(session, patient, TaskKind.DOCUMENT_SHARE)
    doc = PortalDocument(patient_id=patient.id, task_id=share.id, filename="card.png", content_type="image/png",
                         size=len(PNG), data=PNG)
    session.add(doc)
    session.commit()
    _, page, _ = await item(sign_in_admin(session), share.id)
    assert [d["filename"] for d in page.documents] == ["card.png"]
    await page.preview(str(doc.id))
    # The bytes never enter state: the browser loads them from the checked file route.
    assert page.preview_url == routes.task_document_file(share.id, doc.id) and page.preview_name == "card.png"
    result = await page.download(str(doc.id))
    assert result is not None and page.error == ""
    assert [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.action.startswith(
        "task.document")).order_by(AuditEvent.id))] == ["task.document_view", "task.document_download"]
    await page.preview("999")
    assert page.error == "That document is not part of this item." and page.loaded
    assert page.preview_name == "card.png"  # the open preview stays


async def test_the_list_pages_on_the_server(session, admin, frozen_clock):
    from datetime import timedelta

    patient = make_patient(session)
    for i in range(27):
        task(session, patient, at=START - timedelta(minutes=i))
    _, state, _ = await my_tasks(sign_in_admin(session))
    assert (len(state.rows), state.page, state.pages, state.total) == (25, 1, 2, 27)
    first_ids = [r.id for r in state.rows]
    await state.next_page()
    assert (len(state.rows), state.page) == (2, 2)
    await state.next_page()  # no page 3
    assert state.page == 2
    await state.prev_page()
    assert [r.id for r in state.rows] == first_ids


async def test_communication_pages_on_the_server(session, admin, frozen_clock):
    patient = make_patient(session)
    lee, sid = _limited(session)
    for _ in range(26):
        forward_row(session, task(session, patient), lee, admin)
    _, comm = await state_for(CommunicationState, session_id=sid, path=routes.COMMUNICATION)
    await comm.load()
    assert (len(comm.rows), comm.page, comm.pages, comm.total, comm.communication_count) == (25, 1, 2, 26, 26)
    await comm.next_page()
    assert (len(comm.rows), comm.page) == (1, 2)
    await comm.next_page()  # no page 3
    assert comm.page == 2
    await comm.prev_page()
    assert (len(comm.rows), comm.page) == (25, 1)


async def test_a_one_megabyte_reply_is_refused_beside_the_field(session, admin):
    patient = make_patient(session)
    item_row = task(session, patient, subject="Refill")
    _, page, _ = await item(sign_in_admin(session), item_row.id)
    page.set_reply_text("x" * 1_000_000)
    await page.send_reply()
    assert "at most 10,000 characters" in page.reply_error and page.loaded and page.error == ""
    assert len(page.reply_text) <= 20_000  # what was typed stays (bounded), for shortening
    assert session.exec(select(TaskPost).where(TaskPost.author_type == "staff")).first() is None


async def test_an_intake_form_sent_without_changes_reads_up_to_date(session, admin):
    patient = make_patient(session, first="Ana", email="ana@example.com")
    confirmed = task(session, patient, TaskKind.INTAKE_FORM, subject="Intake form (no changes)")
    _, page, _ = await item(sign_in_admin(session), confirmed.id)
    assert page.loaded and page.changes == [] and page.up_to_date and page.unmerged_count == 0
    _, form, _, pharmacy = intake_with_a_conflict(session)
    _, page, _ = await item(sign_in_admin(session), form.id)
    assert not page.up_to_date and page.unmerged_count == 2  # "EMR changes exist" instead
    await page.merge_everything()
    assert not page.up_to_date and page.unmerged_count == 1  # the conflict waits for a decision
    await page.overwrite(str(pharmacy.id))
    assert page.up_to_date


async def test_a_session_ended_on_an_open_item_forgets_it_and_refuses_every_action(session, admin):
    patient = make_patient(session)
    item_row = task(session, patient, subject="Refill")
    session.add(TaskPost(task_id=item_row.id, author_type="patient", author_label="Maria", body="Refill please",
                         created_at=START))
    session.commit()
    sid = sign_in_admin(session)
    _, page, _ = await item(sid, item_row.id)
    assert page.loaded and page.item.patient != "" and page.posts
    staff_auth.sign_out(session=session, session_id=sid)
    page.set_reply_text("Sent to your pharmacy.")
    result = await page.send_reply()
    assert routes.STAFF_LOGIN in str(result)
    assert not page.loaded and page.item.patient == "" and page.posts == [] and page.reply_text == ""
    for handler in (page.mark_reviewed, page.mark_done, page.ask_forward, page.merge_everything):
        assert routes.STAFF_LOGIN in str(await handler())
    assert session.exec(select(TaskPost).where(TaskPost.author_type == "staff")).first() is None
    session.refresh(item_row)
    assert item_row.status == TaskStatus.PENDING
    refusals = session.exec(select(AuditEvent).where(AuditEvent.action == "access.refused")).all()
    assert [e.detail.split(";")[0] for e in refusals] == [
        "handler=TaskItemState.send_reply", "handler=TaskItemState.mark_reviewed",
        "handler=TaskItemState.mark_done", "handler=TaskItemState.ask_forward",
        "handler=TaskItemState.merge_everything"]


async def test_a_session_ended_on_the_list_forgets_the_rows(session, admin, frozen_clock):
    patient = make_patient(session)
    task(session, patient)
    sid = sign_in_admin(session)
    _, state, _ = await my_tasks(sid)
    assert len(state.rows) == 1 and state.portal_count == 1
    staff_auth.sign_out(session=session, session_id=sid)
    for handler in (state.next_page, state.open_portal, lambda: state.set_status("reviewed")):
        assert routes.STAFF_LOGIN in str(await handler())
        assert state.rows == [] and state.portal_count == 0 and state.access == "" and not state.portal_open


async def test_a_password_to_change_sends_the_open_item_to_the_password_page(session, admin):
    patient = make_patient(session)
    item_row = task(session, patient)
    _, page, _ = await item(sign_in_admin(session), item_row.id)
    assert page.loaded
    admin.must_change_password = True
    session.add(admin)
    session.commit()
    result = await page.mark_reviewed()
    assert routes.STAFF_PASSWORD in str(result) and not page.loaded and page.item.patient == ""
    session.refresh(item_row)
    assert item_row.status == TaskStatus.PENDING
