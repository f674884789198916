"""The "New patient" form end to end: staff open it from the onboarding list with the keyboard,
meet messages beside the fields (nothing typed lost), save, land on the new chart, and find the
patient on the onboarding list; a chart number in use and a probable duplicate are caught."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlmodel import select

from portal_app import db
from portal_app.models import Patient, Role, RolePermission
from portal_app.services import staff_auth
from portal_app.services.permissions import Level, Permission
from tests.e2e.conftest import AppServer, goto, wait_hydrated
from tests.e2e.helpers import audit_events, list_rows, search_onboarding, staff_sign_in, unique_tag

CHART_URL = re.compile(r"/staff/patients/\d+/?$")


def _open_form(page: Page) -> None:
    """From the onboarding list, with the keyboard: focus "New patient", press Enter."""
    button = page.get_by_role("button", name="New patient")
    button.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="New patient", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Save patient")).to_be_enabled()


def _fill_required(page: Page, *, chart: str, first: str, last: str, dob: str) -> None:
    page.get_by_label("Chart number").fill(chart)
    page.get_by_label("First name").fill(first)
    page.get_by_label("Last name").fill(last)
    page.get_by_label("Date of birth").fill(dob)


def _chart_numbers(app_server: AppServer, chart: str) -> list[str]:
    with db.session_scope(app_server.db_url) as session:
        return list(session.exec(select(Patient.chart_number).where(Patient.chart_number == chart)).all())


def _back_to_list(page: Page) -> None:
    """From the chart, by its back link."""
    page.get_by_role("link", name="\u2190 Patient Portal Onboarding").click()
    expect(page.get_by_role("heading", name="Patient Portal Onboarding", level=1)).to_be_visible()


def test_staff_add_a_patient_by_hand_then_find_them_on_the_list(app_server: AppServer, page: Page) -> None:
    tag = unique_tag()
    last, chart = f"Okafor-Ñúñez{tag}", f"NP{tag.upper()}"
    staff_sign_in(page)
    wait_hydrated(page)
    _open_form(page)

    # A bad date and a bad email: both messages beside their fields, everything typed kept.
    _fill_required(page, chart=chart, first="Amara", last=last, dob="02/30/1990")
    page.get_by_label("Sex").select_option("Female")
    page.get_by_label("Email", exact=True).fill("amara.okafor@")
    page.get_by_label("Mobile phone").fill("(512) 555-0142")
    page.get_by_label("City").fill("San Antonio")
    page.get_by_label("Allow email").check()
    page.get_by_role("button", name="Save patient").click()
    dob, email = page.get_by_label("Date of birth"), page.get_by_label("Email", exact=True)
    expect(dob).to_have_accessible_description(re.compile(r"Date of birth 02/30/1990 is not a real date\."))
    expect(email).to_have_accessible_description(re.compile(r"That email address is not valid"))
    expect(dob).to_have_attribute("aria-invalid", "true")
    expect(dob).to_be_focused()  # the keyboard is at the first field in error
    expect(page.get_by_label("Chart number")).to_have_value(chart)
    expect(page.get_by_label("First name")).to_have_value("Amara")
    expect(page.get_by_label("Last name")).to_have_value(last)
    expect(page.get_by_label("Sex")).to_have_value("Female")
    expect(page.get_by_label("Mobile phone")).to_have_value("(512) 555-0142")
    expect(page.get_by_label("City")).to_have_value("San Antonio")
    expect(page.get_by_label("Allow email")).to_be_checked()
    expect(page.get_by_label("Allow text messages")).not_to_be_checked()
    expect(page.get_by_label("First name")).to_have_accessible_description("")
    assert _chart_numbers(app_server, chart) == []  # nothing was saved

    # Fixed, and sent with Enter from the email field: the new chart opens and says so.
    dob.fill("02/28/1990")
    email.fill("Amara.Okafor@Example.com")
    email.press("Enter")
    expect(page).to_have_url(CHART_URL)
    expect(page.get_by_text(f"Chart {chart} created.")).to_be_visible()
    expect(page.get_by_role("heading", name="Patient chart", level=1)).to_be_visible()
    summary = page.get_by_role("region", name="Patient", exact=True)
    expect(summary).to_contain_text(f"{last}, Amara")
    expect(summary).to_contain_text(chart)
    expect(page.get_by_text("Amara.Okafor@Example.com", exact=True).first).to_be_visible()
    assert _chart_numbers(app_server, chart) == [chart]
    created = [event for event in audit_events(app_server, action="chart.create") if event.detail == "source=form"]
    assert any(event.patient_id is not None and page.url.endswith(f"/{event.patient_id}") for event in created)

    # Back on the onboarding list, the patient is there by name.
    _back_to_list(page)
    search_onboarding(page, f"{last}, Amara")
    rows = list_rows(page)
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(chart)
    expect(rows.first).to_contain_text("02/28/1990")
    expect(rows.first.get_by_role("link", name=f"{last}, Amara", exact=True)).to_be_visible()

    # The same chart number again: refused beside the field, nothing else lost.
    _open_form(page)
    _fill_required(page, chart=chart, first="Ben", last=f"Adeyemi{tag}", dob="1/2/2001")
    page.get_by_role("button", name="Save patient").click()
    number = page.get_by_label("Chart number")
    expect(number).to_have_accessible_description(re.compile(f"^Chart number {chart} is already in use\\."))
    expect(number).to_be_focused()
    expect(page.get_by_label("First name")).to_have_value("Ben")
    expect(page.get_by_label("Date of birth")).to_have_value("1/2/2001")
    expect(page).to_have_url(re.compile(r"/staff/onboarding/new-patient/?$"))


def test_a_probable_duplicate_asks_to_confirm_naming_the_other_chart(app_server: AppServer, page: Page) -> None:
    tag = unique_tag()
    last, first_chart, second_chart = f"Lindqvist{tag}", f"DA{tag.upper()}", f"DB{tag.upper()}"
    staff_sign_in(page)
    wait_hydrated(page)
    _open_form(page)
    _fill_required(page, chart=first_chart, first="Elsa", last=last, dob="1975-06-30")
    page.get_by_role("button", name="Save patient").click()
    expect(page).to_have_url(CHART_URL)

    _back_to_list(page)
    _open_form(page)
    _fill_required(page, chart=second_chart, first="elsa", last=last.upper(), dob="06/30/1975")
    page.get_by_role("button", name="Save patient").click()
    confirm = page.get_by_label(f"This is a different person from chart {first_chart}")
    expect(confirm).to_be_focused()
    expect(confirm).to_have_accessible_description(
        re.compile(f"Chart {first_chart} already has a patient with this name and date of birth"))
    expect(page.get_by_label("Chart number")).to_have_value(second_chart)
    confirm.press("Space")
    page.get_by_role("button", name="Save patient").click()
    expect(page).to_have_url(CHART_URL)
    expect(page.get_by_text(f"Chart {second_chart} created.")).to_be_visible()


def test_staff_who_may_only_update_get_no_button_and_no_form(app_server: AppServer, page: Page) -> None:
    username, password = f"updater{unique_tag().lower()}", "granite sparrow velvet orbit 27"
    with db.session_scope(app_server.db_url) as session:
        role = Role(name=f"Update only {username}")
        session.add(role)
        session.flush()
        session.add(RolePermission(role_id=role.id, permission=Permission.PORTAL_ADMIN.value,
                                   level=int(Level.UPDATE)))
        session.commit()
        staff_auth.create_staff(session=session, username=username, full_name="Una Updater",
                                password=password, role=role.name)
    goto(page, "/staff/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Patient Portal Onboarding", level=1)).to_be_visible()
    expect(list_rows(page).first).to_be_visible()  # the list has loaded for this user
    expect(page.get_by_role("button", name="New patient")).to_have_count(0)
    goto(page, "/staff/onboarding/new-patient")
    expect(page.get_by_text("You do not have permission to add patients.")).to_be_visible()
    expect(page.get_by_role("button", name="Save patient")).to_have_count(0)


def test_the_form_is_filled_and_sent_with_the_keyboard_alone(app_server: AppServer, page: Page) -> None:
    """Tab walks the fields in the order they read; letters pick the sex, Space ticks, Enter saves."""
    tag = unique_tag()
    chart, last = f"KB{tag.upper()}", f"Teclado{tag}"
    staff_sign_in(page)
    wait_hydrated(page)
    _open_form(page)
    page.get_by_label("Chart number").focus()
    steps = [("Chart number", chart), ("First name", "Inés"), ("Middle name", ""), ("Last name", last),
             ("Preferred name", "Ine"), ("Date of birth", "7/4/1969"), ("Sex", "F"), ("Email", ""),
             ("Mobile phone", "512 555 0177"), ("Home phone", ""), ("Allow email", ""),
             ("Allow text messages", " "), ("Address", "1 Elm Way"), ("City", "Waco"), ("State", "TX"),
             ("Postal code", "76701"), ("Last visit date", "2026-01-15")]
    for index, (label, keys) in enumerate(steps):
        if index:
            page.keyboard.press("Tab")
        expect(page.get_by_label(label, exact=label == "Email")).to_be_focused()
        if keys == " ":
            page.keyboard.press("Space")
        elif keys:
            page.keyboard.type(keys)
    page.keyboard.press("Enter")
    expect(page).to_have_url(CHART_URL)
    expect(page.get_by_text(f"Chart {chart} created.")).to_be_visible()
    with db.session_scope(app_server.db_url) as session:
        saved = session.exec(select(Patient).where(Patient.chart_number == chart)).one()
    assert (saved.first_name, saved.last_name, saved.sex) == ("Inés", last, "Female")
    assert (saved.mobile_phone, saved.allow_email, saved.allow_sms) == ("+15125550177", False, True)
    assert (saved.address_line1, saved.region, str(saved.last_visit_on)) == ("1 Elm Way", "TX", "2026-01-15")
