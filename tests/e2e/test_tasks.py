"""My Tasks > Patient Portal, end to end: a patient sends the four kinds of item through the portal;
a full-access user works them (reply, merge, preview, decide, forward, mark reviewed) and sees the
counts move; a limited user gets the security message on the queue but answers the forwarded
message from Communication; a user with neither queue permission sees no My Tasks at all."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import col, func, select

from portal_app import db
from portal_app.models import (
    AuditEvent,
    Patient,
    PortalTask,
    Role,
    RolePermission,
    StaffUser,
    TaskForward,
    TaskKind,
    TaskPost,
    TaskStatus,
)
from portal_app.services import permissions, staff_auth
from portal_app.services.permissions import Level, Permission
from tests.e2e.conftest import AppServer, goto
from tests.e2e.helpers import (
    PASSPHRASE,
    create_patient,
    expect_portal_home,
    give_account,
    patient_sign_in,
    unique_tag,
    wait_until,
)
from tests.e2e.test_accessibility import _violations

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
STAFF_PASSWORD = "quartz heron lattice ember 64"
OUTBOX_ONLY = "Outbox Only (e2e)"


def _create_staff(app_server: AppServer, username: str, full_name: str, role: str) -> None:
    with db.session_scope(app_server.db_url) as session:
        if role == OUTBOX_ONLY and session.exec(select(Role).where(Role.name == OUTBOX_ONLY)).first() is None:
            permissions.ensure_built_in_roles(session=session)
            off_role = Role(name=OUTBOX_ONLY)
            session.add(off_role)
            session.flush()
            session.add(RolePermission(role_id=off_role.id, permission=Permission.OUTBOX.value,
                                       level=int(Level.READ)))
            session.commit()
        staff_auth.create_staff(session=session, username=username, full_name=full_name,
                                password=STAFF_PASSWORD, role=role)


def _sign_in_as(page: Page, username: str) -> None:
    goto(page, "/staff/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def _pending_and_reviewed(app_server: AppServer) -> tuple[int, int]:
    start = datetime.now(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    with db.session_scope(app_server.db_url) as session:
        pending = session.exec(select(func.count()).select_from(PortalTask)
                               .where(PortalTask.status == TaskStatus.PENDING)).one()
        reviewed = session.exec(select(func.count()).select_from(PortalTask).where(
            PortalTask.status == TaskStatus.REVIEWED, col(PortalTask.reviewed_at) >= start)).one()
        return pending, reviewed


def _tasks_of(app_server: AppServer, patient_id: int) -> dict[TaskKind, PortalTask]:
    with db.session_scope(app_server.db_url) as session:
        return {t.kind: t for t in session.exec(select(PortalTask).where(PortalTask.patient_id == patient_id))}


def _actions(app_server: AppServer, username: str) -> list[str]:
    with db.session_scope(app_server.db_url) as session:
        user = session.exec(select(StaffUser).where(StaffUser.username == username)).one()
        return [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.staff_user_id == user.id)
                                               .order_by(col(AuditEvent.id)))]


def _expect_counts(page: Page, app_server: AppServer) -> None:
    pending, reviewed = _pending_and_reviewed(app_server)
    expect(page.locator("#pending-count")).to_have_text(str(pending))
    expect(page.locator("#reviewed-count")).to_have_text(str(reviewed))
    expect(page.get_by_role("button", name=f"Patient Portal ({pending})")).to_be_visible()


def _patient_sends_four_items(app_server: AppServer, page: Page, patient) -> None:
    """Through the patient's own pages: a message, an intake form, a PDF, an appointment request."""
    user_id = give_account(app_server, patient)
    patient_sign_in(page, user_id, PASSPHRASE)
    expect_portal_home(page, patient)

    goto(page, "/portal/messages")
    page.get_by_role("button", name="New message").click()
    page.get_by_label("Subject").fill("Inhaler refill")
    page.get_by_label("Message", exact=True).fill("My inhaler is nearly empty. Could you send a refill?")
    page.get_by_role("button", name="Send message").click()
    expect(page.get_by_text("Your message was sent to the practice.")).to_be_visible()

    goto(page, "/portal/forms?form=intake")
    expect(page.get_by_label("City")).to_have_value("Fairview")
    page.get_by_label("City").fill("Nashville")
    page.get_by_label("Pharmacy").fill("Corner Drugs, 5th Ave")
    page.get_by_role("button", name="Submit form").click()
    expect(page.get_by_text("Your intake form was sent to the practice")).to_be_visible()

    goto(page, "/portal/documents")
    page.get_by_label("File", exact=True).set_input_files(
        files=[{"name": "lab-results.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    expect(page.get_by_text("lab-results.pdf")).to_be_visible()
    page.get_by_label("Note").fill("Blood test from June")
    page.get_by_role("button", name="Share document").click()
    expect(page.get_by_text("Your document was sent to the practice")).to_be_visible()

    goto(page, "/portal/appointments")
    day = datetime.now(timezone.utc).date() + timedelta(days=9)
    page.get_by_label("Preferred date 1").fill(day.isoformat())
    page.get_by_label("Time of day 1").select_option(label="Morning")
    page.get_by_label("Reason for visit").fill("Follow-up on my asthma")
    page.get_by_role("button", name="Request appointment").click()
    expect(page.get_by_text("Your request was sent.")).to_be_visible()

    wait_until(lambda: len(_tasks_of(app_server, patient.id)) == 4, what="the four queue items")


def test_the_patient_portal_queue_by_access_level(app_server: AppServer, page: Page, new_context) -> None:
    tag = unique_tag()
    patient = create_patient(app_server, first_name="Queenie", last_name=f"Queue-{tag}", portal_enabled=True)
    label = f"Queue-{tag}, Queenie"
    _patient_sends_four_items(app_server, new_context().new_page(), patient)
    items = _tasks_of(app_server, patient.id)

    full, limited, nobody = f"fay{tag.lower()}", f"lee{tag.lower()}", f"ned{tag.lower()}"
    _create_staff(app_server, full, f"Fay {tag}", permissions.CLINICAL)
    _create_staff(app_server, limited, f"Lee {tag}", permissions.COMMUNICATIONS_ONLY)
    _create_staff(app_server, nobody, f"Ned {tag}", OUTBOX_ONLY)

    # --- full access: the list, in the seed's groups, with the right counts -----------------
    _sign_in_as(page, full)
    page.get_by_role("navigation", name="Staff").get_by_role("link", name="My Tasks").click()
    expect(page).to_have_url(re.compile(r"/staff/tasks/?$"))
    expect(page.get_by_role("heading", name="Patient Portal Review", level=2)).to_be_visible()
    _expect_counts(page, app_server)
    mine = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=re.compile(re.escape(label))))
    expect(mine).to_have_count(4)
    expect(mine.nth(0)).to_contain_text("Female")
    expect(mine.nth(0)).to_contain_text("DOB: 03/07/1984")
    expect(mine.nth(0)).to_contain_text(re.compile(r"Age: \d+y"))
    expect(mine.nth(0)).to_contain_text(re.compile(r"\d\d/\d\d/\d{4} \d{1,2}:\d\d[AP]M \(UTC\)"))
    in_seed_order = ["Document Share", "Intake Form", "Message", "Appointment Request"]
    expect(mine.get_by_role("link")).to_have_text(in_seed_order)
    assert _violations(page) == []
    page.get_by_label("Arranged By:").select_option(label="Patient")
    # Arranged by patient: the patient's name heads a group of their four items, newest first.
    expect(page.get_by_role("columnheader", name=label, exact=True)).to_be_visible()
    expect(mine.get_by_role("link")).to_have_text(["Appointment Request", "Document Share", "Intake Form",
                                                   "Message"])  # newest first: the reverse of sending
    page.get_by_label("Arranged By:").select_option(label="Request")
    expect(page.get_by_role("columnheader", name=label, exact=True)).to_have_count(0)
    expect(mine.get_by_role("link")).to_have_text(in_seed_order)

    # The message: read, reply, forward to the limited user, mark reviewed.
    before_pending, before_reviewed = _pending_and_reviewed(app_server)
    page.get_by_role("link", name=re.compile(rf"^Message from {re.escape(label)}")).click()
    expect(page).to_have_url(re.compile(rf"/staff/tasks/{items[TaskKind.MESSAGE].id}/?$"))
    expect(page.get_by_text("My inhaler is nearly empty. Could you send a refill?")).to_be_visible()
    assert _violations(page) == []
    page.get_by_label("Reply").fill("We sent the refill to your pharmacy.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_text("Reply sent.")).to_be_visible()
    expect(page.get_by_text("We sent the refill to your pharmacy.", exact=True)).to_be_visible()
    page.get_by_role("button", name="Forward").click()
    page.get_by_label("Forward to").select_option(label=f"Lee {tag} ({limited})")
    page.get_by_label("Note (optional)").fill("Could you confirm the pharmacy?")
    page.get_by_role("button", name="Send forward").click()
    expect(page.get_by_text(f"Forwarded to Lee {tag}")).to_be_visible()
    page.get_by_role("button", name="Mark Reviewed").click()
    expect(page.get_by_text("Marked reviewed.")).to_be_visible()
    goto(page, "/staff/tasks")
    expect(page.locator("#pending-count")).to_have_text(str(before_pending - 1))
    expect(page.locator("#reviewed-count")).to_have_text(str(before_reviewed + 1))
    _expect_counts(page, app_server)

    # The intake form: two changes, one merged by itself, then Merge all.
    goto(page, f"/staff/tasks/{items[TaskKind.INTAKE_FORM].id}")
    expect(page.get_by_role("columnheader", name="Field Name")).to_be_visible()
    expect(page.get_by_role("columnheader", name="Current Value")).to_be_visible()
    expect(page.get_by_role("columnheader", name="New Value")).to_be_visible()
    expect(page.get_by_text("EMR changes exist")).to_be_visible()
    assert _violations(page) == []
    page.get_by_role("button", name="Merge City").click()
    expect(page.get_by_text("Merged into the chart.")).to_be_visible()
    page.get_by_role("button", name="Merge all").click()
    expect(page.get_by_text("All information is up to date")).to_be_visible()
    with db.session_scope(app_server.db_url) as session:
        chart = session.get(Patient, patient.id)
        assert (chart.city, chart.pharmacy) == ("Nashville", "Corner Drugs, 5th Ave")
    page.get_by_role("button", name="Mark Reviewed").click()
    expect(page.get_by_text("Marked reviewed.")).to_be_visible()

    # The document: preview and download.
    goto(page, f"/staff/tasks/{items[TaskKind.DOCUMENT_SHARE].id}")
    page.get_by_role("button", name="Preview lab-results.pdf").click()
    preview = page.locator("#document-preview object[type='application/pdf']")
    expect(preview).to_have_count(1)
    # The preview's bytes come from the file route, for this signed-in user only.
    source = app_server.url(preview.get_attribute("data"))
    served = page.request.get(source)
    assert served.ok and served.body().startswith(b"%PDF") and served.headers["cache-control"] == "no-store"
    with pytest.raises(urllib.error.HTTPError) as refused:  # no session cookie: nothing
        urllib.request.urlopen(source, timeout=10)
    assert refused.value.code == 404
    with page.expect_download() as download:
        page.get_by_role("button", name="Download lab-results.pdf").click()
    assert download.value.suggested_filename == "lab-results.pdf"
    assert _violations(page) == []

    # The appointment request: requested time and reason; mark scheduled with what was booked.
    goto(page, f"/staff/tasks/{items[TaskKind.APPOINTMENT_REQUEST].id}")
    expect(page.get_by_text("Follow-up on my asthma")).to_be_visible()
    page.get_by_label("Message to the patient").fill("Booked for the first morning you asked for.")
    page.get_by_label("Appointment date").fill((datetime.now(timezone.utc).date() + timedelta(days=9)).isoformat())
    page.get_by_label("Appointment time").fill("09:15")
    page.get_by_label("Provider").fill("Dr. Ana Ruiz")
    page.get_by_label("Location").fill("Riverside Clinic")
    page.get_by_role("button", name="Mark scheduled").click()
    expect(page.get_by_text("Marked scheduled")).to_be_visible()
    assert _violations(page) == []
    assert {"task.open", "task.reply", "task.forward", "task.reviewed", "intake.merge"} <= set(
        _actions(app_server, full))

    # --- limited: security message on the queue; the forwarded message opens and is answered --
    lee_page = new_context().new_page()
    _sign_in_as(lee_page, limited)
    lee_page.get_by_role("navigation", name="Staff").get_by_role("link", name="My Tasks").click()
    expect(lee_page.get_by_role("link", name="Communication (1)")).to_be_visible()
    lee_page.get_by_role("button", name=re.compile(r"^Patient Portal \(\d+\)$")).click()
    expect(lee_page.get_by_role("alert").filter(has_text="Security:")).to_be_visible()
    expect(lee_page.get_by_role("heading", name="Patient Portal Review")).to_have_count(0)
    assert _violations(lee_page) == []
    goto(lee_page, f"/staff/tasks/{items[TaskKind.INTAKE_FORM].id}")  # not forwarded to them
    expect(lee_page.get_by_text("You do not have access to this item.")).to_be_visible()
    goto(lee_page, "/staff/tasks")
    lee_page.get_by_role("link", name="Communication (1)").click()
    expect(lee_page).to_have_url(re.compile(r"/staff/communication/?$"))
    expect(lee_page.get_by_text("Could you confirm the pharmacy?")).to_be_visible()
    assert _violations(lee_page) == []
    lee_page.get_by_role("link", name=f"Open Message for {label}").click()
    expect(lee_page).to_have_url(re.compile(rf"/staff/tasks/{items[TaskKind.MESSAGE].id}/?$"))
    expect(lee_page.get_by_text("We sent the refill to your pharmacy.", exact=True)).to_be_visible()
    expect(lee_page.get_by_role("button", name="Mark Reviewed")).to_have_count(0)
    lee_page.get_by_label("Reply").fill("Confirmed: Corner Drugs on 5th Ave.")
    lee_page.get_by_role("button", name="Send reply").click()
    expect(lee_page.get_by_text("Reply sent.")).to_be_visible()
    with db.session_scope(app_server.db_url) as session:
        bodies = [p.body for p in session.exec(select(TaskPost).where(
            TaskPost.task_id == items[TaskKind.MESSAGE].id).order_by(col(TaskPost.id)))]
        forward = session.exec(select(TaskForward).where(TaskForward.task_id == items[TaskKind.MESSAGE].id)).one()
        assert bodies[-1] == "Confirmed: Corner Drugs on 5th Ave."
        assert forward.opened_at is not None and forward.done_at is not None
    assert {"task.open", "task.reply"} <= set(_actions(app_server, limited))
    goto(lee_page, "/staff/communication")
    expect(lee_page.get_by_role("link", name="Communication (0)")).to_be_visible()

    # --- neither permission: no My Tasks, direct URLs refused ------------------------------
    ned_page = new_context().new_page()
    _sign_in_as(ned_page, nobody)
    expect(ned_page.get_by_role("navigation", name="Staff").get_by_role("link", name="My Tasks")).to_have_count(0)
    goto(ned_page, "/staff/tasks")
    expect(ned_page.get_by_text("You do not have access to My Tasks.").first).to_be_visible()
    expect(ned_page.get_by_role("table")).to_have_count(0)
    goto(ned_page, f"/staff/tasks/{items[TaskKind.MESSAGE].id}")
    expect(ned_page.get_by_text("You do not have access to My Tasks.").first).to_be_visible()
    expect(ned_page.get_by_text("We sent the refill")).to_have_count(0)
