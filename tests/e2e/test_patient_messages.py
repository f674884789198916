"""Portal Messages and Appointments: a patient writes to the practice and asks for a visit;
both become queue items; a staff reply shows in the thread as unread; both pages pass axe."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from playwright.sync_api import Page, expect
from sqlmodel import col, select

from portal_app import db
from portal_app.models import AppointmentRequest, PortalTask, StaffUser, TaskKind, TaskPost
from portal_app.services import audit, messages
from tests.e2e.conftest import goto
from tests.e2e.helpers import (
    PASSPHRASE,
    create_patient,
    expect_portal_home,
    give_account,
    messages_to,
    patient_sign_in,
    unique_tag,
    wait_until,
)
from tests.e2e.test_accessibility import _violations


def _tasks(app_server, patient_id: int) -> list[PortalTask]:
    with db.session_scope(app_server.db_url) as session:
        return list(session.exec(select(PortalTask).where(PortalTask.patient_id == patient_id)
                                 .order_by(col(PortalTask.id))))


def _staff_reply(app_server, task_id: int, body: str) -> None:
    """A practice reply made through the service, as the staff queue makes it."""
    with db.session_scope(app_server.db_url) as session:
        admin = session.exec(select(StaffUser).where(StaffUser.username == "admin")).one()
        messages.staff_reply(session=session, task_id=task_id, staff_user_id=admin.id, body=body,
                             actor=audit.Actor.staff(admin.id))


def test_patient_sends_a_message_and_requests_an_appointment(app_server, page: Page) -> None:
    patient = create_patient(app_server, first_name="Rosalind", last_name=f"Achterberg-{unique_tag()}",
                             portal_enabled=True)
    user_id = give_account(app_server, patient)
    patient_sign_in(page, user_id, PASSPHRASE)
    expect_portal_home(page, patient)

    # --- Messages -----------------------------------------------------------------------
    goto(page, "/portal/messages")
    expect(page.get_by_role("heading", name="Messages", level=1)).to_be_visible()
    expect(page.get_by_text("No messages yet.")).to_be_visible()
    assert _violations(page) == []
    page.get_by_role("button", name="New message").click()
    subject = page.get_by_label("Subject")
    body = page.get_by_label("Message", exact=True)
    # A pasted text over the limit is not cut short silently: it reaches the server, which says so.
    body.fill("x" * (1024 * 1024))
    subject.fill("Too long")
    page.get_by_role("button", name="Send message").click()
    expect(page.get_by_text("at most 10,000 characters; this one has 50,000")).to_be_visible()
    expect(body).to_have_attribute("aria-invalid", "true")
    subject.fill("")
    # A missing subject: the message says so beside the field, and the text typed stays.
    body.fill("My inhaler is nearly empty. Could you send a refill to my pharmacy?")
    page.get_by_role("button", name="Send message").click()
    expect(page.get_by_text("Enter a subject.")).to_be_visible()
    expect(subject).to_have_attribute("aria-invalid", "true")
    expect(body).to_have_value("My inhaler is nearly empty. Could you send a refill to my pharmacy?")
    assert _violations(page) == []
    subject.fill("Inhaler refill")
    page.get_by_role("button", name="Send message").click()
    expect(page.get_by_text("Your message was sent to the practice.")).to_be_visible()
    thread_button = page.get_by_role("button", name=re.compile("Inhaler refill"))
    expect(thread_button).to_be_visible()
    expect(thread_button).not_to_contain_text("Unread")

    task = wait_until(lambda: next((t for t in _tasks(app_server, patient.id) if t.kind == TaskKind.MESSAGE), None),
                      what="the message item")
    assert (task.subject, task.status.value, task.submitted_by) == ("Inhaler refill", "pending", user_id)

    # The practice replies (through the service the staff queue uses): unread in the list.
    _staff_reply(app_server, task.id, "We sent the refill to your pharmacy this morning.")
    notices = messages_to(app_server, user_id)
    assert notices and "new message" in notices[-1].body_text and "refill" not in notices[-1].body_text.lower()
    goto(page, "/portal/messages")
    thread_button = page.get_by_role("button", name=re.compile("Inhaler refill"))
    expect(thread_button).to_contain_text("Unread")
    thread_button.click()
    expect(page.get_by_role("heading", name="Inhaler refill", level=2)).to_be_visible()
    posts = page.locator("article.post")
    expect(posts).to_have_count(2)
    expect(posts.nth(0)).to_contain_text("My inhaler is nearly empty.")
    expect(posts.nth(1)).to_contain_text("We sent the refill to your pharmacy this morning.")
    expect(posts.nth(1)).to_contain_text("New")
    assert _violations(page) == []

    page.get_by_label("Reply").fill("Thank you, picked it up.")
    page.get_by_role("button", name="Send reply").click()
    expect(posts).to_have_count(3)
    expect(posts.nth(2)).to_contain_text("Thank you, picked it up.")
    expect(page.get_by_label("Reply")).to_have_value("")
    page.get_by_role("button", name="Back to messages").click()
    expect(page.get_by_role("button", name=re.compile("Inhaler refill"))).not_to_contain_text("Unread")
    with db.session_scope(app_server.db_url) as session:
        authors = [p.author_type for p in session.exec(select(TaskPost).where(TaskPost.task_id == task.id)
                                                       .order_by(col(TaskPost.id)))]
    assert authors == ["patient", "staff", "patient"]

    # --- Appointments -------------------------------------------------------------------
    goto(page, "/portal/appointments")
    expect(page.get_by_role("heading", name="Appointments", level=1)).to_be_visible()
    expect(page.get_by_text("No requests yet.")).to_be_visible()
    assert _violations(page) == []
    today = datetime.now(timezone.utc).date()
    page.get_by_label("Preferred date 1").fill((today - timedelta(days=2)).isoformat())
    page.get_by_label("Time of day 1").select_option(label="Morning")
    page.get_by_label("Reason for visit").fill("Follow-up on my asthma")
    page.get_by_role("button", name="Request appointment").click()
    expect(page.get_by_text("Choose a date after today.")).to_be_visible()
    expect(page.get_by_label("Reason for visit")).to_have_value("Follow-up on my asthma")
    assert _violations(page) == []

    first = today + timedelta(days=9)
    page.get_by_label("Preferred date 1").fill(first.isoformat())
    page.get_by_label("Preferred date 2").fill((today + timedelta(days=10)).isoformat())
    page.get_by_label("Time of day 2").select_option(label="Afternoon")
    page.get_by_role("button", name="Request appointment").click()
    expect(page.get_by_text("Your request was sent.")).to_be_visible()
    row = page.locator("tr.request-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Requested")
    expect(row).to_contain_text("Follow-up on my asthma")
    expect(row).to_contain_text(first.strftime("%m/%d/%Y") + ", morning")
    expect(page.get_by_label("Reason for visit")).to_have_value("")
    assert _violations(page) == []

    request = wait_until(lambda: next((t for t in _tasks(app_server, patient.id)
                                       if t.kind == TaskKind.APPOINTMENT_REQUEST), None), what="the request item")
    with db.session_scope(app_server.db_url) as session:
        detail = session.exec(select(AppointmentRequest).where(AppointmentRequest.task_id == request.id)).one()
        assert (detail.reason, detail.status) == ("Follow-up on my asthma", "requested")
        assert detail.preferred.splitlines() == [f"{first.isoformat()}|morning",
                                                 f"{(today + timedelta(days=10)).isoformat()}|afternoon"]
