"""The onboarding list at size: how many patients match, a jump to a page or to a letter, a
search by the start of an email address (issue 15 #13 and #21), and past the count cap (issue 13
#5: the e2e server counts up to 500, PORTAL_LIST_COUNT_CAP in conftest.py)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import AppServer
from tests.e2e.helpers import (
    create_patient,
    create_patients_bulk,
    list_rows,
    search_onboarding,
    staff_sign_in,
    unique_tag,
)


def test_search_by_the_start_of_an_email_address(app_server: AppServer, page: Page) -> None:
    patient = create_patient(app_server, first_name="Annabel", last_name=f"Adamsky-{unique_tag()}")
    staff_sign_in(page)
    start = patient.email.split("@")[0][:-2]  # "annabel.adamsky-xyz", no "@" typed
    search_onboarding(page, start)
    expect(list_rows(page)).to_have_count(1)
    expect(list_rows(page).get_by_role("link", name=patient.list_name)).to_be_visible()
    expect(page.locator("#patient-list-status")).to_have_text("Showing 1\u20131 of 1 patient \u00b7 Page 1 of 1")


def test_count_and_jump_to_a_page_or_a_letter(app_server: AppServer, page: Page) -> None:
    last = f"Pagewell{unique_tag()}"
    names = create_patients_bulk(app_server, last_name=last, count=120)
    zed = create_patient(app_server, first_name="Zora", last_name=f"Zzyzx{unique_tag()}")
    staff_sign_in(page)
    status = page.locator("#patient-list-status")
    expect(status).to_contain_text(
        re.compile(r"^Showing 1\u201350 of (more than )?[\d,]+ patients \u00b7 Page 1 of (more than )?\d+$"))

    search_onboarding(page, last)
    expect(status).to_have_text("Showing 1\u201350 of 120 patients \u00b7 Page 1 of 3")
    page.get_by_label("Page number").fill("3")
    page.get_by_label("Page number").press("Enter")
    expect(status).to_have_text("Showing 101\u2013120 of 120 patients \u00b7 Page 3 of 3")
    expect(list_rows(page)).to_have_count(20)
    expect(list_rows(page).first.get_by_role("rowheader")).to_have_text(names[100])
    page.get_by_role("button", name="Previous page").click()
    expect(status).to_have_text("Showing 51\u2013100 of 120 patients \u00b7 Page 2 of 3")
    expect(list_rows(page).first.get_by_role("rowheader")).to_have_text(names[50])

    page.get_by_label("Page number").fill("9")
    page.get_by_role("button", name="Go to page").click()
    expect(page.get_by_text("Enter a page number from 1 to 3.")).to_be_visible()
    expect(page.get_by_label("Page number")).to_have_accessible_description(
        "Enter a page number from 1 to 3.")
    expect(status).to_have_text("Showing 51\u2013100 of 120 patients \u00b7 Page 2 of 3")

    # Everyone again, then straight to the last names from Z.
    search_onboarding(page, "")
    page.get_by_label("Last names from").select_option("Z")
    page.get_by_role("button", name="Jump to letter").click()
    first_row = list_rows(page).first.get_by_role("rowheader")
    expect(first_row).to_have_text(re.compile(r"^Z"))
    expect(page.get_by_role("link", name=zed.list_name)).to_be_visible()
    expect(page.get_by_role("button", name="Previous page")).to_be_enabled()
    expect(status).not_to_contain_text("Showing 1\u2013")


def test_past_the_count_cap_the_list_says_more_than(app_server: AppServer, page: Page) -> None:
    last = f"Capwell{unique_tag()}"
    names = create_patients_bulk(app_server, last_name=last, count=520)
    staff_sign_in(page)
    status = page.locator("#patient-list-status")
    search_onboarding(page, last)
    expect(status).to_have_text("Showing 1\u201350 of more than 500 patients \u00b7 Page 1 of more than 10")

    page.get_by_label("Page number").fill("11")
    page.get_by_role("button", name="Go to page").click()
    refused = ("Enter a page number from 1 to 10 (the first 500 patients). To find others, search or jump "
               "to a letter.")
    expect(page.get_by_label("Page number")).to_have_accessible_description(refused)
    page.get_by_label("Page number").fill("10")
    page.get_by_label("Page number").press("Enter")
    expect(status).to_have_text("Showing 451\u2013500 of more than 500 patients \u00b7 Page 10 of more than 10")
    expect(list_rows(page).first.get_by_role("rowheader")).to_have_text(names[450])
    page.get_by_role("button", name="Next page").click()  # the end: now the number is known
    expect(status).to_have_text("Showing 501\u2013520 of 520 patients \u00b7 Page 11 of 11")
    expect(list_rows(page)).to_have_count(20)

    # Nobody in this search from Z on, and more than 500 before it: the last 50, their row numbers
    # not counted; Previous comes back within the count.
    page.get_by_label("Last names from").select_option("Z")
    page.get_by_role("button", name="Jump to letter").click()
    expect(status).to_have_text("Showing 50 patients after the first 500 \u00b7 Beyond page 10")
    expect(list_rows(page).last.get_by_role("rowheader")).to_have_text(names[-1])
    expect(list_rows(page).first.get_by_role("rowheader")).to_have_text(names[470])
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    page.get_by_role("button", name="Previous page").click()
    expect(status).to_have_text("Showing 421\u2013470 of more than 500 patients \u00b7 Page 9 of more than 10")
    expect(list_rows(page).first.get_by_role("rowheader")).to_have_text(names[420])


def test_a_ticked_box_and_a_status_stay_with_their_patient_across_pages(app_server: AppServer, page: Page) -> None:
    """The lines are drawn again in place when the page changes (keyed by position): what each
    shows of its own patient (the selection box, the rectangle) must not stay on the line."""
    last = f"Linewell{unique_tag()}"
    names = create_patients_bulk(app_server, last_name=last, count=60)
    staff_sign_in(page)
    search_onboarding(page, last)
    first = list_rows(page).first
    expect(first.get_by_role("rowheader")).to_have_text(names[0])
    first.get_by_label(f"Select {names[0]}").check()
    first.get_by_role("button", name=f"Enable portal access for {names[0]}").click()
    expect(first.get_by_role("button", name=f"Disable portal access for {names[0]}")).to_be_visible()
    expect(page.get_by_text("1 selected")).to_be_visible()

    page.get_by_role("button", name="Next page").click()
    first = list_rows(page).first
    expect(first.get_by_role("rowheader")).to_have_text(names[50])
    expect(first.get_by_label(f"Select {names[50]}")).not_to_be_checked()
    expect(first.get_by_role("button", name=f"Enable portal access for {names[50]}")).to_be_visible()
    expect(first).to_contain_text("Not enabled")

    page.get_by_role("button", name="Previous page").click()
    first = list_rows(page).first
    expect(first.get_by_role("rowheader")).to_have_text(names[0])
    expect(first.get_by_label(f"Select {names[0]}")).to_be_checked()
    expect(first.get_by_role("button", name=f"Disable portal access for {names[0]}")).to_be_visible()
    expect(page.get_by_text("1 selected")).to_be_visible()
