"""Patient access from the sign-in side: "Forgot password" gives nothing away, and a patient
whose portal access staff disable is signed out and cannot sign in again."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import AppServer, goto
from tests.e2e.helpers import (
    GREEN_RGB,
    PASSPHRASE,
    RED_RGB,
    audit_events,
    create_patient,
    find_in_onboarding,
    give_account,
    messages_to,
    next_step_after_session_ended,
    open_sessions,
    patient_sign_in,
    portal_enabled,
    signed_in_elsewhere,
    staff_sign_in,
    unique_tag,
    wait_until,
)

FORGOT_SENT = ("If that email or mobile number and date of birth match an account or a chart with portal "
               "access, we have sent a link")
SIGN_IN_FAILED = ("That user ID and password do not match an account that can sign in. If you have tried "
                  "several times, wait 15 minutes or use Forgot password. A temporary password from the "
                  "practice works for 3 days; one that is a token you read to the practice stops working "
                  "after 5 wrong tries. Then use Forgot password or call the practice at (555) 010-0100.")


def _ask_for_link(page: Page, email: str, dob: str) -> str:
    """Send the "Forgot password" form; returns everything the page then shows in <main>."""
    goto(page, "/forgot")
    page.get_by_label("Email or mobile phone number").fill(email)
    page.get_by_label("Date of birth").fill(dob)
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_text(FORGOT_SENT)).to_be_visible()
    expect(page.get_by_label("Email or mobile phone number")).to_have_count(0)  # the form is gone
    return page.get_by_role("main").inner_text()


def test_forgot_password_answers_the_same_for_known_and_unknown_email(
        app_server: AppServer, page: Page) -> None:
    known = create_patient(app_server, first_name="Odalys", last_name=f"Ferreira-{unique_tag()}",
                           portal_enabled=True)
    give_account(app_server, known)
    unknown_email = f"nobody.{unique_tag().lower()}@example.net"
    dob = known.dob.isoformat()

    shown_for_unknown = _ask_for_link(page, unknown_email, dob)
    shown_for_known = _ask_for_link(page, known.email, dob)

    assert shown_for_known == shown_for_unknown
    expect(page).to_have_url(re.compile(r"/forgot/?$"))
    # The work happens after the answer; each request is logged once it is done.
    for email in (unknown_email, known.email):
        wait_until(lambda email=email: audit_events(app_server, action="portal.self_service_request",
                                                    actor_label=email),
                   what=f"the request for {email} to be handled")
    sent = messages_to(app_server, known.email)
    assert [m.kind for m in sent] == ["reset"]  # the account exists: a reset link
    assert re.search(r"/setup\?p=reset&token=", sent[0].body_text)
    assert messages_to(app_server, unknown_email) == []


def test_disabled_patient_is_signed_out_and_cannot_sign_in(
        app_server: AppServer, page: Page, new_context) -> None:
    patient = create_patient(app_server, first_name="Leocadia", last_name=f"Brannigan-{unique_tag()}",
                             portal_enabled=True)
    patient_page, user_id = signed_in_elsewhere(app_server, new_context, patient)

    # Staff click the green rectangle and confirm.
    staff_sign_in(page)
    row = find_in_onboarding(page, patient)
    green = row.get_by_role("button", name=f"Disable portal access for {patient.list_name}")
    expect(green).to_have_css("background-color", GREEN_RGB)
    green.click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog.get_by_role("heading")).to_have_text(f"Disable portal access for {patient.list_name}?")
    dialog.get_by_role("button", name="Disable access").click()
    expect(dialog).to_be_hidden()
    red = row.get_by_role("button", name=f"Enable portal access for {patient.list_name}")
    expect(red).to_have_css("background-color", RED_RGB)
    assert portal_enabled(app_server, patient) is False
    assert open_sessions(app_server, user_id) == 0

    # The patient's open session has ended: their next step lands on the sign-in page.
    next_step_after_session_ended(patient_page)
    expect(patient_page).to_have_url(re.compile(r"/login/?$"))
    expect(patient_page.get_by_role("button", name="Sign in")).to_be_visible()

    # Signing in again fails with the one message every failure gets.
    patient_sign_in(patient_page, user_id, PASSPHRASE)
    alert = patient_page.get_by_role("alert")
    expect(alert).to_have_text(SIGN_IN_FAILED)
    expect(patient_page).to_have_url(re.compile(r"/login/?$"))
    patient_sign_in(patient_page, user_id, "not the password at all 77")
    expect(alert).to_have_text(SIGN_IN_FAILED)
    patient_sign_in(patient_page, f"nobody.{unique_tag().lower()}@example.net", PASSPHRASE)
    expect(alert).to_have_text(SIGN_IN_FAILED)
    expect(patient_page).to_have_url(re.compile(r"/login/?$"))
