"""Consent in the browser: the wizard refuses a key by text on a chart without text consent and
says why beside the channel; staff change both consents on the chart; bulk "Enable and invite"
skips a patient whose invitation still works; staff pages say when the portal is switched off."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import Page, expect
from sqlmodel import select

from portal_app import db
from portal_app.models import AuditEvent, OneTimeSecret, OutboxMessage, Patient, PortalAccount, SecretPurpose
from portal_app.services import audit, clock, messages, settings
from portal_app.services.invitations import send_invitation_or_reset
from portal_app.services.portal_auth import ChartView
from tests.e2e.conftest import AppServer, goto
from tests.e2e.helpers import (
    create_patient,
    give_account,
    list_rows,
    open_connect_wizard,
    search_onboarding,
    staff_sign_in,
    unique_tag,
)

NO_TEXTS = "The patient has not agreed to text messages (Allow text messages is off on the chart)."
CHART_MOBILE = "+15550104477"  # what tests.e2e.helpers.create_patient puts on every chart


def _messages_to(app_server: AppServer, address: str) -> list[OutboxMessage]:
    with db.session_scope(app_server.db_url) as session:
        return list(session.exec(select(OutboxMessage).where(OutboxMessage.to_address == address)))


def test_the_wizard_refuses_a_key_by_text_when_the_chart_does_not_allow_texts(app_server: AppServer,
                                                                              page: Page) -> None:
    patient = create_patient(app_server, first_name="Tessa", last_name=f"Notext{unique_tag()}",
                             portal_enabled=True)
    before = len(_messages_to(app_server, CHART_MOBILE))
    staff_sign_in(page)
    dialog = open_connect_wizard(page, patient, "Self")
    key = dialog.get_by_role("region", name="Generate Connection Key")

    phone = key.get_by_role("radio", name="Phone Number")
    phone.click()
    expect(phone).to_be_checked()
    channel = key.get_by_role("group", name="Send the key by")
    expect(channel).to_contain_text(NO_TEXTS)
    key.get_by_role("button", name="Send").click()
    expect(channel).to_contain_text(NO_TEXTS)
    expect(key.get_by_text("Connection key (shown once)")).to_have_count(0)
    expect(key.get_by_text(re.compile("Connection key sent to"))).to_have_count(0)
    assert len(_messages_to(app_server, CHART_MOBILE)) == before


def test_staff_change_both_consents_on_the_chart(app_server: AppServer, page: Page) -> None:
    patient = create_patient(app_server, first_name="Cora", last_name=f"Consent{unique_tag()}",
                             portal_enabled=True)
    staff_sign_in(page)
    goto(page, f"/staff/patients/{patient.id}")
    expect(page.get_by_role("heading", name=patient.list_name, level=2)).to_be_visible()
    page.get_by_role("tab", name="Demographics").click()

    texts = page.get_by_label("Allow text messages", exact=True)
    email = page.get_by_label("Allow email", exact=True)
    expect(texts).not_to_be_checked()
    expect(email).to_be_checked()
    texts.click()
    expect(page.get_by_text("Allow text messages turned on.")).to_be_visible()
    expect(texts).to_be_checked()
    email.click()
    expect(page.get_by_text("Allow email turned off.")).to_be_visible()
    expect(email).not_to_be_checked()

    with db.session_scope(app_server.db_url) as session:
        row = session.get(Patient, patient.id)
        assert (row.allow_email, row.allow_sms) == (False, True)
        details = session.exec(select(AuditEvent.detail).where(
            AuditEvent.action == "chart.consent", AuditEvent.patient_id == patient.id)
            .order_by(AuditEvent.id)).all()
    assert details == ["Allow text messages: no -> yes", "Allow email: yes -> no"]

    # The Patient Portal tab now refuses the invitation email and says why.
    page.get_by_role("tab", name="Patient Portal").click()
    expect(page.get_by_text("(the patient has not agreed to email)")).to_be_visible()
    expect(page.get_by_role("button", name="Send invitation email")).to_be_disabled()


def test_bulk_invite_skips_a_patient_whose_invitation_still_works(app_server: AppServer, page: Page) -> None:
    last = f"Bulkskip{unique_tag()}"
    invited = create_patient(app_server, first_name="Ivy", last_name=last, portal_enabled=True)
    fresh = create_patient(app_server, first_name="Fay", last_name=last)
    with db.session_scope(app_server.db_url) as session:
        send_invitation_or_reset(session=session, patient_id=invited.id, actor=audit.Actor.system("e2e test"))
        # Sent a few minutes ago: past the double-click window, and the link still works.
        row = session.exec(select(OneTimeSecret).where(OneTimeSecret.patient_id == invited.id,
                                                       OneTimeSecret.purpose == SecretPurpose.INVITATION)).one()
        row.created_at = clock.now() - timedelta(minutes=5)
        session.add(row)
        session.commit()

    staff_sign_in(page)
    search_onboarding(page, last)
    expect(list_rows(page)).to_have_count(2)
    page.get_by_label("Select all on this page").check()
    expect(page.get_by_text("2 selected")).to_be_visible()
    page.get_by_role("button", name="Enable and invite selected").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("Enable and invite 2 selected patients?")
    expect(dialog.get_by_label(re.compile("^Send again to patients already invited"))).not_to_be_checked()
    dialog.get_by_role("button", name="Start").click()

    expect(page.get_by_role("status").filter(has_text="Done.")).to_contain_text(
        "Invited 1 · skipped 1 already invited (link still valid)", timeout=30_000)
    assert len(_messages_to(app_server, invited.email)) == 1
    assert len(_messages_to(app_server, fresh.email)) == 1
    with db.session_scope(app_server.db_url) as session:
        link = session.exec(select(OneTimeSecret).where(OneTimeSecret.patient_id == invited.id)).one()
        assert link.revoked_at is None


def _message_thread(app_server: AppServer) -> int:
    """A patient with an account who sent a message; returns the queue item's id."""
    patient = create_patient(app_server, first_name="Otto", last_name=f"Offline{unique_tag()}", portal_enabled=True)
    user_id = give_account(app_server, patient)
    with db.session_scope(app_server.db_url) as session:
        account = session.exec(select(PortalAccount).where(PortalAccount.user_id == user_id)).one()
        chart = ChartView(patient_id=patient.id, name=patient.portal_name, dob="03/07/1984", access_type="self",
                          email=patient.email, mobile_phone="", home_phone="", address="", areas=("messages",))
        return messages.start_thread(session=session, account_id=account.id, chart=chart, subject="Refill",
                                     body="Could you send a refill?")


def test_staff_pages_say_when_the_portal_is_switched_off(app_server: AppServer, page: Page) -> None:
    task_id = _message_thread(app_server)
    staff_sign_in(page)
    banner = page.get_by_text("Portal switched off.")
    expect(banner).to_have_count(0)
    try:
        with db.session_scope(app_server.db_url) as session:
            config = settings.get(session=session)
            config.portal_active = False
            session.add(config)
            session.commit()
        goto(page, "/staff/onboarding")
        expect(banner).to_be_visible()
        expect(page.locator("#portal-off-banner")).to_contain_text("nothing you send from here goes out")
        goto(page, f"/staff/tasks/{task_id}")
        expect(page.locator("#portal-off-banner")).to_be_visible()
        expect(page.get_by_text("the reply is kept, but no notice goes out now")).to_be_visible()
        page.get_by_label("Reply").fill("We sent the refill.")
        page.get_by_role("button", name="Send reply").click()
        expect(page.get_by_text("Reply sent. No notice went out to the patient: the portal is switched off")
               ).to_be_visible()
    finally:
        with db.session_scope(app_server.db_url) as session:
            config = settings.get(session=session)
            config.portal_active = True
            session.add(config)
            session.commit()
    goto(page, "/staff/onboarding")
    expect(page.get_by_role("heading", name="Patient Portal Onboarding", level=1)).to_be_visible()
    expect(banner).to_have_count(0)
