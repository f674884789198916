"""A connection key by email, then the patient's whole `/setup?p=createAccount` journey.

The main journey starts with staff sending the key from the Connect Patient wizard; the other
tests make keys with the same service the wizard calls. The patient reads the key (and every
link) from the outbox, like an email.
"""

from __future__ import annotations

import re
from datetime import date

from playwright.sync_api import Page, expect
from sqlmodel import select

from portal_app import db
from portal_app.models import AccessType, PortalConnection
from portal_app.services import areas, audit, keys
from tests.e2e.conftest import AppServer, goto
from tests.e2e.helpers import (
    PASSPHRASE,
    SeededPatient,
    audit_events,
    create_patient,
    expect_portal_home,
    give_account,
    messages_to,
    newest_link,
    open_connect_wizard,
    patient_sign_in,
    staff_sign_in,
    unique_tag,
    wait_until,
)
from tests.e2e.test_accessibility import _violations

KEY_INVALID = "That key is not valid or has expired."
_KEY = re.compile(r"connection key: ([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})")


def _key_by_email(app_server: AppServer, patient: SeededPatient) -> tuple[str, str]:
    """Generate a key by email (as staff would); returns (key, link) read from the email."""
    with db.session_scope(app_server.db_url) as session:
        keys.generate_key(session=session, patient_id=patient.id, channel="email",
                          address=patient.email, requested_by="the patient",
                          actor=audit.Actor.system("e2e test"))
    message = [m for m in messages_to(app_server, patient.email) if m.kind == "connection_key"][-1]
    return _KEY.search(message.body_text).group(1), newest_link(app_server, patient.email,
                                                               kind="connection_key")


def _verified_link(page: Page, app_server: AppServer, start: str, user_id: str) -> str:
    """From the key email's link: Create Account with `user_id`; returns the verification link."""
    goto(page, start)
    expect(page.get_by_role("heading", name="Create your portal account")).to_be_visible()
    page.get_by_label("Email or mobile phone number").fill(user_id)
    page.get_by_role("button", name="Create Account").click()
    expect(page.get_by_text(f"We sent a message to {user_id}. Follow its link within 30 minutes.")
           ).to_be_visible()
    link = newest_link(app_server, user_id, kind="verification")
    assert link.startswith(app_server.base_url + "/setup?p=verify&token=")
    return link


def _staff_send_key_by_email(page: Page, patient: SeededPatient) -> str:
    """Staff: Connect Patient > Generate Connection Key > Email Address > Send; returns the key
    the dialog shows once."""
    staff_sign_in(page)
    dialog = open_connect_wizard(page, patient, "The patient, at the front desk")
    section = dialog.get_by_role("region", name="Generate Connection Key")
    expect(section.get_by_role("radio", name="Email Address")).to_be_checked()
    section.get_by_role("button", name="Send").click()
    expect(section.get_by_text(re.compile(rf"sent to {re.escape(patient.email)}"))).to_be_visible()
    shown = section.get_by_text("Connection key (shown once):")
    key = shown.inner_text().rsplit(" ", 1)[-1]
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_have_count(0)
    return key


def test_patient_creates_an_account_with_a_key_and_lands_signed_in(
        app_server: AppServer, page: Page, new_context) -> None:
    patient = create_patient(app_server, first_name="Rosalind", last_name=f"Okafor-{unique_tag()}",
                             portal_enabled=True)
    shown_to_staff = _staff_send_key_by_email(page, patient)
    message = [m for m in messages_to(app_server, patient.email) if m.kind == "connection_key"][-1]
    key = _KEY.search(message.body_text).group(1)
    assert key == shown_to_staff
    start = newest_link(app_server, patient.email, kind="connection_key")
    assert start == app_server.base_url + "/setup?p=createAccount"
    user_id = f"rosalind.{unique_tag().lower()}@example.net"

    page = new_context().new_page()  # the patient, in their own browser

    goto(page, _verified_link(page, app_server, start, user_id))
    expect(page.get_by_role("heading", name="Do you have a connection key from the practice?")
           ).to_be_visible()
    page.get_by_role("button", name="Yes").click()
    page.get_by_label("Connection key", exact=True).fill(" " + key.lower() + " ")
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_role("heading", name="Verify your details")).to_be_visible()
    page.get_by_label("Last name").fill("Nobody")
    page.get_by_label("Date of birth").fill(patient.dob.isoformat())
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_text("Say whether this is your own chart")).to_be_visible()  # asked, not assumed
    page.get_by_label("My own chart (I am the patient)").check()
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_text("Those details do not match our records. 4 tries left before this key stops "
                            "working.")).to_be_visible()
    expect(page.get_by_label("Date of birth")).to_have_value(patient.dob.isoformat())  # kept
    page.get_by_label("Last name").fill(patient.last_name.upper())
    page.get_by_role("button", name="Connect").click()

    expect(page.get_by_role("heading", name="Create a password")).to_be_visible()
    page.get_by_label("Password", exact=True).fill(PASSPHRASE)
    page.get_by_label("Confirm password").fill(PASSPHRASE)
    page.get_by_role("button", name="Finish").click()

    expect_portal_home(page, patient)
    assert audit_events(app_server, action="chart.connect")
    # The verification link was used up.
    goto(page, newest_link(app_server, user_id, kind="verification"))
    expect(page.get_by_text("This link has expired or has already been used.")).to_be_visible()


def test_five_wrong_keys_are_refused_and_void_the_link(app_server: AppServer, page: Page) -> None:
    patient = create_patient(app_server, first_name="Casimir", last_name=f"Ndiaye-{unique_tag()}",
                             portal_enabled=True)
    key, start = _key_by_email(app_server, patient)
    user_id = f"casimir.{unique_tag().lower()}@example.net"
    link = _verified_link(page, app_server, start, user_id)

    goto(page, link)
    page.get_by_role("button", name="Yes").click()
    wrong = "ABCD-EFGH-JKMN" if key != "ABCD-EFGH-JKMN" else "BCDE-FGHJ-KMNP"
    for attempt in range(1, 5):
        page.get_by_label("Connection key", exact=True).fill(wrong)
        page.get_by_role("button", name="Next").click()
        wait_until(lambda n=attempt: len(audit_events(app_server, action="key.failed",
                                                      actor_label=user_id)) == n,
                   what=f"wrong key {attempt} to be counted")
        expect(page.get_by_text(KEY_INVALID)).to_be_visible()
    page.get_by_label("Connection key", exact=True).fill(wrong)
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("This link has expired or has already been used.")).to_be_visible()
    expect(page.get_by_role("button", name="Send me a new link")).to_be_visible()
    expect(page.get_by_label("Connection key", exact=True)).to_have_count(0)

    # The right key no longer gets past this link.
    goto(page, link)
    expect(page.get_by_text("This link has expired or has already been used.")).to_be_visible()
    expect(page.get_by_role("button", name="Yes")).to_have_count(0)
    page.get_by_role("button", name="Send me a new link").click()
    expect(page.get_by_text("If we can, we have sent a new message")).to_be_visible()
    wait_until(lambda: len([m for m in messages_to(app_server, user_id)
                            if m.kind == "verification"]) == 2, what="a fresh verification link")


def test_signed_in_patient_connects_another_chart(app_server: AppServer, page: Page) -> None:
    first = create_patient(app_server, first_name="Ottilie", last_name=f"Varga-{unique_tag()}",
                           portal_enabled=True)
    user_id = give_account(app_server, first)
    second = create_patient(app_server, first_name="Ottilie", last_name=f"Varga-{unique_tag()}",
                            portal_enabled=True)
    key, _ = _key_by_email(app_server, second)

    patient_sign_in(page, user_id, PASSPHRASE)
    expect_portal_home(page, first)
    page.get_by_role("link", name="Connect another chart").click()
    expect(page.get_by_role("heading", name="Connect another chart", level=1)).to_be_visible()
    page.get_by_label("Connection key", exact=True).fill(key)
    page.get_by_label("Last name").fill(second.last_name)
    page.get_by_label("My own chart (I am the patient)").check()
    # A wrong date of birth: the key counts it and says how many tries are left (issue 15, item 16).
    page.get_by_label("Date of birth").fill("1999-09-09")
    page.get_by_role("button", name="Connect chart").click()
    expect(page.get_by_text("Those details do not match our records. 4 tries left before this key stops "
                            "working.")).to_be_visible()
    page.get_by_label("Date of birth").fill("1999-09-10")
    page.get_by_role("button", name="Connect chart").click()
    expect(page.get_by_text("3 tries left before this key stops working.")).to_be_visible()
    page.get_by_label("Date of birth").fill(second.dob.isoformat())
    page.get_by_role("button", name="Connect chart").click()

    expect(page.get_by_text(f"{second.portal_name}'s chart is now connected to your account.")
           ).to_be_visible()
    expect(page.get_by_label("Viewing:")).to_be_visible()


def test_a_mother_redeems_her_sons_key_as_someone_she_cares_for(
        app_server: AppServer, page: Page) -> None:
    tag = unique_tag()
    son = create_patient(app_server, first_name="Matteo", last_name=f"Rinaldi-{tag}", dob=date(2016, 5, 5),
                         email=f"family.{tag.lower()}@example.net", portal_enabled=True)
    key, start = _key_by_email(app_server, son)
    mother_id = f"giulia.{tag.lower()}@example.net"
    goto(page, _verified_link(page, app_server, start, mother_id))
    page.get_by_role("button", name="Yes").click()
    page.get_by_label("Connection key", exact=True).fill(key)
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Verify your details")).to_be_visible()
    page.get_by_label("Last name").fill(son.last_name)
    page.get_by_label("Date of birth").fill(son.dob.isoformat())
    page.get_by_label("The chart of someone I care for (for example my child)").check()
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_label("Your relationship to the patient")).to_have_accessible_description(
        re.compile("Choose your relationship to the patient."))
    assert _violations(page) == []
    page.get_by_label("Your relationship to the patient").select_option("parent")
    page.get_by_role("button", name="Connect").click()

    expect(page.get_by_role("heading", name="Create a password")).to_be_visible()
    page.get_by_label("Password", exact=True).fill(PASSPHRASE)
    page.get_by_label("Confirm password").fill(PASSPHRASE)
    page.get_by_role("button", name="Finish").click()
    expect_portal_home(page, son)
    with db.session_scope(app_server.db_url) as session:
        connection = session.exec(select(PortalConnection).where(PortalConnection.patient_id == son.id)).one()
        assert connection.access_type == AccessType.REPRESENTATIVE and connection.relationship == "parent"
        assert connection.permissions == areas.REPRESENTATIVE_DEFAULT_AREAS
