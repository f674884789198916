"""The staff queue rules (services/tasks.py): access per level, counts, lists, items, forwards."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlmodel import select

from portal_app.models import (
    AccessType,
    AppointmentRequest,
    AuditEvent,
    IntakeChange,
    PortalDocument,
    PortalTask,
    Role,
    RolePermission,
    StaffUser,
    TaskForward,
    TaskKind,
    TaskPost,
    TaskStatus,
)
from portal_app.services import appointments, audit, forms, messages, permissions, staff_auth, tasks
from portal_app.services.errors import Forbidden, InvalidInput, NotFound
from portal_app.services.permissions import Level, Permission, QueueAccess
from tests.unit.conftest import START, make_patient
from tests.unit.state_support import PASSWORD, staff_with

L, A = Permission.TASK_PORTAL_LIST, Permission.TASK_PORTAL
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _user(session, username):
    return session.exec(select(StaffUser).where(StaffUser.username == username)).one()


def _staff(session, username, grants) -> StaffUser:
    staff_with(session, username, grants)
    return _user(session, username)


def full(session, username="fay"):
    return _staff(session, username, {L: Level.WRITE, A: Level.WRITE})


def limited(session, username="lee"):
    staff_auth.create_staff(session=session, username=username, full_name=f"{username.title()} Limited",
                            password=PASSWORD, role=permissions.COMMUNICATIONS_ONLY)
    return _user(session, username)


def task(session, patient, kind=TaskKind.MESSAGE, *, at=None, status=TaskStatus.PENDING, reviewed_at=None,
         representative=False, subject="") -> PortalTask:
    at = at or START
    row = PortalTask(kind=kind, patient_id=patient.id, patient_sort_key=patient.sort_key,
                     submitted_by="rep@example.com" if representative else "maria.lopez@example.com",
                     access_type=AccessType.REPRESENTATIVE if representative else AccessType.SELF,
                     subject=subject, created_at=at, last_activity_at=at, status=status, reviewed_at=reviewed_at)
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def forward_row(session, item, to, frm, *, done=False) -> TaskForward:
    row = TaskForward(task_id=item.id, from_staff_id=frm.id, to_staff_id=to.id, note="please answer",
                      created_at=START, done_at=START if done else None)
    session.add(row)
    session.commit()
    return row


def intake_with_a_conflict(session):
    """An Intake Form item: city changed plainly; pharmacy changed in the chart since ("Old" then,
    "Main St" now). Returns (patient, item, city change, pharmacy change)."""
    patient = make_patient(session, city="Springfield", pharmacy="Main St")
    form = task(session, patient, TaskKind.INTAKE_FORM)
    city = IntakeChange(task_id=form.id, field_name="city", chart_value="Springfield", new_value="Shelbyville")
    pharmacy = IntakeChange(task_id=form.id, field_name="pharmacy", chart_value="Old", new_value="New Rx")
    session.add(city)
    session.add(pharmacy)
    session.commit()
    return patient, form, city, pharmacy


def shared_documents(session):
    """Two Document Share items of one patient, each with a PNG: (patient, item, its PNG, other item's PNG)."""
    patient = make_patient(session)
    share = task(session, patient, TaskKind.DOCUMENT_SHARE)
    other = task(session, patient, TaskKind.DOCUMENT_SHARE)
    mine = PortalDocument(patient_id=patient.id, task_id=share.id, filename="card.png", content_type="image/png",
                          size=len(PNG), data=PNG)
    theirs = PortalDocument(patient_id=patient.id, task_id=other.id, filename="x.png", content_type="image/png",
                            size=len(PNG), data=PNG)
    session.add(mine)
    session.add(theirs)
    session.commit()
    return patient, share, mine, theirs


def actions(session) -> list[str]:
    return [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()]


def actor(user) -> audit.Actor:
    return audit.Actor.staff(user.id, "10.0.0.1")


# ---- access resolution ----------------------------------------------------------------------

@pytest.mark.parametrize("list_level", list(Level))
@pytest.mark.parametrize("answer_level", list(Level))
def test_every_level_of_both_queue_permissions(session, list_level, answer_level):
    user = _staff(session, "pat", {L: list_level, A: answer_level})
    expected = {(True, True): QueueAccess.FULL, (True, False): QueueAccess.LIST_ONLY,
                (False, True): QueueAccess.LIMITED, (False, False): QueueAccess.NONE}[
        (list_level > Level.OFF, answer_level > Level.OFF)]
    assert tasks.access_for(session=session, staff_user_id=user.id) == expected


def test_levels_combine_over_several_roles_highest_wins(session):
    user = _staff(session, "multi", {L: Level.READ})
    assert tasks.access_for(session=session, staff_user_id=user.id) == QueueAccess.LIST_ONLY
    role = Role(name="answers")
    session.add(role)
    session.flush()
    session.add(RolePermission(role_id=role.id, permission=A.value, level=int(Level.UPDATE)))
    session.commit()
    permissions.assign_role(session=session, staff_user_id=user.id, role_name="answers")
    session.commit()
    assert tasks.access_for(session=session, staff_user_id=user.id) == QueueAccess.FULL
    # A role with Off does not lower what another role grants.
    off = Role(name="off")
    session.add(off)
    session.flush()
    session.add(RolePermission(role_id=off.id, permission=L.value, level=0))
    session.commit()
    permissions.assign_role(session=session, staff_user_id=user.id, role_name="off")
    session.commit()
    assert tasks.access_for(session=session, staff_user_id=user.id) == QueueAccess.FULL


def test_built_in_roles_and_inactive_users(session, admin):
    lee = limited(session)
    assert tasks.access_for(session=session, staff_user_id=admin.id) == QueueAccess.FULL
    assert tasks.access_for(session=session, staff_user_id=lee.id) == QueueAccess.LIMITED
    lee.active = False
    session.add(lee)
    session.commit()
    assert tasks.access_for(session=session, staff_user_id=lee.id) == QueueAccess.NONE


# ---- counts ---------------------------------------------------------------------------------

def test_my_tasks_counts_pending_items_and_open_forwards(session, admin, frozen_clock):
    patient = make_patient(session)
    lee = limited(session)
    a, b = task(session, patient), task(session, patient, TaskKind.INTAKE_FORM)
    task(session, patient, status=TaskStatus.REVIEWED, reviewed_at=START)
    forward_row(session, a, lee, admin)
    forward_row(session, b, lee, admin, done=True)
    for user in (admin, lee):
        counts = tasks.my_tasks(session=session, staff_user_id=user.id)
        assert counts.patient_portal == 2
    assert tasks.my_tasks(session=session, staff_user_id=lee.id).communication == 1
    assert tasks.my_tasks(session=session, staff_user_id=admin.id).communication == 0
    assert tasks.my_tasks(session=session, staff_user_id=lee.id).access == "limited"


def test_reviewed_this_month_counts_from_the_first_of_the_month(session, admin, frozen_clock):
    patient = make_patient(session)
    november = datetime(2026, 11, 1, 0, 0, tzinfo=timezone.utc)
    task(session, patient, status=TaskStatus.REVIEWED, reviewed_at=november - timedelta(seconds=1))
    second = task(session, patient, status=TaskStatus.REVIEWED, reviewed_at=november)
    third = task(session, patient, status=TaskStatus.REVIEWED, reviewed_at=START)
    task(session, patient)
    page = tasks.review_page(session=session, staff_user_id=admin.id)
    assert (page.pending, page.reviewed_month, page.month_label) == (1, 2, "November 2026")
    # The Reviewed list holds what the counter counts: this month's, most recently reviewed first.
    reviewed = tasks.review_page(session=session, staff_user_id=admin.id, status="reviewed", arrange="date")
    assert reviewed.total == 2 and [r.id for r in reviewed.rows] == [third.id, second.id]
    frozen_clock(datetime(2026, 12, 1, 0, 0, tzinfo=timezone.utc))
    page = tasks.review_page(session=session, staff_user_id=admin.id)
    assert (page.reviewed_month, page.month_label) == (0, "December 2026")
    assert tasks.review_page(session=session, staff_user_id=admin.id, status="reviewed").total == 0


# ---- the list -------------------------------------------------------------------------------

def test_arranged_by_request_groups_in_the_seed_order(session, admin, frozen_clock):
    patient = make_patient(session)
    order = [TaskKind.MESSAGE, TaskKind.APPOINTMENT_REQUEST, TaskKind.INTAKE_FORM, TaskKind.DOCUMENT_SHARE,
             TaskKind.INTAKE_FORM]
    for i, kind in enumerate(order):
        task(session, patient, kind, at=START - timedelta(hours=i))
    page = tasks.review_page(session=session, staff_user_id=admin.id, arrange="request")
    assert [r.kind_label for r in page.rows] == ["Document Share", "Intake Form", "Intake Form", "Message",
                                                 "Appointment Request"]
    assert [r.first_in_group for r in page.rows] == [True, True, False, True, True]
    assert page.rows[1].when == "11/23/2026 1:00PM (UTC)" and page.rows[2].when == "11/23/2026 11:00AM (UTC)"
    by_date = tasks.review_page(session=session, staff_user_id=admin.id, arrange="date")
    assert [r.kind_label for r in by_date.rows] == ["Message", "Appointment Request", "Intake Form",
                                                    "Document Share", "Intake Form"]
    assert by_date.rows[0].group == "11/23/2026"


def test_arranged_by_patient_in_name_order(session, admin, frozen_clock):
    zed = make_patient(session, first="Zoe", last="Zed", email="z@example.com")
    abe = make_patient(session, first="Abe", last="Able", email="a@example.com")
    task(session, zed)
    task(session, abe)
    task(session, zed, TaskKind.INTAKE_FORM, at=START - timedelta(days=1))
    page = tasks.review_page(session=session, staff_user_id=admin.id, arrange="patient")
    assert [(r.group, r.first_in_group) for r in page.rows] == [
        ("Able, Abe", True), ("Zed, Zoe", True), ("Zed, Zoe", False)]


def test_a_row_shows_the_patient_as_the_seed_does(session, admin, frozen_clock):
    patient = make_patient(session, first="Testy", last="Allscripts", middle_name="jay", preferred_name="TESTY",
                           sex="Male", dob=date(1986, 8, 8))
    task(session, patient, TaskKind.DOCUMENT_SHARE, representative=True)
    row = tasks.review_page(session=session, staff_user_id=admin.id).rows[0]
    assert (row.patient, row.sex, row.age, row.dob) == ("Allscripts, Testy J. (TESTY)", "Male", "40y", "08/08/1986")
    assert row.sender_note == "sent by rep@example.com (authorized representative)"
    assert row.href == "/staff/tasks/%d" % row.id


def test_the_list_pages_by_25_across_groups(session, admin, frozen_clock):
    patient = make_patient(session)
    for i in range(31):
        kind = (TaskKind.MESSAGE, TaskKind.DOCUMENT_SHARE)[i % 2]
        task(session, patient, kind, at=START - timedelta(minutes=i))
    first = tasks.review_page(session=session, staff_user_id=admin.id, page=1)
    second = tasks.review_page(session=session, staff_user_id=admin.id, page=2)
    assert (first.total, first.pages, len(first.rows), len(second.rows)) == (31, 2, 25, 6)
    labels = [r.kind_label for r in first.rows + second.rows]
    assert labels == ["Document Share"] * 15 + ["Message"] * 16
    assert len({r.id for r in first.rows + second.rows}) == 31
    # A page beyond the last shows the last.
    assert tasks.review_page(session=session, staff_user_id=admin.id, page=9).page == 2


def test_limited_list_only_and_none(session, admin):
    patient = make_patient(session)
    item = task(session, patient)
    lee = limited(session)
    lister = _staff(session, "lister", {L: Level.READ})
    nobody = _staff(session, "nobody", {Permission.OUTBOX: Level.WRITE})
    with pytest.raises(Forbidden) as refused:
        tasks.review_page(session=session, staff_user_id=lee.id)
    assert refused.value.message == tasks.QUEUE_REFUSED
    page = tasks.review_page(session=session, staff_user_id=lister.id)
    assert len(page.rows) == 1 and not page.can_open
    with pytest.raises(Forbidden) as list_only:
        tasks.open_item(session=session, staff_user_id=lister.id, task_id=item.id, actor=actor(lister))
    assert list_only.value.message == tasks.LIST_ONLY_REFUSED
    assert actions(session)[-1] == "task.open_refused"
    forward_row(session, item, lister, admin)  # even forwarded: no "Task - Patient Portal"
    with pytest.raises(Forbidden):
        tasks.open_item(session=session, staff_user_id=lister.id, task_id=item.id, actor=actor(lister))
    for call in (tasks.my_tasks, tasks.review_page, tasks.communication_page):
        with pytest.raises(Forbidden):
            call(session=session, staff_user_id=nobody.id)
    with pytest.raises(Forbidden):
        tasks.open_item(session=session, staff_user_id=nobody.id, task_id=item.id, actor=actor(nobody))


# ---- items ----------------------------------------------------------------------------------

def test_full_user_opens_an_item_audited_and_marks_it_reviewed(session, admin, frozen_clock):
    patient = make_patient(session)
    item = task(session, patient, subject="Refill")
    session.add(TaskPost(task_id=item.id, author_type="patient", author_label="Maria", body="Need a refill",
                         created_at=START))
    session.commit()
    view = tasks.open_item(session=session, staff_user_id=admin.id, task_id=item.id, actor=actor(admin))
    assert (view.kind_label, view.status_label, view.can_manage, view.subject) == (
        "Message", "Pending Review", True, "Refill")
    assert session.exec(select(TaskPost)).one().read_by_staff_at is not None
    posts = tasks.item_posts(session=session, staff_user_id=admin.id, task_id=item.id)
    assert [p.body for p in posts] == ["Need a refill"]
    frozen_clock(START + timedelta(minutes=5))
    tasks.mark_reviewed(session=session, staff_user_id=admin.id, task_id=item.id, actor=actor(admin))
    session.refresh(item)
    assert item.status == TaskStatus.REVIEWED and item.reviewed_by_staff_id == admin.id
    assert tasks.my_tasks(session=session, staff_user_id=admin.id).patient_portal == 0
    page = tasks.review_page(session=session, staff_user_id=admin.id)
    assert (page.pending, page.reviewed_month) == (0, 1)
    with pytest.raises(InvalidInput):
        tasks.mark_reviewed(session=session, staff_user_id=admin.id, task_id=item.id, actor=actor(admin))
    assert [a for a in actions(session) if a.startswith("task.")] == ["task.open", "task.reviewed"]
    with pytest.raises(NotFound):
        tasks.open_item(session=session, staff_user_id=admin.id, task_id=99999, actor=actor(admin))


def test_forward_to_an_inactive_user_or_one_without_the_permission_is_refused(session, admin):
    patient = make_patient(session)
    item = task(session, patient)
    lee = limited(session)
    lister = _staff(session, "lister", {L: Level.WRITE})
    gone = limited(session, "gone")
    gone.active = False
    session.add(gone)
    session.commit()
    with pytest.raises(InvalidInput) as inactive:
        tasks.forward(session=session, staff_user_id=admin.id, task_id=item.id, to_staff_id=gone.id, note="",
                      actor=actor(admin))
    assert "not an active user" in inactive.value.message and inactive.value.field == "to_staff"
    with pytest.raises(InvalidInput) as no_permission:
        tasks.forward(session=session, staff_user_id=admin.id, task_id=item.id, to_staff_id=lister.id, note="",
                      actor=actor(admin))
    assert "Task - Patient Portal" in no_permission.value.message
    assert [o.id for o in tasks.forward_targets(session=session, staff_user_id=admin.id)] == [lee.id]
    with pytest.raises(Forbidden):  # a limited user cannot forward
        tasks.forward(session=session, staff_user_id=lee.id, task_id=item.id, to_staff_id=admin.id, note="",
                      actor=actor(lee))
    assert session.exec(select(TaskForward)).all() == []
    tasks.forward(session=session, staff_user_id=admin.id, task_id=item.id, to_staff_id=lee.id,
                  note="Can you answer?", actor=actor(admin))
    rows = tasks.communication_page(session=session, staff_user_id=lee.id).rows
    assert [(r.task_id, r.href, r.note, r.from_name, r.opened) for r in rows] == [
        (item.id, f"/staff/tasks/{item.id}", "Can you answer?", "Ada Admin", False)]
    assert "task.forward" in actions(session)


def test_limited_user_opens_a_forwarded_message_and_replies(session, admin, frozen_clock):
    patient = make_patient(session)
    item = task(session, patient)
    other = task(session, patient)
    lee = limited(session)
    with pytest.raises(Forbidden) as refused:
        tasks.open_item(session=session, staff_user_id=lee.id, task_id=item.id, actor=actor(lee))
    assert refused.value.message == tasks.ITEM_REFUSED
    with pytest.raises(Forbidden):  # an unknown id looks the same as a refusal
        tasks.open_item(session=session, staff_user_id=lee.id, task_id=99999, actor=actor(lee))
    fwd = forward_row(session, item, lee, admin)
    view = tasks.open_item(session=session, staff_user_id=lee.id, task_id=item.id, actor=actor(lee))
    assert view.forwarded_to_me and not view.can_manage and view.forward_from == "Ada Admin"
    session.refresh(fwd)
    assert fwd.opened_at is not None and fwd.done_at is None
    assert tasks.communication_page(session=session, staff_user_id=lee.id).rows[0].opened
    with pytest.raises(Forbidden):  # another item is not forwarded to them
        tasks.open_item(session=session, staff_user_id=lee.id, task_id=other.id, actor=actor(lee))
    for manage in (tasks.mark_reviewed,):
        with pytest.raises(Forbidden):
            manage(session=session, staff_user_id=lee.id, task_id=item.id, actor=actor(lee))
    with pytest.raises(InvalidInput):
        tasks.reply(session=session, staff_user_id=lee.id, task_id=item.id, body="  ", actor=actor(lee))
    session.refresh(fwd)
    assert fwd.done_at is None  # a refused reply leaves the forward open
    tasks.reply(session=session, staff_user_id=lee.id, task_id=item.id, body="We sent it.", actor=actor(lee))
    session.refresh(fwd)
    assert fwd.done_at is not None
    post = session.exec(select(TaskPost).where(TaskPost.task_id == item.id)).one()
    assert (post.author_type, post.body, post.staff_user_id) == ("staff", "We sent it.", lee.id)
    assert tasks.my_tasks(session=session, staff_user_id=lee.id).communication == 0
    with pytest.raises(Forbidden):  # answered: it no longer opens for them
        tasks.item_view(session=session, staff_user_id=lee.id, task_id=item.id)
    assert {"task.open", "task.reply"} <= set(actions(session))


def test_limited_user_decides_a_forwarded_appointment_but_cannot_merge(session, admin, frozen_clock):
    patient = make_patient(session, city="Springfield")
    appt = task(session, patient, TaskKind.APPOINTMENT_REQUEST)
    session.add(AppointmentRequest(task_id=appt.id, patient_id=patient.id, reason="Checkup",
                                   preferred="2026-12-03|morning"))
    form = task(session, patient, TaskKind.INTAKE_FORM)
    change = IntakeChange(task_id=form.id, field_name="city", chart_value="Springfield", new_value="Shelbyville")
    session.add(change)
    session.commit()
    lee = limited(session)
    forward_row(session, appt, lee, admin)
    forward_row(session, form, lee, admin)
    view = tasks.item_appointment(session=session, staff_user_id=lee.id, task_id=appt.id)
    assert view.reason == "Checkup" and len(view.preferred) == 1
    tasks.decide_appointment(session=session, staff_user_id=lee.id, task_id=appt.id, decision="scheduled",
                             note="See you Thursday", actor=actor(lee),
                             booking=appointments.Booking(date="2027-01-14", time="10:00", provider="Dr. Kim",
                                                          location="Clinic"))
    assert session.get(AppointmentRequest, 1).status == "scheduled"
    assert [c.new_value for c in tasks.item_changes(session=session, staff_user_id=lee.id, task_id=form.id)] == [
        "Shelbyville"]
    with pytest.raises(Forbidden):
        tasks.merge_change(session=session, staff_user_id=lee.id, task_id=form.id, change_id=change.id,
                           actor=actor(lee))
    with pytest.raises(Forbidden):
        tasks.merge_all(session=session, staff_user_id=lee.id, task_id=form.id, actor=actor(lee))
    tasks.mark_done(session=session, staff_user_id=lee.id, task_id=form.id, actor=actor(lee))
    assert tasks.my_tasks(session=session, staff_user_id=lee.id).communication == 0
    assert "task.done" in actions(session)


def test_merges_go_through_the_forms_rules_with_conflicts(session, admin, frozen_clock):
    patient, form, city, pharmacy = intake_with_a_conflict(session)
    rows = tasks.item_changes(session=session, staff_user_id=admin.id, task_id=form.id)
    assert [(r.label, r.conflict) for r in rows] == [("City", False), ("Pharmacy", True)]
    result = tasks.merge_all(session=session, staff_user_id=admin.id, task_id=form.id, actor=actor(admin))
    assert (result.merged, result.conflicts) == (1, 1)
    with pytest.raises(forms.MergeConflict):
        tasks.merge_change(session=session, staff_user_id=admin.id, task_id=form.id, change_id=pharmacy.id,
                           actor=actor(admin))
    tasks.merge_change(session=session, staff_user_id=admin.id, task_id=form.id, change_id=pharmacy.id,
                       actor=actor(admin), overwrite=True)
    session.refresh(patient)
    assert (patient.city, patient.pharmacy) == ("Shelbyville", "New Rx")
    assert actions(session).count("intake.merge") == 2


def test_a_document_opens_only_through_its_own_item(session, admin):
    _, share, mine, theirs = shared_documents(session)
    docs = tasks.item_documents(session=session, staff_user_id=admin.id, task_id=share.id)
    assert [d.filename for d in docs] == ["card.png"]
    content = tasks.item_document_content(session=session, staff_user_id=admin.id, task_id=share.id,
                                          document_id=mine.id)
    assert content.data == PNG and "task.document_fetch" not in actions(session)
    # The file route passes its request's actor: a fetch by URL is on record.
    tasks.item_document_content(session=session, staff_user_id=admin.id, task_id=share.id, document_id=mine.id,
                                actor=actor(admin))
    assert actions(session)[-1] == "task.document_fetch"
    with pytest.raises(NotFound):
        tasks.item_document_content(session=session, staff_user_id=admin.id, task_id=share.id,
                                    document_id=theirs.id)


def test_viewing_or_saving_a_document_is_audited_and_checked(session, admin):
    patient, share, mine, theirs = shared_documents(session)
    odd = PortalDocument(patient_id=patient.id, task_id=share.id, filename="notes.txt", content_type="text/plain",
                         size=2, data=b"hi")
    session.add(odd)
    session.commit()
    row = tasks.preview_document(session=session, staff_user_id=admin.id, task_id=share.id, document_id=mine.id,
                                 actor=actor(admin))
    assert row.filename == "card.png"
    saved = tasks.download_document(session=session, staff_user_id=admin.id, task_id=share.id, document_id=mine.id,
                                    actor=actor(admin))
    assert saved.data == PNG
    assert actions(session)[-2:] == ["task.document_view", "task.document_download"]
    events = session.exec(select(AuditEvent).where(AuditEvent.action.startswith("task.document"))).all()
    assert {e.patient_id for e in events} == {patient.id}
    assert all(f"document={mine.id}" in e.detail for e in events)
    with pytest.raises(InvalidInput):  # not a PDF or image: Download only, nothing audited
        tasks.preview_document(session=session, staff_user_id=admin.id, task_id=share.id, document_id=odd.id,
                               actor=actor(admin))
    for service in (tasks.preview_document, tasks.download_document):
        with pytest.raises(NotFound):  # another item's document
            service(session=session, staff_user_id=admin.id, task_id=share.id, document_id=theirs.id,
                    actor=actor(admin))
    lee = limited(session)
    with pytest.raises(Forbidden):  # limited, and not forwarded to them
        tasks.download_document(session=session, staff_user_id=lee.id, task_id=share.id, document_id=mine.id,
                                actor=actor(lee))
    assert actions(session).count("task.document_view") == 1
    assert actions(session).count("task.document_download") == 1


# ---- issue 15: the Mark Reviewed question, New reply and the latest-activity order -------------

def test_mark_reviewed_asks_when_intake_changes_are_not_merged_and_records_the_answer(session, admin,
                                                                                     frozen_clock):
    _patient, form, city, pharmacy = intake_with_a_conflict(session)
    with pytest.raises(tasks.UnmergedChanges) as asked:
        tasks.mark_reviewed(session=session, staff_user_id=admin.id, task_id=form.id, actor=actor(admin))
    assert asked.value.message == "2 changes are not merged into the chart. Mark reviewed anyway?"
    assert session.get(PortalTask, form.id).status == TaskStatus.PENDING
    tasks.keep_pending(session=session, staff_user_id=admin.id, task_id=form.id, actor=actor(admin))
    tasks.merge_change(session=session, staff_user_id=admin.id, task_id=form.id, change_id=city.id,
                       actor=actor(admin))
    with pytest.raises(tasks.UnmergedChanges) as asked:
        tasks.mark_reviewed(session=session, staff_user_id=admin.id, task_id=form.id, actor=actor(admin))
    assert asked.value.message.startswith("1 change is not merged")
    tasks.mark_reviewed(session=session, staff_user_id=admin.id, task_id=form.id, actor=actor(admin),
                        unmerged_ok=True)
    assert session.get(PortalTask, form.id).status == TaskStatus.REVIEWED
    details = {e.action: e.detail for e in session.exec(select(AuditEvent)).all()}
    assert details["task.review_cancelled"] == f"item={form.id}; 2 unmerged changes; kept pending"
    assert details["task.reviewed"].endswith("1 unmerged change, marked reviewed anyway")


def test_a_message_with_nothing_to_merge_is_marked_reviewed_without_a_question(session, admin, frozen_clock):
    item = task(session, make_patient(session))
    tasks.mark_reviewed(session=session, staff_user_id=admin.id, task_id=item.id, actor=actor(admin))
    assert session.get(PortalTask, item.id).status == TaskStatus.REVIEWED


def _post(session, item, body, at, author="patient"):
    session.add(TaskPost(task_id=item.id, author_type=author, body=body, created_at=at))
    item.last_activity_at = at
    session.add(item)
    session.commit()


def test_a_reply_on_a_reviewed_item_comes_back_on_top_flagged_with_subject_and_first_words(session, admin,
                                                                                         frozen_clock):
    from tests.unit.test_state_patient import make_account

    patient, account = make_account(session)
    old = task(session, patient, at=START - timedelta(days=3), subject="Knee pain")
    _post(session, old, "My knee hurts.", START - timedelta(days=3))
    newer = task(session, patient, at=START - timedelta(days=1), subject="Saturday hours")
    _post(session, newer, "Are you open on Saturday?", START - timedelta(days=1))
    tasks.open_item(session=session, staff_user_id=admin.id, task_id=old.id, actor=actor(admin))
    tasks.mark_reviewed(session=session, staff_user_id=admin.id, task_id=old.id, actor=actor(admin))
    chart = portal_auth_chart(session, patient)
    messages.patient_reply(session=session, account_id=account.id, chart=chart, task_id=old.id,
                           body="Thanks, but it still hurts a lot when I climb the stairs every single morning")
    page = tasks.review_page(session=session, staff_user_id=admin.id)
    assert [r.id for r in page.rows] == [old.id, newer.id]
    first, second = page.rows
    assert (first.subject, first.new_reply, first.latest) == ("Knee pain", True, "11/23/2026 3:00PM (UTC)")
    assert first.preview == "Thanks, but it still hurts a lot when I climb the stairs\u2026"
    assert first.when == "11/20/2026 3:00PM (UTC)"  # still received then
    assert (second.new_reply, second.preview) == (False, "Are you open on Saturday?")
    # Opened by staff: no longer a new reply.
    tasks.open_item(session=session, staff_user_id=admin.id, task_id=old.id, actor=actor(admin))
    assert not tasks.review_page(session=session, staff_user_id=admin.id).rows[0].new_reply


def portal_auth_chart(session, patient):
    from portal_app.services.portal_auth import ChartView

    return ChartView(patient_id=patient.id, name=patient.first_name, dob="", access_type="self", email="",
                     mobile_phone="", home_phone="", address="", areas=("messages",))
