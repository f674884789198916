"""Chart > Patient Portal > "Connected portal accounts": staff disconnect an account (its open
portal session ends at once) and void an outstanding invitation. Also the pieces of the same
issue around them: a letter's PDF downloads from the outbox, and the Connect Patient numbers in
Portal Settings refuse out-of-range values beside the field."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from portal_app import db, routes
from portal_app.models import OutboxMessage
from portal_app.services import audit, invitations
from tests.e2e.conftest import AppServer, goto
from tests.e2e.helpers import (
    audit_events,
    create_patient,
    give_account,
    next_step_after_session_ended,
    open_sessions,
    signed_in_elsewhere,
    staff_sign_in,
    unique_tag,
    wait_until,
)


def _section(page: Page):
    section = page.get_by_role("region", name="Connected portal accounts")
    expect(section.get_by_role("heading", name="Connected portal accounts")).to_be_visible()
    return section


def test_staff_disconnect_ends_the_patients_portal_session(
        app_server: AppServer, page: Page, new_context) -> None:
    patient = create_patient(app_server, first_name="Philippa", last_name=f"Okonkwo-{unique_tag()}",
                             portal_enabled=True)
    patient_page, user_id = signed_in_elsewhere(app_server, new_context, patient)

    staff_sign_in(page)
    goto(page, routes.patient_chart(patient.id))
    section = _section(page)
    table = section.get_by_role("table", name="Accounts connected to this chart")
    row = table.get_by_role("row").filter(has=page.get_by_role("rowheader", name=user_id))
    expect(row).to_have_count(1)
    expect(row.get_by_role("cell", name="Self", exact=True)).to_be_visible()
    expect(row.get_by_role("cell", name="staff (manual setup)")).to_be_visible()  # requested by

    row.get_by_role("button", name=f"Disconnect {user_id}").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog.get_by_role("heading")).to_have_text(f"Disconnect {user_id} (Self)?")
    dialog.get_by_role("button", name="Disconnect account").click()
    expect(dialog).to_be_hidden()
    expect(section.get_by_role("status")).to_contain_text(f"Disconnected {user_id} (Self)")
    expect(section.get_by_text("No portal account is connected to this chart.")).to_be_visible()
    assert open_sessions(app_server, user_id) == 0
    [event] = [e for e in audit_events(app_server, action="chart.disconnect") if e.patient_id == patient.id]
    assert "connected -> disconnected" in event.detail

    # The patient's open page: the next navigation lands on the sign-in page.
    next_step_after_session_ended(patient_page)
    expect(patient_page).to_have_url(re.compile(r"/login/?$"))
    expect(patient_page.get_by_role("button", name="Sign in")).to_be_visible()


def test_pending_invitation_is_listed_by_channel_and_expiry_and_void_removes_it(
        app_server: AppServer, page: Page) -> None:
    patient = create_patient(app_server, first_name="Ignatius", last_name=f"Valdivia-{unique_tag()}",
                             portal_enabled=True)
    with db.session_scope(app_server.db_url) as session:
        invitations.send_invitation_or_reset(session=session, patient_id=patient.id,
                                             actor=audit.Actor.system("e2e test"))
        session.commit()

    staff_sign_in(page)
    goto(page, routes.patient_chart(patient.id))
    section = _section(page)
    pending = section.get_by_role("table", name="Pending tokens, keys and links")
    row = pending.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Invitation"))
    expect(row).to_have_count(1)
    expect(row.get_by_role("cell", name="Email", exact=True)).to_be_visible()
    expect(row).to_contain_text(patient.email)
    when = re.compile(r"^\d{2}\/\d{2}\/\d{4} \d{1,2}:\d{2}[AP]M \(UTC\)$")
    expect(row.get_by_role("cell", name=when)).to_have_count(2)
    expect(row.get_by_role("button", name="Resend Invitation by Email")).to_be_visible()
    # No secret value anywhere on the page.
    assert "token=" not in page.content()

    row.get_by_role("button", name="Void Invitation by Email").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog.get_by_role("heading")).to_have_text(
        f"Void Invitation sent by email to {patient.email.lower()}?")
    dialog.get_by_role("button", name="Void it").click()
    expect(dialog).to_be_hidden()
    expect(section.get_by_role("status")).to_contain_text("Invitation voided")
    expect(pending).to_have_count(0)
    expect(section.get_by_text("No pending tokens, keys or links.")).to_be_visible()
    wait_until(lambda: [e for e in audit_events(app_server, action="secret.void")
                        if e.patient_id == patient.id], what="the void to be audited")


def test_cancel_leaves_the_connection_alone(app_server: AppServer, page: Page) -> None:
    patient = create_patient(app_server, first_name="Rosalind", last_name=f"Achterberg-{unique_tag()}",
                             portal_enabled=True)
    user_id = give_account(app_server, patient)
    staff_sign_in(page)
    goto(page, routes.patient_chart(patient.id))
    section = _section(page)
    section.get_by_role("button", name=f"Disconnect {user_id}").click()
    dialog = page.get_by_role("alertdialog")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    page.reload()
    section = _section(page)
    expect(section.get_by_role("rowheader", name=user_id)).to_be_visible()


def test_outbox_shows_the_channel_and_a_letter_pdf_downloads(app_server: AppServer, page: Page) -> None:
    pdf = b"%PDF-1.4\n% e2e letter " + unique_tag().encode() + b"\n%%EOF\n"
    with db.session_scope(app_server.db_url) as session:
        message = OutboxMessage(channel="letter", kind="connection_key_letter",
                                to_address=f"{unique_tag()} Street 1, Fairview", subject="Letter",
                                body_text="(printed letter)", idempotency_key=f"e2e-{unique_tag(12)}",
                                attachment=pdf)
        session.add(message)
        session.commit()
        message_id = message.id

    staff_sign_in(page)
    goto(page, routes.OUTBOX)
    button = page.get_by_role("button", name=f"Download PDF of letter #{message_id}")
    row = page.get_by_role("row").filter(has=button)
    expect(row.get_by_role("cell", name="letter", exact=True)).to_be_visible()
    with page.expect_download() as info:
        button.click()
    download = info.value
    assert download.suggested_filename == f"letter-{message_id}.pdf"
    with open(download.path(), "rb") as handle:
        assert handle.read() == pdf


def test_settings_refuse_an_out_of_range_token_length_beside_the_field(
        app_server: AppServer, page: Page) -> None:
    staff_sign_in(page)
    goto(page, routes.PORTAL_SETTINGS)
    field = page.get_by_label("Token length (digits)")
    expect(field).to_have_value("6")
    # The risk of a shorter token, in plain words beside the field.
    expect(field).to_have_accessible_description(re.compile(
        r"default 6\).*stops working after 5 wrong sign-in tries.*with 4 digits about 1 in 2,000"))
    expect(page.get_by_label("Connection key lifetime, letter (days)")).to_have_value("21")
    field.fill("9")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Token length must be between 4 and 8.")).to_be_visible()
    expect(field).to_have_attribute("aria-describedby", re.compile("token_length-error"))
    expect(field).to_have_value("9")  # what was typed stays
