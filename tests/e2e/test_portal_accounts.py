"""Portal Account Setup (/staff/portal-accounts): a Self account with generated credentials
(copied, printed, used once and changed), and a parent set up as Authorized Representative
for two children with different permissions."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.conftest import AppServer, goto
from tests.e2e.helpers import (
    OTHER_PASSPHRASE,
    PASSPHRASE,
    SeededPatient,
    account_of,
    audit_events,
    create_patient,
    expect_portal_home,
    messages_to,
    newest_link,
    patient_sign_in,
    staff_sign_in,
    unique_tag,
    wait_until,
)
from tests.e2e.test_accessibility import _violations


def _open_setup(page: Page, patient: SeededPatient) -> None:
    goto(page, f"/staff/portal-accounts?patient={patient.id}")
    expect(page.get_by_role("heading", name="Portal Account Setup", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name=patient.list_name, level=2)).to_be_visible()


def _clipboard(page: Page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def test_self_account_with_generated_credentials(app_server: AppServer, page: Page, new_context) -> None:
    patient = create_patient(app_server, first_name="Rosalind", last_name=f"Quartermain-{unique_tag()}",
                             portal_enabled=True)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_server.base_url)
    staff_sign_in(page)

    # From the menu: search the patient, pick them.
    page.get_by_role("link", name="Portal Account Setup").click()
    search = page.get_by_label("Find a patient")
    expect(search).to_be_visible()
    problems = {"picker": _violations(page)}
    search.fill(patient.last_name)
    page.get_by_role("button", name=re.compile(re.escape(patient.list_name))).click()
    expect(page.get_by_role("heading", name=patient.list_name, level=2)).to_be_visible()
    expect(page.get_by_text("No portal account is connected to this chart yet.")).to_be_visible()

    # The wand fills the required fields from the chart.
    page.get_by_role("button", name="Fill from chart").click()
    expect(page.get_by_label("Username")).to_have_value(patient.email)
    expect(page.get_by_label("First Name")).to_have_value(patient.first_name)
    expect(page.get_by_label("Last Name")).to_have_value(patient.last_name)
    expect(page.get_by_label("Access Type")).to_have_value("self")
    expect(page.get_by_label("Force Password Change on Next Login")).to_be_checked()
    for area in ("Messages", "Appointments", "Documents", "Forms", "Health summary"):
        expect(page.get_by_label(area, exact=True)).to_be_checked()  # Self: all by default
    expect(page.get_by_label("Billing", exact=True)).to_have_count(0)  # no page, so never granted
    problems["form"] = _violations(page)
    page.get_by_role("button", name="Save", exact=True).click()

    shown = page.get_by_role("region", name="New credentials")
    expect(shown).to_be_visible()
    password = shown.locator("#new-password").inner_text().strip()
    # One case, read aloud without "capital" or "small": five groups of four.
    assert re.fullmatch(r"([A-Z0-9]{4}-){4}[A-Z0-9]{4}", password), password
    # Copied as it appeared (as ClinicTracker did), and said so.
    expect(shown.get_by_text("Password copied to the clipboard")).to_be_visible()
    assert _clipboard(page) == password
    expect(shown).to_contain_text(patient.email)
    expect(page.get_by_role("row").filter(has_text=patient.email)).to_have_count(1)
    problems["credentials"] = _violations(page)

    shown.get_by_role("button", name="Copy", exact=True).click()
    copied = wait_until(lambda: _clipboard(page) if password in _clipboard(page) else "",
                        what="the credential message on the clipboard")
    assert f"Username: {patient.email}" in copied and f"Password: {password}" in copied
    assert f"{app_server.base_url}/login" in copied
    shown.get_by_role("button", name="Copy password").click()
    wait_until(lambda: _clipboard(page) == password, what="the password on the clipboard")

    with page.expect_download() as download_info:
        shown.get_by_role("button", name="Print credential sheet").click()
    download = download_info.value
    assert download.suggested_filename == f"portal-credentials-{patient.chart_number}.pdf"
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"%PDF") and password.encode() in data and patient.email.encode() in data

    # Never in the audit log; gone from the screen after Done, and after coming back.
    assert all(password not in event.detail for action in ("account_setup.create", "account_setup.connect",
                                                            "account_setup.sheet_printed")
               for event in audit_events(app_server, action=action))
    shown.get_by_role("button", name="Done").click()
    expect(shown).to_have_count(0)
    _open_setup(page, patient)
    expect(page.get_by_text(password)).to_have_count(0)
    # The chart has its Self account now: a new connection can only be a representative.
    expect(page.get_by_label("Access Type")).to_have_value("representative")
    assert problems == {name: [] for name in problems}

    # The patient signs in with it and must choose a new password.
    patient_page = new_context().new_page()
    patient_sign_in(patient_page, patient.email, password)
    expect(patient_page).to_have_url(re.compile(r"/portal/password/?$"))
    expect(patient_page.get_by_label("Current password")).to_have_count(0)  # typed to sign in just now
    patient_page.get_by_label("New password", exact=True).fill(OTHER_PASSPHRASE)
    patient_page.get_by_label("Confirm new password").fill(OTHER_PASSPHRASE)
    patient_page.get_by_role("button", name="Change password").click()
    expect_portal_home(patient_page, patient)

    # Staff delete the account's only connection while it is signed in: its session ends.
    page.get_by_role("button", name=f"Select {patient.email}").click()
    expect(page.get_by_role("heading", name="Edit connection", level=2)).to_be_visible()
    page.get_by_role("button", name="Delete", exact=True).click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("the account itself is deleted too")
    expect(dialog).to_contain_text("It is signed in now: its sessions end at once.")
    assert _violations(page) == []
    dialog.get_by_role("button", name="Delete connection").click()
    expect(page.get_by_text(f"Removed {patient.email} from this chart and deleted the account")).to_be_visible()
    expect(page.get_by_text("No portal account is connected to this chart yet.")).to_be_visible()
    patient_page.reload()
    expect(patient_page).to_have_url(re.compile(r"/login/?$"))


def _representative(page: Page, child: SeededPatient, *, email: str, areas: tuple[str, ...],
                    existing: bool) -> None:
    _open_setup(page, child)
    page.get_by_label("Access Type").select_option("representative")
    for area in ("Messages", "Appointments", "Documents", "Forms", "Health summary"):
        expect(page.get_by_label(area, exact=True)).not_to_be_checked()  # none preselected
    page.get_by_label("Relationship").select_option("parent")
    page.get_by_label("Username").fill(email)
    if existing:
        expect(page.get_by_text(f"{email} is already used by another account")).to_be_visible()
        connect = page.get_by_label("Connect the existing account (as Authorized Representative)")
        connect.click()  # controlled by the server: click, then wait for the round trip
        expect(connect).to_be_checked()
    page.get_by_label("First Name").fill("Petra")
    page.get_by_label("Last Name").fill("Guardiola")
    save = page.get_by_role("button", name="Save", exact=True)
    if not existing:
        # No permission chosen: refused beside the field, nothing typed is lost.
        save.click()
        expect(page.get_by_text("Choose at least one area this representative may use.")).to_be_visible()
        expect(page.get_by_label("First Name")).to_have_value("Petra")
    for area in areas:
        page.get_by_label(area, exact=True).click()
        expect(page.get_by_label(area, exact=True)).to_be_checked()
    save.click()
    if existing:
        expect(page.get_by_text(f"The existing account {email} is now connected to this chart")).to_be_visible()
    else:
        expect(page.get_by_text(f"An email with a link to choose a password was sent to {email}")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text=email)).to_contain_text("Authorized Representative (Parent)")


def _nav(page: Page):
    return page.get_by_role("navigation", name="Portal")


def test_parent_represents_two_children_with_different_permissions(app_server: AppServer, page: Page,
                                                                    new_context) -> None:
    tag = unique_tag()
    first = create_patient(app_server, first_name="Aurelio", last_name=f"Guardiola-{tag}", portal_enabled=True)
    second = create_patient(app_server, first_name="Bianca", last_name=f"Guardiola-{tag}", portal_enabled=True)
    parent = f"petra.{tag.lower()}@example.net"
    staff_sign_in(page)
    _representative(page, first, email=parent, areas=("Messages", "Documents"), existing=False)
    _representative(page, second, email=parent, areas=("Appointments",), existing=True)

    setup = [m for m in messages_to(app_server, parent) if m.kind == "representative_setup"]
    # The account has no password yet, so connecting the second child sent the link again.
    assert len(setup) == 2 and all("Password:" not in m.body_text for m in setup)
    account = account_of(app_server, parent)
    assert account is not None and account.password_hash is None

    # The parent chooses a password from the email's link and lands in the portal.
    parent_page = new_context().new_page()
    goto(parent_page, newest_link(app_server, parent, kind="representative_setup"))
    parent_page.get_by_label("Password", exact=True).fill(PASSPHRASE)
    parent_page.get_by_label("Confirm password").fill(PASSPHRASE)
    parent_page.get_by_role("button", name="Save password").click()
    expect(parent_page).to_have_url(re.compile(r"/portal/?$"))

    viewing = parent_page.get_by_label("Viewing:")
    expect(viewing).to_be_visible()
    viewing.select_option(label=first.portal_name)
    expect(viewing).to_have_value(str(first.id))
    nav = _nav(parent_page)
    expect(nav.get_by_role("link", name="Messages")).to_be_visible()
    expect(nav.get_by_role("link", name="Documents")).to_be_visible()
    expect(nav.get_by_role("link", name="Appointments")).to_have_count(0)
    expect(nav.get_by_role("link", name="Forms")).to_have_count(0)

    viewing.select_option(label=second.portal_name)
    expect(viewing).to_have_value(str(second.id))
    expect(nav.get_by_role("link", name="Appointments")).to_be_visible()
    expect(nav.get_by_role("link", name="Messages")).to_have_count(0)
    expect(nav.get_by_role("link", name="Documents")).to_have_count(0)

    # Back to the first child: a refused area's address does not open, and is audited.
    viewing.select_option(label=first.portal_name)
    expect(viewing).to_have_value(str(first.id))
    expect(nav.get_by_role("link", name="Appointments")).to_have_count(0)
    parent_page.goto("/portal/appointments", wait_until="load")
    expect(parent_page).to_have_url(re.compile(r"/portal/?$"))
    refused = wait_until(lambda: [e for e in audit_events(app_server, action="portal.area_refused")
                                  if e.patient_id == first.id],
                         what="an audited area refusal")
    assert "area=appointments" in refused[0].detail


def test_the_demographics_tab_leads_to_portal_account_setup(app_server: AppServer, page: Page) -> None:
    patient = create_patient(app_server, first_name="Philippa", last_name=f"Demos-{unique_tag()}",
                             portal_enabled=True)
    staff_sign_in(page)
    goto(page, f"/staff/patients/{patient.id}")
    page.get_by_role("tab", name="Demographics").click()
    page.get_by_role("tabpanel", name="Demographics").get_by_role("link", name="Patient Portal Account").click()
    expect(page).to_have_url(re.compile(rf"/staff/portal-accounts\?patient={patient.id}$"))
    expect(page.get_by_role("heading", name="Portal Account Setup", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name=patient.list_name, level=2)).to_be_visible()
