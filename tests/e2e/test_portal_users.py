"""User Management (/staff/portal-users): staff find a parent who acts for two children,
disable the account while the parent is signed in (the parent's next step lands on the
sign-in page), then enable it again and the parent signs in."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from portal_app import db
from portal_app.models import AccessType, AccountStatus, PortalAccount, PortalConnection
from portal_app.services import clock, passwords
from portal_app.services.areas import ALL_AREAS
from tests.e2e.conftest import AppServer
from tests.e2e.helpers import (
    PASSPHRASE,
    SeededPatient,
    audit_events,
    create_patient,
    open_sessions,
    patient_sign_in,
    staff_sign_in,
    unique_tag,
)
from tests.e2e.test_accessibility import _violations


def give_representative(app_server: AppServer, user_id: str, first: str, last: str,
                        children: list[SeededPatient]) -> int:
    """An active account connected to each child as parent (as staff would set it up)."""
    with db.session_scope(app_server.db_url) as session:
        now = clock.now()
        account = PortalAccount(user_id=user_id, first_name=first, last_name=last,
                                password_hash=passwords.hash_password(PASSPHRASE),
                                status=AccountStatus.ACTIVE, password_changed_at=now, verified_at=now)
        session.add(account)
        session.flush()
        for child in children:
            session.add(PortalConnection(account_id=account.id, patient_id=child.id,
                                         access_type=AccessType.REPRESENTATIVE, relationship="parent",
                                         permissions=ALL_AREAS, requested_by="e2e test"))
        session.commit()
        return account.id


def _confirm(page: Page, title: str, button: str) -> None:
    dialog = page.get_by_role("alertdialog")
    expect(dialog.get_by_role("heading")).to_have_text(title)
    dialog.get_by_role("button", name=button, exact=True).click()
    expect(dialog).to_be_hidden()


def test_disabling_a_signed_in_parent_ends_the_session_and_enabling_lets_them_back(
        app_server: AppServer, page: Page, new_context) -> None:
    last = f"Fairweather-{unique_tag()}"
    first_child = create_patient(app_server, first_name="Milo", last_name=last, portal_enabled=True)
    second_child = create_patient(app_server, first_name="Ines", last_name=last, portal_enabled=True)
    user_id = f"petra.{last.lower()}@example.net"
    account_id = give_representative(app_server, user_id, "Petra", last, [first_child, second_child])

    # The parent signs in, in a browser of their own, and may view either child.
    parent_page = new_context().new_page()
    patient_sign_in(parent_page, user_id, PASSPHRASE)
    expect(parent_page).to_have_url(re.compile(r"/portal/?$"))
    expect(parent_page.get_by_label("Viewing:")).to_be_visible()
    assert open_sessions(app_server, user_id) == 1

    # Staff open User Management from the menu and find the parent by name.
    staff_sign_in(page)
    page.get_by_role("link", name="User Management").click()
    expect(page.get_by_role("heading", name="User Management", level=1)).to_be_visible()
    expect(page.get_by_role("rowheader").first).to_be_visible()
    problems = {"list": _violations(page)}
    page.get_by_label("Search", exact=True).fill(f"{last}, Petra")
    rows = page.get_by_role("row").filter(has=page.get_by_role("rowheader"))
    expect(rows).to_have_count(1)
    row = rows.filter(has=page.get_by_role("rowheader", name=user_id, exact=True))
    expect(row).to_have_count(1)
    expect(row).to_contain_text(f"{last}, Petra")
    expect(row).to_contain_text(f"{last}, Milo ({first_child.chart_number}): Authorized representative (parent)")
    expect(row).to_contain_text(f"{last}, Ines ({second_child.chart_number}): Authorized representative (parent)")
    expect(row).to_contain_text("Active")

    # Disable, after confirming.
    row.get_by_role("button", name=f"Disable {user_id}").click()
    expect(page.get_by_role("alertdialog")).to_be_visible()
    problems["dialog"] = _violations(page)
    _confirm(page, f"Disable {user_id}?", "Disable account")
    expect(page.get_by_role("status").filter(has_text=f"{user_id} is disabled")).to_be_visible()
    expect(row).to_contain_text("Disabled")
    enable = row.get_by_role("button", name=f"Enable {user_id}")
    expect(enable).to_be_visible()
    expect(page.get_by_label("Search", exact=True)).to_have_value(f"{last}, Petra")  # search kept
    assert open_sessions(app_server, user_id) == 0
    [event] = [e for e in audit_events(app_server, action="account.disable") if e.account_id == account_id]
    assert event.detail.startswith("status active -> disabled; sessions ended=1")
    problems["after disable"] = _violations(page)

    # The parent's next step lands on the sign-in page, and signing in fails while disabled.
    parent_page.reload()
    expect(parent_page).to_have_url(re.compile(r"/login/?$"))
    patient_sign_in(parent_page, user_id, PASSPHRASE)
    expect(parent_page.get_by_role("alert")).to_be_visible()
    expect(parent_page).to_have_url(re.compile(r"/login/?$"))

    # Staff enable the account again; the parent signs in.
    enable.click()
    _confirm(page, f"Enable {user_id}?", "Enable account")
    expect(row.get_by_role("button", name=f"Disable {user_id}")).to_be_visible()
    expect(row).to_contain_text("Active")
    patient_sign_in(parent_page, user_id, PASSPHRASE)
    expect(parent_page).to_have_url(re.compile(r"/portal/?$"))
    expect(parent_page.get_by_label("Viewing:")).to_be_visible()
    assert [e.detail for e in audit_events(app_server, action="account.enable")
            if e.account_id == account_id] == ["status disabled -> active"]
    assert problems == {name: [] for name in problems}

    # A connected chart leads to its Portal Account Setup, where the parent's permissions change.
    row.get_by_role("link", name=re.compile(re.escape(f"{last}, Milo"))).click()
    expect(page).to_have_url(re.compile(rf"/staff/portal-accounts\?patient={first_child.id}$"))
    expect(page.get_by_role("heading", name=first_child.list_name, level=2)).to_be_visible()
    expect(page.get_by_role("row").filter(has_text=user_id)).to_contain_text("Authorized Representative (Parent)")
