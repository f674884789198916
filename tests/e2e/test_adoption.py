"""Portal Adoption end to end: an invitation fails to send, the manager sees the patient under
"Email failed", sends a connection key by text with one click, the patient sets up their account
with that key, and the board's numbers move.

The failed send is made the way the server would make it (the invitation service, with an email
transport that refuses), in the test process against the server's database: the e2e server has
no switch that breaks its mail, and should not have one.
"""

from __future__ import annotations

import re
import secrets

from playwright.sync_api import Locator, Page, expect
from sqlmodel import select

from portal_app import db
from portal_app.models import OutboxMessage, Patient
from portal_app.notify import transports
from portal_app.services import audit, invitations
from tests.e2e.conftest import AppServer, goto, wait_hydrated
from tests.e2e.helpers import (
    PASSPHRASE,
    SeededPatient,
    audit_events,
    create_patient,
    expect_portal_home,
    messages_to,
    newest_link,
    staff_sign_in,
    unique_tag,
    wait_until,
)

_KEY = re.compile(r"connection key is ([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})")


class _RefusingMail:
    """The mail provider turns the message away (a bounce at the door)."""

    name = "refusing"

    def send(self, message, *, sender: str) -> str:
        raise transports.SendFailed("550 mailbox unavailable")


def _textable_patient(app_server: AppServer) -> tuple[SeededPatient, str]:
    """A chart with access enabled, email and texts allowed, and a mobile number of its own."""
    patient = create_patient(app_server, first_name="Odalys", last_name=f"Ferreira-{unique_tag()}",
                             portal_enabled=True)
    mobile = f"+1615555{secrets.randbelow(100) + 100:04d}"
    with db.session_scope(app_server.db_url) as session:
        row = session.get(Patient, patient.id)
        row.mobile_phone, row.allow_sms, row.allow_email = mobile, True, True
        session.add(row)
        session.commit()
    return patient, mobile


def _invitation_fails(app_server: AppServer, patient: SeededPatient) -> None:
    transports.use("email", _RefusingMail())
    try:
        with db.session_scope(app_server.db_url) as session:
            result = invitations.send_invitation_or_reset(session=session, patient_id=patient.id,
                                                          actor=audit.Actor.system("e2e test"))
    finally:
        transports.use("email", None)
    assert result.status == "failed", result
    with db.session_scope(app_server.db_url) as session:
        failed = session.exec(select(OutboxMessage).where(OutboxMessage.patient_id == patient.id)).all()
        assert [m.status.value for m in failed] == ["failed"]


def _funnel_count(page: Page, stage: str) -> int:
    funnel = page.get_by_role("region", name="Funnel")
    row = funnel.get_by_role("row").filter(has=page.get_by_role("rowheader", name=stage, exact=True))
    return int(row.get_by_role("cell").first.inner_text())


def _show_reason(page: Page, reason: str) -> None:
    """Pick a reason in the "Reason" filter by its words (the option reads "Email failed (3)")."""
    select = page.get_by_role("region", name="Why stuck").get_by_label("Reason")
    label = select.locator("option", has_text=re.compile(rf"^{re.escape(reason)} \(\d+\)$")).inner_text()
    select.select_option(label=label)
    expect(select.locator("option:checked")).to_have_text(label)


def _stuck_row(page: Page, patient: SeededPatient) -> Locator:
    stuck = page.get_by_role("region", name="Why stuck")
    return stuck.get_by_role("row").filter(has=page.get_by_role("link", name=patient.list_name, exact=True))


def _open_board(page: Page) -> None:
    page.get_by_role("link", name="Portal Adoption").click()
    expect(page.get_by_role("heading", name="Portal Adoption", level=1)).to_be_visible()
    wait_hydrated(page)
    expect(page.get_by_role("region", name="Funnel").get_by_role("table")).to_contain_text("Account created")


def _page_through_for(page: Page, patient: SeededPatient) -> Locator:
    """The patient's row, following "Next page" while it is not on the page shown."""
    row = _stuck_row(page, patient)
    following = page.get_by_role("navigation", name="Pages of stuck patients").get_by_role("button",
                                                                                          name="Next page")
    for _ in range(40):
        if row.count() == 1:
            return row
        if following.is_disabled():
            break
        status = page.get_by_role("navigation", name="Pages of stuck patients").inner_text()
        following.click()
        expect(page.get_by_role("navigation", name="Pages of stuck patients")).not_to_have_text(status)
    expect(row).to_have_count(1)
    return row


def _set_up_with_texted_key(app_server: AppServer, new_context, patient: SeededPatient, mobile: str) -> None:
    """The patient, in a browser of their own, creates an account with the key from the text."""
    text = wait_until(lambda: [m for m in messages_to(app_server, mobile) if m.kind == "connection_key"],
                      what="the connection key text")[-1]
    key = _KEY.search(text.body_text).group(1)
    user_id = f"odalys.{unique_tag().lower()}@example.net"
    patient_page = new_context().new_page()
    goto(patient_page, "/setup?p=createAccount")
    expect(patient_page.get_by_role("heading", name="Create your portal account")).to_be_visible()
    patient_page.get_by_label("Email or mobile phone number").fill(user_id)
    patient_page.get_by_role("button", name="Create Account").click()
    expect(patient_page.get_by_text(f"We sent a message to {user_id}.")).to_be_visible()
    goto(patient_page, newest_link(app_server, user_id, kind="verification"))
    patient_page.get_by_role("button", name="Yes").click()
    patient_page.get_by_label("Connection key", exact=True).fill(key)
    patient_page.get_by_role("button", name="Next").click()
    expect(patient_page.get_by_role("heading", name="Verify your details")).to_be_visible()
    patient_page.get_by_label("Last name").fill(patient.last_name)
    patient_page.get_by_label("Date of birth").fill(patient.dob.isoformat())
    patient_page.get_by_label("My own chart (I am the patient)").check()
    patient_page.get_by_role("button", name="Connect").click()
    expect(patient_page.get_by_role("heading", name="Create a password")).to_be_visible()
    patient_page.get_by_label("Password", exact=True).fill(PASSPHRASE)
    patient_page.get_by_label("Confirm password").fill(PASSPHRASE)
    patient_page.get_by_role("button", name="Finish").click()
    expect_portal_home(patient_page, patient)


def test_failed_invitation_to_a_texted_key_to_an_account(app_server: AppServer, page: Page, new_context) -> None:
    patient, mobile = _textable_patient(app_server)
    _invitation_fails(app_server, patient)

    staff_sign_in(page)
    _open_board(page)
    accounts_before = _funnel_count(page, "Account created")

    # The patient is listed under "Email failed", with why, and the one-click step is a text.
    _show_reason(page, "Email failed")
    row = _page_through_for(page, patient)
    expect(row).to_contain_text(patient.chart_number)
    expect(row).to_contain_text("The last email could not be delivered.")
    step = row.get_by_role("button", name="Send a connection key by text")
    step.click()
    expect(row.get_by_role("status")).not_to_have_text("")
    wait_until(lambda: audit_events(app_server, action="adoption.next_step"), what="the step's audit event")

    _set_up_with_texted_key(app_server, new_context, patient, mobile)

    # Back on the board: one more account, and the patient is no longer stuck on the email.
    goto(page, "/staff/adoption")
    expect(page.get_by_role("heading", name="Portal Adoption", level=1)).to_be_visible()
    funnel = page.get_by_role("region", name="Funnel")
    expect(funnel.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Account created", exact=True))
           .get_by_role("cell").first).to_have_text(str(accounts_before + 1))
    _show_reason(page, "Email failed")
    expect(page.get_by_role("region", name="Why stuck").get_by_role("table")).to_be_visible()
    following = page.get_by_role("navigation", name="Pages of stuck patients").get_by_role("button",
                                                                                          name="Next page")
    expect(_stuck_row(page, patient)).to_have_count(0)
    while following.is_enabled():  # on no page of the list
        following.click()
        expect(_stuck_row(page, patient)).to_have_count(0)
