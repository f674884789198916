"""Setup > Roles and Staff users, end to end: a limited role, a new staff user, and a role
change that takes effect on that user's next page load."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import AppServer, goto
from tests.e2e.helpers import OTHER_PASSPHRASE, audit_events, staff_sign_in, unique_tag
from tests.e2e.test_accessibility import _violations

ROLE = "Portal Limited"


def _nav(page: Page):
    return page.get_by_role("navigation", name="Staff")


def _staff_password_change(page: Page, username: str, temporary: str) -> None:
    """First sign-in with a temporary password: the app insists on a new one, then opens My Tasks
    (the only page the user's role opens)."""
    goto(page, "/staff/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(temporary)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/staff/password/?$"))
    page.get_by_label("Current password").fill(temporary)
    page.get_by_label("New password").fill(OTHER_PASSPHRASE)
    page.get_by_label("Confirm password").fill(OTHER_PASSPHRASE)
    page.get_by_role("button", name="Change password").click()
    expect(page).to_have_url(re.compile(r"/staff/tasks/?$"))  # the first page their role opens


def _user_row(page: Page, username: str):
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=username, exact=True))


def _open_role(page: Page, name: str) -> None:
    roles = page.get_by_role("region", name="Roles", exact=True)
    roles.get_by_role("button", name=re.compile(rf"^{re.escape(name)}\b")).click()
    expect(page.get_by_role("heading", name=name, level=2)).to_be_visible()


def test_limited_role_for_a_new_staff_user(app_server: AppServer, page: Page, new_context) -> None:
    staff_sign_in(page)
    expect(_nav(page).get_by_role("group", name="Setup").get_by_role("link", name="Roles")).to_be_visible()
    clock = page.locator("#staff-session-time")
    expect(clock).to_have_text(re.compile(r"^\d+:\d\d:\d\d$"))
    first = clock.inner_text()
    expect(clock).not_to_have_text(first, timeout=5000)  # ticks in the browser between events

    # Search: both queue permissions are found.
    goto(page, "/staff/setup/roles")
    expect(page.get_by_role("heading", name="Roles", level=1)).to_be_visible()
    page.keyboard.press("Tab")  # the header's skip link shows itself when focused
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    assert skip.bounding_box()["x"] >= 0
    page.get_by_label("Search roles and permissions").fill("Patient Portal")
    page.get_by_role("button", name="Search").click()
    found = page.get_by_role("region", name="Matching permissions")
    expect(found.get_by_text("Task - Patient Portal - List", exact=True)).to_be_visible()
    expect(found.get_by_text("Task - Patient Portal", exact=True)).to_be_visible()
    role_list = page.get_by_role("region", name="Roles", exact=True)
    expect(role_list.get_by_role("button", name=re.compile(r"^Patient Portal Communications Only"))).to_be_visible()
    # Every role stays listed, so the found permissions can be set on any of them.
    _open_role(page, "Front Desk")
    expect(page.get_by_label("Task - Patient Portal level", exact=True)).to_have_value("3")
    expect(page.get_by_label("Outbox level", exact=True)).to_have_count(0)  # only the matching rows

    # A new role with Write on "Task - Patient Portal" only.
    page.get_by_label("New role name").fill(ROLE)
    page.get_by_role("button", name="Create role").click()
    expect(page.get_by_role("heading", name=ROLE, level=2)).to_be_visible()
    task_level = page.get_by_label("Task - Patient Portal level", exact=True)
    expect(task_level).to_have_value("0")
    expect(page.get_by_label("Task - Patient Portal - List level", exact=True)).to_have_value("0")
    task_level.select_option("Write")
    expect(page.get_by_text("Unsaved changes")).to_be_visible()
    assert _violations(page) == []
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text(f"Role {ROLE} saved")).to_be_visible()
    expect(task_level).to_have_value("3")

    # A staff user holding that role; the temporary password is shown once.
    username = f"limited{unique_tag().lower()}"
    goto(page, "/staff/setup/users")
    expect(page.get_by_role("heading", name="Staff users", level=1)).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Full name").fill("Lena Limited")
    page.get_by_role("group", name="Roles").get_by_label(ROLE, exact=True).check()
    page.get_by_role("button", name="Create staff user").click()
    temporary = page.locator("#temp-password")
    expect(temporary).to_be_visible()
    password = temporary.inner_text().strip()
    assert re.fullmatch(r"[A-Z2-9]{4}(-[A-Z2-9]{4}){4}", password)  # passwords.generate
    expect(_user_row(page, username)).to_contain_text(ROLE)
    assert _violations(page) == []
    assert audit_events(app_server, action="staff.create")

    # The new user signs in, must change the password, and sees My Tasks.
    user_page = new_context().new_page()
    _staff_password_change(user_page, username, password)
    expect(_nav(user_page).get_by_role("link", name="My Tasks")).to_be_visible()
    expect(user_page.get_by_text("First sign-in with no failed sign-in attempts before it")).to_be_visible()
    expect(_nav(user_page).get_by_role("link", name="Roles")).to_have_count(0)
    goto(user_page, "/staff/setup/roles")
    expect(user_page.get_by_text("You do not have permission to open Roles setup.")).to_be_visible()

    # The admin sets the role back to Off: the user's next page load has no My Tasks.
    goto(page, "/staff/setup/roles")
    _open_role(page, ROLE)
    page.get_by_label("Task - Patient Portal level", exact=True).select_option("Off")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text(f"Role {ROLE} saved")).to_be_visible()
    assert any("Write -> Off" in row.detail for row in audit_events(app_server, action="role.permission"))

    goto(user_page, "/staff/onboarding")
    expect(user_page.get_by_text("Current user:")).to_be_visible()
    expect(_nav(user_page).get_by_role("link", name="My Tasks")).to_have_count(0)

    # Deleting a role someone holds asks first, naming how many hold it.
    page.get_by_role("button", name="Delete role").click()
    question = page.get_by_role("alertdialog")
    expect(question).to_contain_text(f"1 staff user holds the role {ROLE}")
    question.get_by_role("button", name="Delete anyway").click()
    expect(page.get_by_text(f"Role {ROLE} deleted.")).to_be_visible()
    goto(page, "/staff/setup/users")
    expect(_user_row(page, username)).to_contain_text("No role")
