"""The Audit Log as an auditor reads it (issue 11 item 4): opening an Outbox message (its body
holds live links) is on record for the patient, and a password typed into the Username box of a
failed sign-in is not (the row says "sign-in attempt")."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from portal_app import db, routes
from portal_app.models import OutboxMessage
from portal_app.services.staff_auth import SIGN_IN_FAILED
from tests.e2e.conftest import AppServer, goto
from tests.e2e.helpers import create_patient, staff_sign_in, unique_tag


def _audit_for(page: Page, chart_number: str) -> None:
    goto(page, routes.AUDIT)
    page.get_by_label("Patient (chart number or patient ID)").fill(chart_number)
    page.get_by_role("button", name="Filter by patient").click()
    expect(page.get_by_role("status").filter(has_text="Showing events for")).to_be_visible()


def test_opening_an_outbox_message_shows_in_the_patients_audit_log(app_server: AppServer, page: Page) -> None:
    patient = create_patient(app_server, first_name="Olga", last_name=f"Outbox{unique_tag()}", portal_enabled=True)
    with db.session_scope(app_server.db_url) as session:
        message = OutboxMessage(channel="email", kind="invitation", to_address=patient.email,
                                subject="Set up your portal account", patient_id=patient.id,
                                body_text="Open https://portal.example/setup?token=e2e-live-link",
                                idempotency_key=f"e2e-{unique_tag(12)}")
        session.add(message)
        session.commit()
        message_id = message.id

    staff_sign_in(page)
    goto(page, routes.OUTBOX)
    page.get_by_role("button", name=f"View message #{message_id}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("token=e2e-live-link")
    dialog.get_by_role("button", name="Close").click()

    _audit_for(page, patient.chart_number)
    row = page.get_by_role("row").filter(has_text="outbox.view_body")
    expect(row).to_contain_text(f"message #{message_id} (invitation)")
    expect(row).to_contain_text("staff: ")
    expect(page.get_by_text("e2e-live-link")).to_have_count(0)  # the link itself is never logged


def test_a_password_typed_as_the_username_is_not_in_the_audit_log(app_server: AppServer, page: Page) -> None:
    typed = f"Wrong Box Secret {unique_tag()}"
    goto(page, "/staff/login")
    page.get_by_label("Username").fill(typed)
    page.get_by_label("Password", exact=True).fill("not a password either")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(SIGN_IN_FAILED)).to_be_visible()

    staff_sign_in(page)
    goto(page, routes.AUDIT)
    row = page.get_by_role("row").filter(has_text="staff.sign_in_failed").first
    expect(row).to_contain_text("sign-in attempt (unknown user)")
    expect(page.get_by_text(re.compile(re.escape(typed), re.I))).to_have_count(0)
