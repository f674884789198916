"""Every journey, staff and patient, with the keyboard alone (issue 15 #26).

Each test presses only keys (Tab, Shift+Tab, Enter, Space, arrows, typing): no clicks, no
`fill`. `page.goto` stands for typing an address or following a link from an email. At every
control the test reaches, the focused element must show a focus ring (a computed outline or
box-shadow), and a dialog must take focus when it opens and give it back when it closes.
Patient journeys run 390 px wide (a phone).

The helpers live here, not in helpers.py: they find a control by its accessible name (the
words a user hears), tabbing until it has focus, so a page that gains or loses a link keeps
working.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlmodel import select

from portal_app import db
from portal_app.models import PortalTask, TaskKind
from portal_app.services import audit, keys, messages, portal_auth
from tests.e2e.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, AppServer, goto
from tests.e2e.helpers import (
    PASSPHRASE,
    SeededPatient,
    account_of,
    authenticator_code,
    create_patient,
    create_patients_bulk,
    expect_portal_home,
    give_account,
    messages_to,
    newest_link,
    portal_enabled,
    set_up_authenticator,
    staff_sign_in,
    unique_tag,
    wait_until,
)

PHONE = {"width": 390, "height": 844}
# Staff journeys run on a desktop screen and on a phone-wide one.
staff_widths = pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "390px"])
MAX_TABS = 150

# What the focused element looks like, or why it shows no focus ring ("" when it does).
_FOCUS_RING_JS = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return "nothing has focus";
  // Radix Themes draws some rings on a pseudo-element, or (tabs) on the element's inner span.
  const ring = (s) => (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0)
    || (s.boxShadow && s.boxShadow !== "none");
  const shown = [null, "::before", "::after"].some((part) => ring(getComputedStyle(el, part)))
    || (el.firstElementChild !== null && ring(getComputedStyle(el.firstElementChild)));
  const text = (el.innerText || el.value || "").slice(0, 40);
  const what = `${el.tagName.toLowerCase()}#${el.id} "${text}"`;
  if (!shown) return `${what} shows no focus ring`;
  // Nothing (a toast, a dialog's overlay, a sticky bar) covers the middle of it. (Scrolled
  // out of view after the page grew is not covered: the next key press scrolls to it.)
  const box = el.getBoundingClientRect();
  const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
  if (hit && !(el.contains(hit) || hit.contains(el) || hit === el.labels?.[0])) {
    return `${what} is hidden behind ${hit.tagName.toLowerCase()}.${hit.className}`;
  }
  return "";
}
"""


# --- keyboard helpers ---------------------------------------------------------------------


def has_focus(target: Locator) -> bool:
    """Whether `target` (or something inside it) holds the keyboard focus."""
    return target.evaluate("el => el === document.activeElement || el.contains(document.activeElement)")


def expect_focus_ring(page: Page) -> None:
    """The focused element shows a ring and is not covered (waits out a closing dialog's fade)."""
    problems: list[str] = []

    def fine() -> bool:
        problems.append(page.evaluate(_FOCUS_RING_JS))
        return problems[-1] == ""

    try:
        wait_until(fine, timeout=3, what="a visible focus ring")
    except AssertionError:
        raise AssertionError(problems[-1]) from None


def focus_is_kept(page: Page) -> None:
    """Focus stayed in the page's content (not dropped to <body> by a redraw, which would send
    the next Tab back to the top of the page)."""
    def in_content() -> bool:
        return page.evaluate("""() => {
          const el = document.activeElement;
          return !!el && el !== document.body && !!el.closest('#main, [role="dialog"], [role="alertdialog"]');
        }""")
    wait_until(in_content, timeout=5, what="focus inside the page's content, not on the page body")
    expect_focus_ring(page)


def tab_to(page: Page, target: Locator, *, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until `target` has focus; then check its focus ring."""
    expect(target).to_be_attached()
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(MAX_TABS):
        if has_focus(target):
            expect_focus_ring(page)
            return
        page.keyboard.press(key)
    raise AssertionError(f"{MAX_TABS} presses of {key} never reached {target}")


def press_on(page: Page, target: Locator, key: str = "Enter") -> None:
    """Tab to `target`, then press `key` (Enter for buttons and links, Space for checkboxes)."""
    tab_to(page, target)
    page.keyboard.press(key)


def type_into(page: Page, target: Locator, text: str) -> None:
    tab_to(page, target)
    page.keyboard.type(text)


def type_date(page: Page, target: Locator, value) -> None:
    """A date field, typed as a US keyboard user does: MM, DD, YYYY."""
    tab_to(page, target)
    page.keyboard.type(value.strftime("%m%d%Y"))
    expect(target).to_have_value(value.isoformat())


def expect_dialog_has_focus(dialog: Locator) -> None:
    expect(dialog).to_be_visible()
    wait_until(lambda: has_focus(dialog), timeout=5, what="focus inside the dialog")


def expect_focused(target: Locator) -> None:
    wait_until(lambda: has_focus(target), timeout=5, what=f"focus on {target}")


# --- sign-in by keyboard ------------------------------------------------------------------


def keyboard_second_step(page: Page, username: str) -> None:
    """The second step by keyboard: the code field has focus; Enter sends it."""
    code = page.get_by_label("Authentication code")
    expect(code).to_be_visible()
    if page.get_by_role("heading", name="Set up two-step verification").is_visible():
        set_up_authenticator(page, username)  # set-up is once per run, not the subject here
        return
    expect_focused(code)
    page.keyboard.type(authenticator_code(page, username))
    page.keyboard.press("Enter")


def patient_keyboard_sign_in(page: Page, user_id: str, password: str = PASSPHRASE) -> None:
    goto(page, "/login")
    type_into(page, page.get_by_label("Email or phone number"), user_id)
    type_into(page, page.get_by_label("Password", exact=True), password)
    press_on(page, page.get_by_role("button", name="Sign in"))


def _patient(app_server: AppServer, first: str, last: str, *, enabled: bool = True) -> SeededPatient:
    return create_patient(app_server, first_name=first, last_name=f"{last}-{unique_tag()}",
                          portal_enabled=enabled)


def _open_chart_portal_tab(page: Page, patient: SeededPatient) -> None:
    goto(page, f"/staff/patients/{patient.id}")
    expect(page.get_by_role("heading", name=patient.list_name, level=2)).to_be_visible()
    tab = page.get_by_role("tab", name="Patient Portal")
    tab_to(page, tab)
    expect(tab).to_have_attribute("aria-selected", "true")


def _start_connect_wizard(page: Page, patient: SeededPatient, requested_by: str) -> Locator:
    """Chart > Connect Patient by keyboard: verify the patient, OK, Next, Requested By, Next."""
    _open_chart_portal_tab(page, patient)
    trigger = page.get_by_role("region", name="Connect Patient").get_by_role("button", name="Connect Patient")
    press_on(page, trigger)
    dialog = page.get_by_role("dialog", name="Connect Patient")
    expect_dialog_has_focus(dialog)
    verify = dialog.get_by_label("I verify that I am on the correct patient")
    press_on(page, verify, "Space")
    expect(verify).to_be_checked()
    ok = dialog.get_by_role("button", name="OK")
    expect(ok).to_be_enabled()
    press_on(page, ok)
    press_on(page, dialog.get_by_role("button", name="Next"))
    expect(dialog.get_by_text("Enter who requested access")).to_be_visible()
    type_into(page, dialog.get_by_label("Requested By"), requested_by)
    press_on(page, dialog.get_by_role("button", name="Next"))
    expect(dialog.get_by_text(f"Requested By: {requested_by}")).to_be_visible()
    return dialog


def _close_wizard(page: Page, dialog: Locator) -> None:
    press_on(page, dialog.get_by_role("button", name="Close"))
    expect(dialog).to_have_count(0)
    trigger = page.get_by_role("region", name="Connect Patient").get_by_role("button", name="Connect Patient")
    expect_focused(trigger)


# --- staff journeys -----------------------------------------------------------------------


@staff_widths
def test_staff_sign_in_by_keyboard(app_server: AppServer, page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 844})
    goto(page, "/staff/login")
    type_into(page, page.get_by_label("Username"), ADMIN_USERNAME)
    type_into(page, page.get_by_label("Password", exact=True), "not the password 00")
    press_on(page, page.get_by_role("button", name="Sign in"))
    expect(page.get_by_role("alert")).to_be_visible()
    focus_is_kept(page)
    password = page.get_by_label("Password", exact=True)
    tab_to(page, password, backwards=True)
    page.keyboard.press("Control+A")
    page.keyboard.type(ADMIN_PASSWORD)
    page.keyboard.press("Enter")
    keyboard_second_step(page, ADMIN_USERNAME)
    expect(page).to_have_url(re.compile(r"/staff/onboarding/?$"))


@staff_widths
def test_onboarding_list_enable_disable_and_jump_by_keyboard(app_server: AppServer, page: Page,
                                                             width: int) -> None:
    page.set_viewport_size({"width": width, "height": 844})
    patient = _patient(app_server, "Ottilie", "Onboardly", enabled=False)
    create_patients_bulk(app_server, last_name=f"Bulkly{unique_tag()}", count=60)  # two pages at least
    staff_sign_in(page)  # signing in by keyboard is test_staff_sign_in_by_keyboard's subject
    type_into(page, page.get_by_label("Search", exact=True), patient.list_name)
    rows = page.get_by_role("row").filter(has=page.get_by_role("rowheader"))
    expect(rows).to_have_count(1)
    red = page.get_by_role("button", name=f"Enable portal access for {patient.list_name}")
    press_on(page, red)
    green = page.get_by_role("button", name=f"Disable portal access for {patient.list_name}")
    expect(green).to_be_visible()
    expect_focused(green)  # the same rectangle, now green, keeps focus (the toast does not take it)
    expect_focus_ring(page)
    page.keyboard.press("Enter")
    dialog = page.get_by_role("alertdialog")
    expect_dialog_has_focus(dialog)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect_focused(green)
    assert portal_enabled(app_server, patient)

    # The pager's jumps are a labelled field and select, each sent with Enter.
    tab_to(page, page.get_by_label("Search", exact=True), backwards=True)
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    status = page.locator("#patient-list-status")
    expect(status).to_contain_text(re.compile(r"^Showing 1\u201350 of "))
    type_into(page, page.get_by_label("Page number"), "2")
    page.keyboard.press("Enter")
    expect(status).to_contain_text(re.compile(r"^Showing 51\u2013"))
    focus_is_kept(page)
    letter = page.get_by_label("Last names from")
    tab_to(page, letter)
    page.keyboard.type("O")
    expect(letter).to_have_value("O")
    press_on(page, page.get_by_role("button", name="Jump to letter"))
    expect(rows.first.get_by_role("rowheader")).to_have_text(re.compile(r"^[O-Z]"))
    focus_is_kept(page)


@staff_widths
def test_chart_enable_access_and_send_invitation_by_keyboard(app_server: AppServer, page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 844})
    patient = _patient(app_server, "Keyla", "Keyes", enabled=False)
    staff_sign_in(page)  # signing in by keyboard is test_staff_sign_in_by_keyboard's subject
    _open_chart_portal_tab(page, patient)
    press_on(page, page.get_by_role("button", name="Enable portal access"))
    expect(page.get_by_text("Access enabled", exact=True)).to_be_visible()
    wait_until(lambda: portal_enabled(app_server, patient), what="access enabled")
    focus_is_kept(page)
    press_on(page, page.get_by_role("button", name="Send invitation email"))
    wait_until(lambda: [m for m in messages_to(app_server, patient.email) if m.kind == "invitation"],
               what="the invitation in the outbox")
    focus_is_kept(page)

    # The disable button asks first; Escape cancels and hands focus back to it.
    disable = page.get_by_role("button", name="Disable portal access")
    press_on(page, disable)
    dialog = page.get_by_role("alertdialog")
    expect_dialog_has_focus(dialog)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect_focused(disable)
    assert portal_enabled(app_server, patient)


@staff_widths
def test_connect_wizard_token_by_keyboard(app_server: AppServer, page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 844})
    patient = _patient(app_server, "Tomasz", "Tokenby")
    staff_sign_in(page)  # signing in by keyboard is test_staff_sign_in_by_keyboard's subject
    dialog = _start_connect_wizard(page, patient, "The patient, at the desk")
    create = dialog.get_by_role("region", name="Create and Connect Account")
    expect(create.get_by_role("radio", name="Email Address")).to_be_checked()
    press_on(page, create.get_by_role("button", name="Send Token"))
    expect(create.get_by_text(re.compile(rf"Token sent to {re.escape(patient.email)}"))).to_be_visible()

    def token() -> str:
        found = [m for m in messages_to(app_server, patient.email) if m.kind == "connect_token"]
        match = re.search(r"portal token is (\d{4,8})\.", found[-1].body_text) if found else None
        return match.group(1) if match else ""

    type_into(page, create.get_by_label("Token", exact=True), wait_until(token, what="the token"))
    press_on(page, create.get_by_role("button", name="Connect Patient"))
    expect(create.get_by_text(re.compile("Patient connected."))).to_be_visible()
    _close_wizard(page, dialog)
    assert account_of(app_server, patient.email) is not None


@staff_widths
def test_connect_wizard_key_by_keyboard(app_server: AppServer, page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 844})
    patient = _patient(app_server, "Kirsi", "Keysend")
    staff_sign_in(page)  # signing in by keyboard is test_staff_sign_in_by_keyboard's subject
    dialog = _start_connect_wizard(page, patient, "The patient, by phone")
    section = dialog.get_by_role("region", name="Generate Connection Key")
    expect(section.get_by_role("radio", name="Email Address")).to_be_checked()
    press_on(page, section.get_by_role("button", name="Send"))
    expect(section.get_by_text(re.compile(rf"sent to {re.escape(patient.email)}"))).to_be_visible()
    expect(section.get_by_text("Connection key (shown once):")).to_be_visible()
    _close_wizard(page, dialog)
    assert [m for m in messages_to(app_server, patient.email) if m.kind == "connection_key"]


@staff_widths
def test_portal_account_setup_creates_an_account_by_keyboard(app_server: AppServer, page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 844})
    patient = _patient(app_server, "Agnes", "Setupwell")
    staff_sign_in(page)  # signing in by keyboard is test_staff_sign_in_by_keyboard's subject
    goto(page, f"/staff/portal-accounts?patient={patient.id}")
    expect(page.get_by_role("heading", name=patient.list_name, level=2)).to_be_visible()
    press_on(page, page.get_by_role("button", name="Fill from chart"))
    expect(page.get_by_label("Username")).to_have_value(patient.email)
    focus_is_kept(page)
    press_on(page, page.get_by_role("button", name="Save", exact=True))
    shown = page.get_by_role("region", name="New credentials")
    expect(shown).to_be_visible()
    focus_is_kept(page)
    press_on(page, shown.get_by_role("button", name="Done"))
    expect(shown).to_have_count(0)
    focus_is_kept(page)
    assert account_of(app_server, patient.email) is not None


@staff_widths
def test_user_management_disable_and_enable_by_keyboard(app_server: AppServer, page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 844})
    patient = _patient(app_server, "Dora", "Disabley")
    user_id = give_account(app_server, patient)
    staff_sign_in(page)  # signing in by keyboard is test_staff_sign_in_by_keyboard's subject
    goto(page, "/staff/portal-users")
    expect(page.get_by_role("heading", name="User Management", level=1)).to_be_visible()
    type_into(page, page.get_by_label("Search", exact=True), user_id)
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=user_id, exact=True))
    expect(row).to_have_count(1)
    expect(page.get_by_role("row").filter(has=page.get_by_role("rowheader"))).to_have_count(1)

    for action, done in (("Disable", "Disabled"), ("Enable", "Active")):
        button = row.get_by_role("button", name=f"{action} {user_id}")
        press_on(page, button)
        dialog = page.get_by_role("alertdialog")
        expect_dialog_has_focus(dialog)
        press_on(page, dialog.get_by_role("button", name=f"{action} account", exact=True))
        expect(dialog).to_have_count(0)
        expect(row).to_contain_text(done)
        expect_focused(row)  # back on the row's button, which now does the opposite
        expect_focus_ring(page)
    assert account_of(app_server, user_id).status.value == "active"


@staff_widths
def test_roles_change_a_permission_by_keyboard(app_server: AppServer, page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 844})
    role = f"Keyboard {unique_tag()}"
    staff_sign_in(page)  # signing in by keyboard is test_staff_sign_in_by_keyboard's subject
    goto(page, "/staff/setup/roles")
    expect(page.get_by_role("heading", name="Roles", level=1)).to_be_visible()
    type_into(page, page.get_by_label("New role name"), role)
    press_on(page, page.get_by_role("button", name="Create role"))
    expect(page.get_by_role("heading", name=role, level=2)).to_be_visible()
    level = page.get_by_label("Task - Patient Portal level", exact=True)
    expect(level).to_have_value("0")
    tab_to(page, level)
    page.keyboard.type("Write")  # a closed select picks the option that starts with what is typed
    expect(level).to_have_value("3")
    expect(page.get_by_text("Unsaved changes")).to_be_visible()
    press_on(page, page.get_by_role("button", name="Save", exact=True))
    expect(page.get_by_text(f"Role {role} saved")).to_be_visible()
    focus_is_kept(page)


@staff_widths
def test_my_tasks_reply_to_a_message_by_keyboard(app_server: AppServer, page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 844})
    patient = _patient(app_server, "Rhoda", "Replyton")
    user_id = give_account(app_server, patient)
    with db.session_scope(app_server.db_url) as session:
        account_id = account_of(app_server, user_id).id
        chart = portal_auth.chart_for(session=session, account_id=account_id, patient_id=patient.id)
        task_id = messages.start_thread(session=session, account_id=account_id, chart=chart,
                                        subject="Refill please", body="My inhaler is nearly empty.")
    staff_sign_in(page)  # signing in by keyboard is test_staff_sign_in_by_keyboard's subject
    nav = page.get_by_role("navigation", name="Staff")
    press_on(page, nav.get_by_role("link", name="My Tasks"))
    expect(page).to_have_url(re.compile(r"/staff/tasks/?$"))
    press_on(page, page.get_by_role("link", name=re.compile(
        rf"^Message from .*{re.escape(patient.last_name)}")).first)
    expect(page).to_have_url(re.compile(rf"/staff/tasks/{task_id}/?$"))
    type_into(page, page.get_by_label("Reply", exact=True), "We sent the refill to your pharmacy.")
    press_on(page, page.get_by_role("button", name="Send reply"))
    expect(page.get_by_text("Reply sent.")).to_be_visible()
    focus_is_kept(page)
    with db.session_scope(app_server.db_url) as session:
        task = session.exec(select(PortalTask).where(PortalTask.id == task_id)).one()
        assert task.kind == TaskKind.MESSAGE


# --- patient journeys (390 px wide) ---------------------------------------------------------


def test_patient_creates_an_account_by_keyboard(app_server: AppServer, page: Page) -> None:
    page.set_viewport_size(PHONE)
    patient = _patient(app_server, "Petronella", "Keyholder")
    with db.session_scope(app_server.db_url) as session:
        keys.generate_key(session=session, patient_id=patient.id, channel="email", address=patient.email,
                          requested_by="the patient", actor=audit.Actor.system("e2e test"))
    body = [m for m in messages_to(app_server, patient.email) if m.kind == "connection_key"][-1].body_text
    key = re.search(r"connection key: ([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})", body).group(1)
    user_id = f"petronella.{unique_tag().lower()}@example.net"

    goto(page, "/setup?p=createAccount")
    expect(page.get_by_role("heading", name="Create your portal account")).to_be_visible()
    type_into(page, page.get_by_label("Email or mobile phone number"), user_id)
    press_on(page, page.get_by_role("button", name="Create Account"))
    expect(page.get_by_text(f"We sent a message to {user_id}.")).to_be_visible()
    focus_is_kept(page)

    goto(page, newest_link(app_server, user_id, kind="verification"))
    press_on(page, page.get_by_role("button", name="Yes"))
    type_into(page, page.get_by_label("Connection key", exact=True), key)
    press_on(page, page.get_by_role("button", name="Next"))
    expect(page.get_by_role("heading", name="Verify your details")).to_be_visible()
    type_into(page, page.get_by_label("Last name"), patient.last_name)
    type_date(page, page.get_by_label("Date of birth"), patient.dob)
    press_on(page, page.get_by_role("radio", name="My own chart (I am the patient)"), "Space")
    press_on(page, page.get_by_role("button", name="Connect"))
    expect(page.get_by_role("heading", name="Create a password")).to_be_visible()
    type_into(page, page.get_by_label("Password", exact=True), PASSPHRASE)
    type_into(page, page.get_by_label("Confirm password"), PASSPHRASE)
    press_on(page, page.get_by_role("button", name="Finish"))
    expect_portal_home(page, patient)


def test_patient_signs_in_by_keyboard(app_server: AppServer, page: Page) -> None:
    page.set_viewport_size(PHONE)
    patient = _patient(app_server, "Sigrid", "Signwell")
    user_id = give_account(app_server, patient)
    patient_keyboard_sign_in(page, user_id)
    expect_portal_home(page, patient)
    # The portal's own links and the sign-out button are reachable too.
    tab_to(page, page.get_by_role("navigation", name="Portal").get_by_role("link", name="Messages"))
    press_on(page, page.get_by_role("button", name="Sign out"), "Enter")
    expect(page).to_have_url(re.compile(r"/login/?$"))


def test_patient_sends_a_message_by_keyboard(app_server: AppServer, page: Page) -> None:
    page.set_viewport_size(PHONE)
    patient = _patient(app_server, "Mireille", "Messager")
    user_id = give_account(app_server, patient)
    patient_keyboard_sign_in(page, user_id)
    expect_portal_home(page, patient)
    press_on(page, page.get_by_role("navigation", name="Portal").get_by_role("link", name="Messages"))
    expect(page.get_by_role("heading", name="Messages", level=1)).to_be_visible()
    press_on(page, page.get_by_role("button", name="New message"))
    focus_is_kept(page)
    type_into(page, page.get_by_label("Subject"), "Question about my dose")
    type_into(page, page.get_by_label("Message", exact=True), "Should I take it with food?")
    press_on(page, page.get_by_role("button", name="Send message"))
    expect(page.get_by_text("Your message was sent to the practice.")).to_be_visible()
    focus_is_kept(page)
    with db.session_scope(app_server.db_url) as session:
        subjects = session.exec(select(PortalTask.subject).where(PortalTask.patient_id == patient.id)).all()
    assert list(subjects) == ["Question about my dose"]


def test_patient_forgot_password_by_keyboard(app_server: AppServer, page: Page) -> None:
    page.set_viewport_size(PHONE)
    patient = _patient(app_server, "Fenella", "Forgetful")
    give_account(app_server, patient)
    goto(page, "/login")
    press_on(page, page.get_by_role("link", name=re.compile("forgot", re.I)).first)
    expect(page).to_have_url(re.compile(r"/forgot/?$"))
    type_into(page, page.get_by_label("Email or mobile phone number"), patient.email)
    type_date(page, page.get_by_label("Date of birth"), patient.dob)
    press_on(page, page.get_by_role("button", name="Send me a link"))
    expect(page.get_by_label("Email or mobile phone number")).to_have_count(0)  # the answer replaces the form
    focus_is_kept(page)
    wait_until(lambda: [m for m in messages_to(app_server, patient.email) if m.kind == "reset"],
               what="the reset link")


# --- every tab stop -------------------------------------------------------------------------


def _walk_tab_order(page: Page, stops: int) -> list[str]:
    """Tab through up to `stops` controls; each must show an uncovered focus ring. Returns what
    was focused (tag and text), stopping early once the order wraps back to the start."""
    seen: list[str] = []
    for step in range(stops):
        page.keyboard.press("Tab")
        here = page.evaluate("() => { const el = document.activeElement; return el === document.body ? '' "
                             ": el.tagName + ' ' + (el.id || el.innerText || el.value || '').slice(0, 30); }")
        if not here and step < 10 and not seen:
            continue  # a page still settling after load: start again from the top
        if not here or (seen and here == seen[0]):
            break
        try:
            expect_focus_ring(page)
        except AssertionError as problem:
            raise AssertionError(f"{page.url} after {seen}: {problem}") from None
        seen.append(here)
    return seen


def test_every_tab_stop_of_the_patient_pages_shows_a_focus_ring(app_server: AppServer, page: Page) -> None:
    page.set_viewport_size(PHONE)
    patient = _patient(app_server, "Wilhelmina", "Walkabout")
    user_id = give_account(app_server, patient)
    for path in ("/login", "/forgot", "/setup?p=createAccount"):
        goto(page, path)
        seen = _walk_tab_order(page, 30)
        assert len(seen) >= 3, (path, seen)
    patient_keyboard_sign_in(page, user_id)
    expect_portal_home(page, patient)
    for path in ("/portal", "/portal/messages", "/portal/appointments", "/portal/documents", "/portal/forms"):
        goto(page, path)
        seen = _walk_tab_order(page, 40)
        assert len(seen) >= 3, (path, seen)


@staff_widths
def test_import_patients_by_keyboard(app_server: AppServer, page: Page, width: int, tmp_path: Path) -> None:
    """Setup > Import patients: choose the file, upload, match a column, preview, dry run, import."""
    page.set_viewport_size({"width": width, "height": 844})
    export = tmp_path / "keyboard_export.csv"
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "e2e_import" / "practice_export.csv"
    export.write_bytes(fixture.read_bytes().replace(b"EHR-700", f"KB{width}-".encode()))
    staff_sign_in(page)  # signing in by keyboard is test_staff_sign_in_by_keyboard's subject
    goto(page, "/staff/setup/import")
    another = page.get_by_role("button", name="Import another file")
    expect(page.get_by_role("button", name="Choose a file").or_(another)).to_be_visible()
    if another.count():
        press_on(page, another)
    with page.expect_file_chooser() as chooser:
        press_on(page, page.get_by_role("button", name="Choose a file"))
    chooser.value.set_files(export)
    press_on(page, page.get_by_role("button", name="Upload", exact=True))
    expect(page.get_by_text(re.compile(r"^Uploaded\."))).to_be_visible()
    tab_to(page, page.get_by_label("Preferred name"))
    page.keyboard.type("Alias")
    expect(page.get_by_label("Preferred name")).to_have_value("Alias")
    press_on(page, page.get_by_role("button", name="Preview", exact=True))
    expect(page.get_by_role("table", name="The first rows of the file")).to_contain_text(f"KB{width}-01")
    press_on(page, page.get_by_role("button", name="Dry run", exact=True))
    expect(page.get_by_role("status").filter(has_text="Dry run: the import would make 6 new")).to_be_visible()
    press_on(page, page.get_by_role("button", name="Import", exact=True))
    # The import runs in its own process: starting it can take more than the default 5 s on a busy machine.
    expect(page.get_by_role("status").filter(has_text="Imported: 6 new")).to_be_visible(timeout=30_000)
    press_on(page, page.get_by_role("link", name="Open the onboarding list"))
    expect(page).to_have_url(re.compile(r"/staff/onboarding/?$"))


@staff_widths
def test_every_tab_stop_of_the_staff_pages_shows_a_focus_ring(app_server: AppServer, page: Page,
                                                              width: int) -> None:
    page.set_viewport_size({"width": width, "height": 844})
    patient = _patient(app_server, "Walter", "Walkabout")
    staff_sign_in(page)  # signing in by keyboard is test_staff_sign_in_by_keyboard's subject
    for path in ("/staff/onboarding", f"/staff/patients/{patient.id}", "/staff/portal-accounts",
                 "/staff/portal-users", "/staff/tasks", "/staff/setup/roles", "/staff/setup/users",
                 "/staff/adoption", "/staff/outbox", "/staff/audit", "/staff/setup/portal",
                 "/staff/onboarding/new-patient", "/staff/setup/import"):
        goto(page, path)
        seen = _walk_tab_order(page, 40)
        assert len(seen) >= 5, (path, seen)
