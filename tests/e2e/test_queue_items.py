"""Issue 15, queue items: booking an appointment (and the patient's calendar file), the Mark
Reviewed question, "New reply", long words, the patient's home news, "awaiting review", the
Documents error, and a staff user with no permissions."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from playwright.sync_api import Page, expect
from sqlmodel import col, select

from portal_app import db
from portal_app.models import AuditEvent, PortalAccount, Role, StaffUser
from portal_app.services import appointments, audit, forms, messages, portal_auth, staff_auth, tasks
from tests.e2e.conftest import ADMIN_USERNAME, AppServer, goto
from tests.e2e.helpers import (
    PASSPHRASE,
    create_patient,
    expect_portal_home,
    give_account,
    patient_sign_in,
    staff_sign_in,
    unique_tag,
)

LONG_WORD = "https://example.org/" + "x" * 280  # 300 characters, no break


def _patient(app_server: AppServer, first: str):
    tag = unique_tag()
    patient = create_patient(app_server, first_name=first, last_name=f"Queue{tag}", portal_enabled=True)
    user_id = give_account(app_server, patient)
    with db.session_scope(app_server.db_url) as session:
        account = session.exec(select(PortalAccount).where(PortalAccount.user_id == user_id)).one()
        chart = portal_auth.chart_for(session=session, account_id=account.id, patient_id=patient.id)
        assert chart is not None
        return patient, user_id, account.id, chart


def _admin(app_server: AppServer) -> audit.Actor:
    with db.session_scope(app_server.db_url) as session:
        admin = session.exec(select(StaffUser).where(StaffUser.username == ADMIN_USERNAME)).one()
        return audit.Actor.staff(admin.id)


def _fits_the_window(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_booking_an_appointment_the_patient_sees_it_and_adds_it_to_a_calendar(
        app_server: AppServer, page: Page, new_context) -> None:
    patient, user_id, account_id, chart = _patient(app_server, "Bea")
    day = datetime.now(timezone.utc).date() + timedelta(days=9)
    with db.session_scope(app_server.db_url) as session:
        task_id = appointments.request_appointment(
            session=session, account_id=account_id, chart=chart, preferred=[(day.isoformat(), "morning")],
            reason="See this: " + LONG_WORD)

    page.set_viewport_size({"width": 1366, "height": 800})
    staff_sign_in(page)
    goto(page, f"/staff/tasks/{task_id}")
    expect(page.get_by_text(LONG_WORD[:40])).to_be_visible()
    assert _fits_the_window(page), "a long word in the reason widened the page"

    # Nothing typed: each field says what it needs.
    page.get_by_role("button", name="Mark scheduled").click()
    expect(page.locator("#booked-date-error")).to_have_text("Enter the appointment date.")
    expect(page.locator("#booked-time-error")).to_have_text("Enter the appointment time.")
    expect(page.locator("#booked-provider-error")).to_have_text("Enter the provider the patient will see.")
    # A past date is refused beside the date; what was typed stays.
    page.get_by_label("Appointment date").fill((day - timedelta(days=30)).isoformat())
    page.get_by_label("Appointment time").fill("10:30")
    page.get_by_label("Provider").fill("Dr. Ana Ruiz")
    page.get_by_label("Location").fill("Riverside Clinic, Room 4")
    page.get_by_role("button", name="Mark scheduled").click()
    expect(page.locator("#booked-date-error")).to_contain_text("in the past")
    expect(page.get_by_label("Provider")).to_have_value("Dr. Ana Ruiz")
    page.get_by_label("Appointment date").fill(day.isoformat())
    page.get_by_role("button", name="Mark scheduled").click()
    expect(page.get_by_text("Marked scheduled. The patient was sent the time and place.")).to_be_visible()
    expect(page.get_by_text(re.compile(r"with Dr\. Ana Ruiz at Riverside Clinic, Room 4"))).to_be_visible()

    patient_page = new_context().new_page()
    patient_sign_in(patient_page, user_id, PASSPHRASE)
    expect_portal_home(patient_page, patient)
    news = patient_page.get_by_role("region", name="New for you")
    expect(news.get_by_role("link", name="1 appointment request has an answer")).to_be_visible()
    news.get_by_role("link", name="1 appointment request has an answer").click()
    expect(patient_page.get_by_role("heading", name="Appointments", level=1)).to_be_visible()
    booked = patient_page.locator(".booked")
    spelled = f"{day:%A}, {day:%B} {day.day}, {day.year} at 10:30 AM"
    expect(booked).to_contain_text(spelled)
    expect(booked).to_contain_text("With Dr. Ana Ruiz")
    expect(booked).to_contain_text("At Riverside Clinic, Room 4")
    with patient_page.expect_download() as got:
        booked.get_by_role("button", name=re.compile("Add to calendar")).click()
    body = open(got.value.path(), "rb").read().decode()
    assert "BEGIN:VCALENDAR" in body and "Dr. Ana Ruiz" in body and "Riverside Clinic" in body
    with db.session_scope(app_server.db_url) as session:
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "appointment.calendar_download",
                                                     AuditEvent.patient_id == patient.id)).first() is not None
    # Seen once on Appointments: the home page no longer calls it new.
    goto(patient_page, "/portal")
    expect(patient_page.get_by_role("heading", name="Your patient portal", level=1)).to_be_visible()
    expect(patient_page.get_by_role("region", name="New for you")).to_have_count(0)


def test_mark_reviewed_asks_about_unmerged_changes_and_a_reply_comes_back_flagged(
        app_server: AppServer, page: Page, new_context) -> None:
    patient, user_id, account_id, chart = _patient(app_server, "Cal")
    actor = _admin(app_server)
    with db.session_scope(app_server.db_url) as session:
        intake_id = forms.submit_intake(session=session, account_id=account_id, chart=chart,
                                        values={"city": "Nashville"})
        old_id = messages.start_thread(session=session, account_id=account_id, chart=chart,
                                       subject="Knee pain", body="My knee hurts when I climb stairs.")
        tasks.mark_reviewed(session=session, staff_user_id=actor.staff_user_id, task_id=old_id, actor=actor)
        messages.start_thread(session=session, account_id=account_id, chart=chart,
                              subject="Newer question", body="Is the clinic open on Saturday?")
        messages.staff_reply(session=session, task_id=old_id, staff_user_id=actor.staff_user_id,
                             body="Please come in on Monday.", actor=actor)
    assert intake_id is not None

    # The patient: the form awaits review, the practice's reply is new on the home page.
    patient_page = new_context().new_page()
    patient_sign_in(patient_page, user_id, PASSPHRASE)
    expect_portal_home(patient_page, patient)
    expect(patient_page.get_by_role("region", name="New for you").get_by_role(
        "link", name="1 conversation has a new reply from the practice")).to_be_visible()
    goto(patient_page, "/portal/forms")
    expect(patient_page.locator(".awaiting-review")).to_contain_text("awaiting review by the practice")

    # The patient answers the reviewed thread: it comes back on top, flagged, with its first words.
    with db.session_scope(app_server.db_url) as session:
        messages.patient_reply(session=session, account_id=account_id, chart=chart, task_id=old_id,
                               body="Thanks. Monday works but only after three in the afternoon please.")
    staff_sign_in(page)
    goto(page, "/staff/tasks")
    page.get_by_role("button", name=re.compile(r"^Patient Portal \(")).click()
    rows = page.locator(".review-row").filter(has_text=patient.last_name).filter(
        has=page.get_by_role("link", name=re.compile(r"^Message from")))
    expect(rows.first).to_contain_text("Knee pain")
    expect(rows.first).to_contain_text("New reply")
    expect(rows.first).to_contain_text("Thanks. Monday works but only after three")
    expect(rows.nth(1)).not_to_contain_text("New reply")

    # Mark Reviewed with an unmerged change asks first; Cancel keeps it pending, both answers recorded.
    goto(page, f"/staff/tasks/{intake_id}")
    page.get_by_role("button", name="Mark Reviewed").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("1 change is not merged into the chart. Mark reviewed anyway?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text("Not marked reviewed.")).to_be_visible()
    expect(page.get_by_text("Pending Review")).to_be_visible()
    page.get_by_role("button", name="Mark Reviewed").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Mark reviewed anyway").click()
    expect(page.get_by_text("Marked reviewed. It now shows under Reviewed.")).to_be_visible()
    with db.session_scope(app_server.db_url) as session:
        details = [e.detail for e in session.exec(
            select(AuditEvent).where(col(AuditEvent.action).in_(["task.reviewed", "task.review_cancelled"]),
                                     col(AuditEvent.detail).contains(f"item={intake_id};")))]
    assert any("kept pending" in d for d in details) and any("marked reviewed anyway" in d for d in details)


def test_a_new_file_clears_the_old_error_on_documents(app_server: AppServer, page: Page) -> None:
    patient, user_id, _, _ = _patient(app_server, "Dee")
    patient_sign_in(page, user_id, PASSPHRASE)
    expect_portal_home(page, patient)
    goto(page, "/portal/documents")
    picker = page.get_by_label("File", exact=True)
    picker.set_input_files(files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"just text"}])
    page.get_by_role("button", name="Share document").click()
    error = page.locator("#document-file-error")
    expect(error).to_be_visible()
    picker.set_input_files(files=[{"name": "scan.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n"}])
    expect(page.get_by_text("scan.pdf")).to_be_visible()
    expect(error).to_have_count(0)


def test_a_staff_user_with_no_permissions_is_told_whom_to_ask_and_can_sign_out(
        app_server: AppServer, page: Page) -> None:
    username = f"nobody{unique_tag().lower()}"
    password = "granite sparrow velvet orbit 27"
    with db.session_scope(app_server.db_url) as session:
        session.add(Role(name=f"Empty {username}"))
        session.commit()
        staff_auth.create_staff(session=session, username=username, full_name="No Rights",
                                password=password, role=f"Empty {username}")
    goto(page, "/staff/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    notice = page.get_by_role("status", name="No access yet")
    expect(notice).to_contain_text("Your role does not give you any page")
    expect(notice).to_contain_text("Setup > Roles")
    notice.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/staff/login/?$"))
