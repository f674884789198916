"""Two-step verification in the browser (issue 11 item 13): an administrator must set up an
authenticator app right after the password, then signs in with its code; a used code is refused;
a recovery code works once; a colleague's reset sends them through set-up again.

The "authenticator app" is pyotp with the key read from the page's "Can't scan? Enter this key".
"""

from __future__ import annotations

import re
import time

import pyotp
from playwright.sync_api import Page, expect

from portal_app import db
from portal_app.services import staff_auth
from portal_app.services.permissions import ADMINISTRATOR
from tests.e2e.conftest import AppServer, goto
from tests.e2e.helpers import PASSPHRASE, audit_events, staff_sign_in, unique_tag
from tests.e2e.test_accessibility import _violations

ONBOARDING = re.compile(r"/staff/onboarding/?$")


def _new_admin(app_server: AppServer) -> str:
    username = f"twostep{unique_tag().lower()}"
    with db.session_scope(app_server.db_url) as session:
        staff_auth.create_staff(session=session, username=username, full_name="Tess Twostep",
                                password=PASSPHRASE, role=ADMINISTRATOR)
    return username


def _password(page: Page, username: str) -> None:
    goto(page, "/staff/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSPHRASE)
    page.get_by_role("button", name="Sign in").click()


def _sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/staff/login/?$"))


def _next_window(totp: pyotp.TOTP, used: str) -> str:
    """The app's code once it has moved past `used` (a code is accepted once only)."""
    while (code := totp.now()) == used:
        time.sleep(1)
    return code


def test_an_administrator_sets_up_two_step_verification_and_signs_in_with_codes(
        app_server: AppServer, page: Page) -> None:
    username = _new_admin(app_server)
    _password(page, username)
    # Right after the password: set-up, before any other page.
    expect(page.get_by_role("heading", name="Set up two-step verification")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    assert _violations(page) == []
    goto(page, "/staff/onboarding")
    expect(page).to_have_url(re.compile(r"/staff/login/?$"))  # no session yet
    _password(page, username)
    hint = page.get_by_text("Can't scan? Enter this key")
    key = hint.inner_text().split(":", 1)[1].replace(" ", "").strip()
    totp = pyotp.TOTP(key)
    page.get_by_label("Authentication code").fill("000000")
    page.get_by_role("button", name="Turn on and sign in").click()
    expect(page.get_by_text("That code does not match")).to_be_visible()
    first = totp.now()
    page.get_by_label("Authentication code").fill(first)
    page.get_by_role("button", name="Turn on and sign in").click()
    codes = page.get_by_role("list", name="Recovery codes").get_by_role("listitem")
    expect(codes).to_have_count(10)
    recovery = codes.first.inner_text().strip()
    page.get_by_role("button", name="I have saved my recovery codes").click()
    expect(page).to_have_url(ONBOARDING)
    _sign_out(page)

    # The second sign-in asks for the code; the one already used is refused.
    _password(page, username)
    code_field = page.get_by_label("Authentication code")
    expect(code_field).to_be_visible()
    code_field.fill(first)
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("That code is not right, or it was already used")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/staff/login/?$"))
    page.get_by_label("Authentication code").fill(_next_window(totp, first))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(ONBOARDING)
    _sign_out(page)

    # A recovery code instead of the app: once.
    _password(page, username)
    page.get_by_role("button", name="Use a recovery code").click()
    page.get_by_label("Recovery code").fill(recovery)
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(ONBOARDING)
    _sign_out(page)
    _password(page, username)
    page.get_by_role("button", name="Use a recovery code").click()
    page.get_by_label("Recovery code").fill(recovery)
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("That code is not right, or it was already used")).to_be_visible()
    assert audit_events(app_server, action="staff.recovery_code_used")


def test_a_colleague_resets_two_step_verification_and_set_up_comes_again(
        app_server: AppServer, page: Page, new_context) -> None:
    username = _new_admin(app_server)
    _password(page, username)
    key = page.get_by_text("Can't scan? Enter this key").inner_text().split(":", 1)[1].replace(" ", "").strip()
    page.get_by_label("Authentication code").fill(pyotp.TOTP(key).now())
    page.get_by_role("button", name="Turn on and sign in").click()
    page.get_by_role("button", name="I have saved my recovery codes").click()
    expect(page).to_have_url(ONBOARDING)

    admin_page = new_context().new_page()
    staff_sign_in(admin_page)
    goto(admin_page, "/staff/setup/users")
    admin_page.get_by_label("Search staff users").fill(username)
    admin_page.get_by_role("button", name="Search", exact=True).click()
    row = admin_page.get_by_role("row").filter(has=admin_page.get_by_role("rowheader", name=username, exact=True))
    expect(row.get_by_role("cell", name="On", exact=True)).to_be_visible()
    row.get_by_role("button", name=f"Reset two-step verification of {username}").click()
    expect(admin_page.get_by_text(f"Two-step verification reset for {username}")).to_be_visible()
    expect(row.get_by_role("cell", name="Off", exact=True)).to_be_visible()

    # Their session has ended; the next sign-in sets up an app again.
    goto(page, "/staff/onboarding")
    expect(page).to_have_url(re.compile(r"/staff/login/?$"))
    _password(page, username)
    expect(page.get_by_role("heading", name="Set up two-step verification")).to_be_visible()


def test_a_patient_turns_on_two_step_verification_and_signs_in_with_a_code(app_server: AppServer, page: Page) -> None:
    from tests.e2e.helpers import create_patient, expect_portal_home, give_account, patient_sign_in

    patient = create_patient(app_server, first_name="Olive", last_name=f"Otp-{unique_tag()}", portal_enabled=True)
    user_id = give_account(app_server, patient)
    patient_sign_in(page, user_id, PASSPHRASE)
    expect_portal_home(page, patient)
    page.get_by_role("link", name="Two-step verification").click()
    page.get_by_role("button", name="Set up two-step verification").click()
    hint = page.get_by_text("Can't scan? Enter this key")
    expect(hint).to_be_visible()
    assert _violations(page) == []
    totp = pyotp.TOTP(hint.inner_text().split(":", 1)[1].replace(" ", "").strip())
    first = totp.now()
    page.get_by_label("Authentication code").fill(first)
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("list", name="Recovery codes").get_by_role("listitem")).to_have_count(10)
    page.get_by_role("button", name="I have saved my recovery codes").click()
    expect(page.get_by_text("Two-step verification is on")).to_have_count(2)
    page.get_by_role("button", name="Sign out").click()

    patient_sign_in(page, user_id, PASSPHRASE)
    code = page.get_by_label("Authentication code")
    expect(code).to_be_visible()
    assert _violations(page) == []
    code.fill(_next_window(totp, first))
    page.get_by_role("button", name="Verify").click()
    expect_portal_home(page, patient)


def test_the_practice_requires_two_step_verification_of_everyone(app_server: AppServer, page: Page,
                                                                  new_context) -> None:
    from tests.e2e.helpers import create_patient, give_account, patient_sign_in

    staff_sign_in(page)
    goto(page, "/staff/setup/portal")
    switch = page.get_by_role("switch", name="Require two-step verification for everyone")
    expect(switch).not_to_be_checked()
    try:
        switch.click()
        expect(page.get_by_text("Saved: every staff user and patient now needs two-step verification")).to_be_visible()
        assert audit_events(app_server, action="settings.update")
        patient = create_patient(app_server, first_name="Rita", last_name=f"Required-{unique_tag()}",
                                 portal_enabled=True)
        user_id = give_account(app_server, patient)
        patient_page = new_context().new_page()
        patient_sign_in(patient_page, user_id, PASSPHRASE)
        expect(patient_page.get_by_role("heading", name="Set up two-step verification")).to_be_visible()
    finally:
        goto(page, "/staff/setup/portal")
        switch = page.get_by_role("switch", name="Require two-step verification for everyone")
        expect(switch).to_be_checked()
        switch.click()
        expect(page.get_by_text("Saved: two-step verification is required only of staff")).to_be_visible()
