"""Issue 11 item 7, by what a visitor reads: a number abroad is refused beside the field on Create
Account and Forgot password (until the practice allows its country in Portal Settings), and an
existing user ID entered again and again gets one email, with the same answer every time."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from portal_app import db, routes
from portal_app.models import PracticeSettings
from tests.e2e.conftest import AppServer, goto
from tests.e2e.helpers import create_patient, give_account, messages_to, staff_sign_in, unique_tag, wait_until

CREATE_ACCOUNT = "/setup?p=createAccount"
UK_MOBILE = "+44 7400 123456"
UK_E164 = "+447400123456"
REFUSED = ("We can send text messages only to numbers in the United States. Enter your email address instead, "
           "or call the practice at")


def _create_account(page: Page, user_id: str) -> None:
    goto(page, CREATE_ACCOUNT)
    expect(page.get_by_role("heading", name="Create your portal account")).to_be_visible()
    page.get_by_label("Email or mobile phone number").fill(user_id)
    page.get_by_role("button", name="Create Account").click()


def _set_countries(app_server: AppServer, codes: str) -> None:
    with db.session_scope(app_server.db_url) as session:
        row = session.get(PracticeSettings, 1)
        row.sms_countries = codes
        session.add(row)
        session.commit()


def test_a_number_abroad_is_refused_until_the_practice_allows_its_country(
        app_server: AppServer, page: Page, new_context) -> None:
    _create_account(page, UK_MOBILE)
    field = page.get_by_label("Email or mobile phone number")
    expect(page.get_by_text(REFUSED)).to_be_visible()
    expect(field).to_have_attribute("aria-describedby", re.compile("user_id-error"))
    expect(field).to_have_value(UK_MOBILE)  # what was typed stays

    goto(page, routes.FORGOT)
    page.get_by_label("Email or mobile phone number").fill(UK_MOBILE)
    page.get_by_label("Date of birth").fill("1980-04-02")
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_text(REFUSED)).to_be_visible()
    assert messages_to(app_server, UK_E164) == []

    staff = new_context().new_page()
    staff_sign_in(staff)
    goto(staff, routes.PORTAL_SETTINGS)
    countries = staff.get_by_label("Countries allowed for text messages")
    expect(countries).to_have_value("US")
    countries.fill("US, England")
    staff.get_by_role("button", name="Save settings").click()
    expect(staff.get_by_text("Not a country code: ENGLAND.")).to_be_visible()
    expect(countries).to_have_value("US, England")
    try:
        countries.fill("us, gb")
        staff.get_by_role("button", name="Save settings").click()
        expect(staff.get_by_text("Portal settings saved.")).to_be_visible()
        expect(staff.get_by_label("Countries allowed for text messages")).to_have_value("US,GB")

        _create_account(page, UK_MOBILE)
        expect(page.get_by_text(f"We sent a message to {UK_E164}.")).to_be_visible()
        texts = wait_until(lambda: messages_to(app_server, UK_E164), what=f"a text to {UK_E164}")
        assert [m.channel for m in texts] == ["sms"]
    finally:
        _set_countries(app_server, "US")


def test_an_existing_user_id_entered_again_and_again_gets_one_email(app_server: AppServer, page: Page) -> None:
    patient = create_patient(app_server, first_name="Odile", last_name=f"Marchetti-{unique_tag()}",
                             portal_enabled=True)
    user_id = give_account(app_server, patient)
    for _ in range(4):
        _create_account(page, user_id)
        expect(page.get_by_text(f"We sent a message to {user_id}. Follow its link within 30 minutes.")
               ).to_be_visible()
    # A request for another address, sent after the four, marks when theirs would have arrived.
    marker = f"marker.{unique_tag().lower()}@example.net"
    _create_account(page, marker)
    expect(page.get_by_text(f"We sent a message to {marker}.")).to_be_visible()
    wait_until(lambda: messages_to(app_server, marker), what=f"a message to {marker}")
    assert [m.kind for m in messages_to(app_server, user_id)] == ["account_exists"]
