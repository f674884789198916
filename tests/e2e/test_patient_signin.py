"""The patient sign-in side, by what a patient reads: a phone user ID resets its password by text,
the sign-in page's two ways in, the one failure message, the forced password change, and the
sentences after a refused area or a turned-off account."""

from __future__ import annotations

import re
import secrets

from playwright.sync_api import Page, expect
from sqlmodel import col, select

from portal_app import db
from portal_app.models import AccountStatus, PortalAccount, PortalConnection
from tests.e2e.conftest import AppServer, goto
from tests.e2e.helpers import (
    OTHER_PASSPHRASE,
    PASSPHRASE,
    create_patient,
    expect_portal_home,
    give_account,
    messages_to,
    patient_sign_in,
    unique_tag,
    wait_until,
)


def _phone() -> str:
    """A valid, fictional US mobile number (555-01xx), different for each test."""
    return f"+1201555{secrets.randbelow(100) + 100:04d}"


def test_phone_user_id_gets_a_reset_link_by_text(app_server: AppServer, page: Page) -> None:
    patient = create_patient(app_server, first_name="Teodora", last_name=f"Vance-{unique_tag()}",
                             portal_enabled=True)
    phone = _phone()
    give_account(app_server, patient, username=phone)

    goto(page, "/login")
    expect(page.get_by_role("link", name="Forgot password or set up my account")).to_have_attribute(
        "href", "/forgot")
    goto(page, "/forgot")
    page.get_by_label("Email or mobile phone number").fill(f"(201) 555-{phone[-4:]}")
    page.get_by_label("Date of birth").fill(patient.dob.isoformat())
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_text("by text message to that mobile number")).to_be_visible()

    texts = wait_until(lambda: messages_to(app_server, phone), what=f"a text to {phone}")
    assert [(m.channel, m.kind) for m in texts] == [("sms", "reset")]
    assert re.search(r"/setup\?p=reset&token=", texts[0].body_text)
    assert messages_to(app_server, patient.email) == []


def test_sign_in_page_offers_both_ways_in_and_one_helpful_failure(app_server: AppServer, page: Page) -> None:
    goto(page, "/login")
    expect(page.get_by_role("link", name="Forgot password or set up my account")).to_have_count(1)
    expect(page.get_by_role("link", name="Set up or reset my account")).to_have_count(0)

    patient_sign_in(page, f"nobody.{unique_tag().lower()}@example.net", PASSPHRASE)
    expect(page.get_by_role("alert")).to_have_text(
        "That user ID and password do not match an account that can sign in. If you have tried several "
        "times, wait 15 minutes or use Forgot password. A temporary password from the practice works "
        "for 3 days; one that is a token you read to the practice stops working after 5 wrong tries. Then "
        "use Forgot password or call the practice at (555) 010-0100.")

    page.get_by_role("link", name="Create an account with a connection key").click()
    expect(page).to_have_url(re.compile(r"/setup\?p=createAccount$"))
    expect(page.get_by_role("heading", name="Create your portal account", level=1)).to_be_visible()


def test_forced_change_has_no_menu_and_no_current_password(app_server: AppServer, page: Page) -> None:
    patient = create_patient(app_server, first_name="Ismena", last_name=f"Crowe-{unique_tag()}",
                             portal_enabled=True)
    user_id = give_account(app_server, patient, force_change=True)

    patient_sign_in(page, user_id, PASSPHRASE)
    expect(page).to_have_url(re.compile(r"/portal/password/?$"))
    expect(page.get_by_role("heading", name="Choose your own password", level=1)).to_be_visible()
    expect(page.get_by_text("You signed in with a temporary password from the practice.")).to_be_visible()
    expect(page.get_by_role("navigation", name="Portal")).to_have_count(0)
    expect(page.get_by_label("Current password")).to_have_count(0)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    page.get_by_label("New password", exact=True).fill(OTHER_PASSPHRASE)
    page.get_by_label("Confirm new password").fill(OTHER_PASSPHRASE)
    page.get_by_role("button", name="Change password").click()
    expect_portal_home(page, patient)
    expect(page.get_by_role("navigation", name="Portal")).to_be_visible()


def _set_permissions(app_server: AppServer, user_id: str, permissions: str) -> None:
    with db.session_scope(app_server.db_url) as session:
        connection = session.exec(
            select(PortalConnection).join(PortalAccount, col(PortalConnection.account_id) == PortalAccount.id)
            .where(PortalAccount.user_id == user_id)).one()
        connection.permissions = permissions
        session.add(connection)
        session.commit()


def test_a_refused_area_says_why_on_home(app_server: AppServer, page: Page) -> None:
    patient = create_patient(app_server, first_name="Perpetua", last_name=f"Lind-{unique_tag()}",
                             portal_enabled=True)
    user_id = give_account(app_server, patient)
    _set_permissions(app_server, user_id, "messages")
    patient_sign_in(page, user_id, PASSPHRASE)
    expect_portal_home(page, patient)

    goto(page, "/portal/documents")
    expect_portal_home(page, patient)
    expect(page.get_by_role("main").get_by_text(
        f"The Documents area is not available for {patient.portal_name}")).to_be_visible()


def test_a_turned_off_account_lands_on_sign_in_with_the_reason(app_server: AppServer, page: Page) -> None:
    patient = create_patient(app_server, first_name="Aurelio", last_name=f"Marsh-{unique_tag()}",
                             portal_enabled=True)
    user_id = give_account(app_server, patient)
    patient_sign_in(page, user_id, PASSPHRASE)
    expect_portal_home(page, patient)

    with db.session_scope(app_server.db_url) as session:
        account = session.exec(select(PortalAccount).where(PortalAccount.user_id == user_id)).one()
        account.status = AccountStatus.DISABLED
        session.add(account)
        session.commit()

    page.get_by_role("link", name="Change password").click()
    expect(page).to_have_url(re.compile(r"/login/?$"))
    expect(page.get_by_role("status").filter(
        has_text="The practice has turned off your portal account")).to_be_visible()
