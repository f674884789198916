"""The onboarding journey end to end: staff enable a patient and invite them from the
onboarding list; the patient follows the invitation, sets a password, signs out and in."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlmodel import select

from portal_app import db
from portal_app.models import OneTimeSecret, SecretPurpose
from portal_app.services import audit, invitations, link_checks
from tests.e2e.conftest import AppServer, goto, wait_hydrated
from tests.e2e.helpers import (
    GREEN_RGB,
    PASSPHRASE,
    RED_RGB,
    account_of,
    audit_events,
    create_patient,
    create_patients_bulk,
    expect_portal_home,
    find_in_onboarding,
    give_account,
    list_rows,
    newest_link,
    patient_count,
    patient_sign_in,
    portal_enabled,
    search_onboarding,
    staff_sign_in,
    unique_tag,
)

PAGE_SIZE = 50


def test_staff_enable_and_invite_then_patient_sets_up_and_signs_in(
        app_server: AppServer, page: Page, new_context) -> None:
    patient = create_patient(app_server, first_name="Beatriz", last_name=f"Quintero-{unique_tag()}")

    staff_sign_in(page)
    page.get_by_role("link", name="Patient Portal Onboarding").click()
    expect(page.get_by_role("heading", name="Patient Portal Onboarding", level=1)).to_be_visible()
    wait_hydrated(page)  # the list's on_load has run: what is typed next is not lost
    row = find_in_onboarding(page, patient)
    expect(row).to_contain_text(patient.dob.strftime("%m/%d/%Y"))
    expect(row).to_contain_text(patient.chart_number)
    expect(row).to_contain_text("No account")

    # Red: not enabled. One click turns it green, in the same page (no reload).
    red = row.get_by_role("button", name=f"Enable portal access for {patient.list_name}")
    expect(red).to_have_css("background-color", RED_RGB)
    expect(row).to_contain_text("Not enabled")
    page.evaluate("window.__marker = 1")
    red.click()
    green = row.get_by_role("button", name=f"Disable portal access for {patient.list_name}")
    expect(green).to_have_css("background-color", GREEN_RGB)
    expect(row.get_by_text("Enabled", exact=True)).to_be_visible()
    expect(row).not_to_contain_text("Not enabled")
    assert page.evaluate("window.__marker") == 1
    assert portal_enabled(app_server, patient) is True

    # The email on file is a link that sends the invitation, and says so.
    row.get_by_role("button", name=patient.email).click()
    expect(page.get_by_text(f"Invitation sent to {patient.email}")).to_be_visible()
    expect(row).to_contain_text("Invited")
    assert page.evaluate("window.__marker") == 1
    link = newest_link(app_server, patient.email, kind="invitation")
    assert link.startswith(app_server.base_url + "/setup?p=invite&token=")

    # The patient, in a browser of their own, follows the link from the email.
    patient_page = new_context().new_page()
    goto(patient_page, link)
    expect(patient_page.get_by_role("heading", name="Set up your portal account")).to_be_visible()
    expect(patient_page.get_by_text("Hello Beatriz.")).to_be_visible()
    expect(patient_page.get_by_label("Username (email or phone)")).to_have_value(patient.email)
    patient_page.get_by_label("Password", exact=True).fill(PASSPHRASE)
    patient_page.get_by_label("Confirm password").fill(PASSPHRASE)
    patient_page.get_by_role("button", name="Create account").click()
    expect_portal_home(patient_page, patient)
    expect(patient_page.get_by_role("region", name="Contact details on file")).to_contain_text(patient.email)
    account = account_of(app_server, patient.email)
    assert account is not None and account.status.value == "active"

    # The link was single-use.
    used = new_context().new_page()
    goto(used, link)
    expect(used.get_by_role("heading", name="This link cannot be used")).to_be_visible()

    # Sign out, and in again with the email and the new password.
    patient_page.get_by_role("button", name="Sign out").click()
    expect(patient_page).to_have_url(re.compile(r"/login/?$"))
    goto(patient_page, "/portal")
    expect(patient_page).to_have_url(re.compile(r"/login/?$"))  # signed out for real
    patient_sign_in(patient_page, patient.email, PASSPHRASE)
    expect_portal_home(patient_page, patient)

    # Staff see the account as active.
    goto(page, "/staff/onboarding")
    expect(find_in_onboarding(page, patient)).to_contain_text("Active")


def test_an_invitation_link_stops_answering_whether_a_username_is_taken(app_server: AppServer, page: Page) -> None:
    other = create_patient(app_server, first_name="Olga", last_name=f"Taken-{unique_tag()}", portal_enabled=True)
    taken = give_account(app_server, other)
    patient = create_patient(app_server, first_name="Ines", last_name=f"Invited-{unique_tag()}", portal_enabled=True)
    with db.session_scope(app_server.db_url) as session:
        invitations.send_invitation_or_reset(session=session, patient_id=patient.id, actor=audit.Actor.system("e2e"))
        row = session.exec(select(OneTimeSecret).where(OneTimeSecret.patient_id == patient.id,
                                                       OneTimeSecret.purpose == SecretPurpose.INVITATION)).one()
        row.user_id_checks = link_checks.TAKEN_ANSWERS_PER_LINK - 1  # as if nine names in use were tried
        session.add(row)
        session.commit()
    goto(page, newest_link(app_server, patient.email, kind="invitation"))
    username = page.get_by_label("Username (email or phone)")
    page.get_by_label("Password", exact=True).fill(PASSPHRASE)
    page.get_by_label("Confirm password").fill(PASSPHRASE)
    username.fill(taken)
    page.get_by_role("button", name="Create account").click()
    expect(username).to_have_accessible_description(re.compile("That username is already in use"))
    # The tenth answer was the last: now a taken name and a free one get the same neutral answer.
    stopped = re.compile("This link cannot check any more usernames. Use the email address your invitation")
    for name in (taken, f"free.{unique_tag().lower()}@example.net"):
        username.fill(name)
        page.get_by_role("button", name="Create account").click()
        expect(username).to_have_accessible_description(stopped)
        expect(page.get_by_role("heading", name="Set up your portal account")).to_be_visible()
    assert len([e for e in audit_events(app_server, action="link.user_id_checks_stopped")
                if e.patient_id == patient.id]) == 1
    # The address the invitation went to still sets the account up.
    username.fill(patient.email)
    page.get_by_label("Password", exact=True).fill(PASSPHRASE)
    page.get_by_label("Confirm password").fill(PASSPHRASE)
    page.get_by_role("button", name="Create account").click()
    expect_portal_home(page, patient)


# The whole list's status: exact, or "more than" past the count cap (the e2e server counts up to 500).
WHOLE_LIST_PAGE_1 = re.compile(r"Showing 1\u201350 of (more than )?[\d,]+ patients \u00b7 Page 1 of (more than )?\d+")
WHOLE_LIST_PAGE_2 = re.compile(r"Showing 51\u2013\d+ of (more than )?[\d,]+ patients \u00b7 Page 2 of (more than )?\d+")


def test_onboarding_list_pages_on_the_server(app_server: AppServer, page: Page) -> None:
    last_name = f"Pagina-{unique_tag()}"
    names = create_patients_bulk(app_server, last_name=last_name, count=PAGE_SIZE + 5)
    total = patient_count(app_server)  # the 30 demo patients, these, and other tests' patients
    assert total > PAGE_SIZE

    staff_sign_in(page)
    pager = page.get_by_role("navigation", name="Pages")
    previous = pager.get_by_role("button", name="Previous page")
    following = pager.get_by_role("button", name="Next page")
    body_rows = list_rows(page)

    # The whole list: 50 on the first page, the rest after "Next page".
    expect(pager).to_contain_text(WHOLE_LIST_PAGE_1)
    expect(body_rows).to_have_count(PAGE_SIZE)
    expect(previous).to_be_disabled()
    expect(following).to_be_enabled()
    first_on_page_1 = body_rows.first.get_by_role("link").inner_text()
    following.click()
    expect(pager).to_contain_text(WHOLE_LIST_PAGE_2)
    expect(body_rows.first.get_by_role("link")).not_to_have_text(first_on_page_1)
    expect(previous).to_be_enabled()
    previous.click()
    expect(pager).to_contain_text(WHOLE_LIST_PAGE_1)
    expect(body_rows.first.get_by_role("link")).to_have_text(first_on_page_1)

    # A search that matches 55: pages of 50 and 5, in name order.
    search_onboarding(page, last_name)
    expect(pager).to_contain_text("Showing 1\u201350 of 55 patients \u00b7 Page 1 of 2")
    expect(body_rows.first.get_by_role("link")).to_have_text(names[0])
    expect(body_rows.last.get_by_role("link")).to_have_text(names[PAGE_SIZE - 1])
    expect(following).to_be_enabled()
    following.click()
    expect(pager).to_contain_text("Showing 51\u201355 of 55 patients \u00b7 Page 2 of 2")
    expect(body_rows).to_have_count(5)
    expect(body_rows.first.get_by_role("link")).to_have_text(names[PAGE_SIZE])
    expect(body_rows.last.get_by_role("link")).to_have_text(names[-1])
    expect(following).to_be_disabled()
    previous.click()
    expect(pager).to_contain_text("Showing 1\u201350 of 55 patients \u00b7 Page 1 of 2")
    expect(body_rows.first.get_by_role("link")).to_have_text(names[0])
    expect(previous).to_be_disabled()
