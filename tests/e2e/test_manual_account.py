"""Chart > Patient Portal: staff set a username and password by hand; the patient signs in
with them, must choose a new password, and reaches the portal."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.helpers import (
    OTHER_PASSPHRASE,
    PASSPHRASE,
    account_of,
    create_patient,
    expect_portal_home,
    find_in_onboarding,
    give_account,
    patient_sign_in,
    staff_sign_in,
    unique_tag,
)

OK_RGB = "rgb(26, 127, 55)"  # #1a7f37, the chart page's "valid" colour
ERROR_RGB = "rgb(179, 38, 30)"  # #b3261e


def test_staff_set_username_and_password_by_hand(app_server, page: Page, new_context) -> None:
    last_name = f"Okonkwo-{unique_tag()}"
    patient = create_patient(app_server, first_name="Marisol", last_name=last_name,
                             portal_enabled=True)
    sibling = create_patient(app_server, first_name="Teodoro", last_name=last_name,
                             portal_enabled=True)
    taken = give_account(app_server, sibling)
    fresh = f"marisol.{unique_tag().lower()}@example.com"

    # Staff find the patient in the onboarding list and open the chart by the name.
    staff_sign_in(page)
    row = find_in_onboarding(page, patient)
    row.get_by_role("link", name=patient.list_name, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/staff/patients/{patient.id}/?$"))
    expect(page.get_by_role("heading", name=patient.list_name, level=2)).to_be_visible()
    page.get_by_role("tab", name="Patient Portal").click()
    expect(page.get_by_role("tab", name="Patient Portal")).to_have_attribute("aria-selected", "true")

    # The username field says, while typing, whether the name can be used.
    username = page.get_by_label("Patient's Username")
    username.fill(taken)
    taken_message = page.get_by_text("That username is already used by another account.")
    expect(taken_message).to_have_css("color", ERROR_RGB)
    expect(username).to_have_accessible_description(re.compile("already used by another account"))
    expect(username).to_have_attribute("aria-invalid", "true")
    username.fill(fresh)
    fresh_message = page.get_by_text(f"{fresh} is valid and available.")
    expect(fresh_message).to_have_css("color", OK_RGB)
    expect(username).to_have_accessible_description(re.compile("is valid and available"))
    expect(username).to_have_attribute("aria-invalid", "false")
    expect(taken_message).to_have_count(0)

    # The checkbox reveals the password field; a new password at first sign-in is the default.
    password = page.get_by_label("Password", exact=True)
    expect(password).to_have_count(0)
    page.get_by_label("Manually set patient's portal password").click()
    expect(page.get_by_label("Manually set patient's portal password")).to_be_checked()
    expect(page.get_by_label("Require a new password at first sign-in")).to_be_checked()
    password.fill(PASSPHRASE)
    page.get_by_role("button", name="Save portal account").click()
    expect(page.get_by_text(f"Portal account saved. Username: {fresh}.")).to_be_visible()
    expect(password).to_have_count(0)  # the typed password leaves the page
    account = account_of(app_server, fresh)
    assert account is not None and account.must_change_password is True

    # The patient signs in with those credentials and must choose a new password first.
    patient_page = new_context().new_page()
    patient_sign_in(patient_page, fresh, PASSPHRASE)
    expect(patient_page).to_have_url(re.compile(r"/portal/password/?$"))
    expect(patient_page.get_by_text("You signed in with a temporary password from the practice.")).to_be_visible()
    expect(patient_page.get_by_label("Current password")).to_have_count(0)  # typed to sign in just now
    patient_page.get_by_label("New password", exact=True).fill(OTHER_PASSPHRASE)
    patient_page.get_by_label("Confirm new password").fill(OTHER_PASSPHRASE)
    patient_page.get_by_role("button", name="Change password").click()
    expect_portal_home(patient_page, patient)
    expect(patient_page.get_by_text("Your password has been changed.")).to_be_visible()

    # The new password is the one that works from now on.
    patient_page.get_by_role("button", name="Sign out").click()
    expect(patient_page).to_have_url(re.compile(r"/login/?$"))
    patient_sign_in(patient_page, fresh, OTHER_PASSPHRASE)
    expect_portal_home(patient_page, patient)
