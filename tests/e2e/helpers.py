"""Shared steps for the end-to-end tests.

Test data goes straight into the e2e server's database (the same SQLite file, through the
services and models), with unique names, so no test depends on the random demo patients
or on the order the tests run in. What the server sent (invitations, reset links) is read
back from the outbox table.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import string
import time
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import pyotp
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from sqlmodel import col, select

from portal_app import db
from portal_app.models import AuditEvent, AuthSession, OutboxMessage, Patient, PortalAccount
from portal_app.services import audit, manual_credentials, onboarding
from tests.e2e.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, AppServer, goto

T = TypeVar("T")

# A passphrase zxcvbn scores 4 and that holds no patient's name or email.
PASSPHRASE = "velvet tractor orbit canyon 58"
OTHER_PASSPHRASE = "lantern mosaic drizzle walnut 31"

# The colours of the status rectangle (portal_app/components/status.py), as computed CSS.
RED_RGB = "rgb(179, 38, 30)"  # #b3261e
GREEN_RGB = "rgb(30, 122, 52)"  # #1e7a34

_LINK = re.compile(r"https?://\S+/setup\?\S+")


@dataclasses.dataclass(frozen=True)
class SeededPatient:
    id: int
    first_name: str
    last_name: str
    email: str
    dob: date
    chart_number: str

    @property
    def list_name(self) -> str:
        """As the onboarding list and the chart show it: "Last, First"."""
        return f"{self.last_name}, {self.first_name}"

    @property
    def portal_name(self) -> str:
        """As the patient's portal home shows it: "First Last"."""
        return f"{self.first_name} {self.last_name}"


def unique_tag(length: int = 5) -> str:
    """Letters only (a digit would turn a name search into a chart-number search)."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(length)).capitalize()


def wait_until(predicate: Callable[[], T], *, timeout: float = 15.0, what: str = "condition") -> T:
    """Poll the database until `predicate()` is truthy (work the server does after answering)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


# --- the database -----------------------------------------------------------------------


def create_patient(app_server: AppServer, *, first_name: str, last_name: str,
                   email: str | None = None, dob: date = date(1984, 3, 7),
                   portal_enabled: bool = False) -> SeededPatient:
    """Insert a chart with a known name straight into the server's database."""
    if email is None:
        email = f"{first_name}.{last_name}@example.net".lower()
    chart_number = f"T{secrets.randbelow(10**9):09d}"
    with db.session_scope(app_server.db_url) as session:
        patient = Patient(
            chart_number=chart_number, first_name=first_name, last_name=last_name, sex="Female",
            dob=dob, email=email, email_lower=email.lower(), mobile_phone="+15550104477",
            address_line1="12 Orchard Lane", city="Fairview", region="TN", postal_code="37062",
            allow_email=True, portal_enabled=portal_enabled,
            sort_key=onboarding.sort_key(last_name, first_name),
        )
        session.add(patient)
        session.commit()
        session.refresh(patient)
        return SeededPatient(id=patient.id, first_name=first_name, last_name=last_name, email=email,
                           dob=dob, chart_number=chart_number)


def create_patients_bulk(app_server: AppServer, *, last_name: str, count: int) -> list[str]:
    """`count` charts sharing one last name; returns their list names in list order."""
    first_names = [f"Ada{string.ascii_lowercase[i // 26]}{string.ascii_lowercase[i % 26]}"
                   for i in range(count)]
    with db.session_scope(app_server.db_url) as session:
        for first in first_names:
            email = f"{first}.{last_name}@example.org".lower()
            session.add(Patient(
                chart_number=f"T{secrets.randbelow(10**9):09d}", first_name=first,
                last_name=last_name, dob=date(1990, 1, 1), email=email, email_lower=email,
                sort_key=onboarding.sort_key(last_name, first)))
        session.commit()
    return [f"{last_name}, {first}" for first in first_names]


def patient_count(app_server: AppServer) -> int:
    with db.session_scope(app_server.db_url) as session:
        return len(session.exec(select(Patient.id)).all())


def give_account(app_server: AppServer, patient: SeededPatient, *, username: str | None = None,
                 password: str = PASSPHRASE, force_change: bool = False) -> str:
    """An active `self` account for the chart (as staff would set it by hand); returns the user ID.

    The chart must have portal access enabled.
    """
    with db.session_scope(app_server.db_url) as session:
        account = manual_credentials.set_manually(
            session=session, patient_id=patient.id, username=username or patient.email,
            password=password, force_change=force_change, actor=audit.Actor.system("e2e test"))
        return account.user_id


def portal_enabled(app_server: AppServer, patient: SeededPatient) -> bool:
    with db.session_scope(app_server.db_url) as session:
        return session.get(Patient, patient.id).portal_enabled


def account_of(app_server: AppServer, user_id: str) -> PortalAccount | None:
    with db.session_scope(app_server.db_url) as session:
        return session.exec(select(PortalAccount).where(PortalAccount.user_id == user_id)).first()


def open_sessions(app_server: AppServer, user_id: str) -> int:
    """How many portal sessions of the account have not been ended."""
    with db.session_scope(app_server.db_url) as session:
        return len(session.exec(
            select(AuthSession.id).join(PortalAccount,
                                        col(AuthSession.portal_account_id) == PortalAccount.id)
            .where(PortalAccount.user_id == user_id, col(AuthSession.revoked_at).is_(None))).all())


def messages_to(app_server: AppServer, address: str) -> list[OutboxMessage]:
    """Every outbox message to `address`, oldest first."""
    with db.session_scope(app_server.db_url) as session:
        return list(session.exec(select(OutboxMessage)
                                 .where(OutboxMessage.to_address == address)
                                 .order_by(col(OutboxMessage.id))))


def newest_link(app_server: AppServer, address: str, *, kind: str | None = None) -> str:
    """The link in the newest message to `address` (an invitation or a reset)."""
    def find() -> str:
        for message in reversed(messages_to(app_server, address)):
            if kind is None or message.kind == kind:
                match = _LINK.search(message.body_text)
                assert match, f"message #{message.id} has no setup link:\n{message.body_text}"
                return match.group(0)
        return ""

    return wait_until(find, what=f"a message to {address}")


def audit_events(app_server: AppServer, *, action: str, actor_label: str | None = None) -> list[AuditEvent]:
    with db.session_scope(app_server.db_url) as session:
        query = select(AuditEvent).where(AuditEvent.action == action)
        if actor_label is not None:
            query = query.where(AuditEvent.actor_label == actor_label)
        return list(session.exec(query))


# --- the browser --------------------------------------------------------------------------


def staff_sign_in(page: Page) -> None:
    """Sign in as the e2e administrator at /staff/login (with the second step: an administrator
    must have one); lands on the onboarding list.

    The server accepts each 30-second authenticator code once, so signing in through the form
    every time would wait up to 30 s per test. The first sign-in on each server goes through the
    form; later ones reuse that session's cookie while it is live (what a browser that stayed
    signed in does), and go through the form again once it has ended (a test signed out).
    """
    goto(page, "/staff/login")
    origin = _origin(page)
    saved = _ADMIN_COOKIES.get(origin)
    if saved is not None:
        page.context.add_cookies([saved])
        goto(page, "/staff/onboarding")
        listing, form = page.get_by_label("Search", exact=True), page.get_by_label("Username")
        expect(listing.or_(form)).to_be_visible()
        if listing.is_visible():
            return
        _ADMIN_COOKIES.pop(origin, None)  # ended: the page clears the cookie; then the form afresh
        page.wait_for_load_state("networkidle")
        goto(page, "/staff/login")
    page.get_by_label("Username").fill(ADMIN_USERNAME)
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    second_step(page, ADMIN_USERNAME)
    expect(page).to_have_url(re.compile(r"/staff/onboarding/?$"))
    expect(page.get_by_role("heading", name="Patient Portal Onboarding", level=1)).to_be_visible()
    cookie = [c for c in page.context.cookies() if c["name"] == STAFF_COOKIE]
    if cookie:
        _ADMIN_COOKIES[origin] = cookie[0]


# The administrator's session cookie on each server (by origin), from its last form sign-in.
_ADMIN_COOKIES: dict[str, Any] = {}
STAFF_COOKIE = "portal_staff_session"


# The authenticator "app" of each user who set one up in this run, by (server origin, username):
# the secret read from the set-up page, and the last 30-second step whose code was used (the
# server refuses a code twice, so a quick second sign-in uses the next step's code, or waits).
_AUTHENTICATORS: dict[tuple[str, str], dict[str, int | str]] = {}


def _origin(page: Page) -> str:
    return "/".join(page.url.split("/")[:3])


def authenticator_code(page: Page, username: str) -> str:
    """The next code the user's authenticator app gives that the server has not seen used."""
    app = _AUTHENTICATORS[(_origin(page), username)]
    while True:
        now = int(time.time()) // 30
        step = max(now, int(app["last"]) + 1)
        if step <= now + 1:
            app["last"] = step
            return pyotp.TOTP(str(app["secret"])).at(step * 30)
        time.sleep(1)


def set_up_authenticator(page: Page, username: str) -> None:
    """On "Set up two-step verification": read the key under the QR code, add it to the "app",
    enter its code, and go on past the recovery codes."""
    hint = page.get_by_text("Can't scan? Enter this key")
    expect(hint).to_be_visible()
    secret = hint.inner_text().split(":", 1)[1].replace(" ", "").strip()
    _AUTHENTICATORS[(_origin(page), username)] = {"secret": secret, "last": 0}
    page.get_by_label("Authentication code").fill(authenticator_code(page, username))
    page.get_by_role("button", name="Turn on and sign in").click()
    page.get_by_role("button", name="I have saved my recovery codes").click()


def second_step(page: Page, username: str) -> None:
    """After a right password: set up the authenticator (the first time) or enter its code."""
    setup = page.get_by_role("heading", name="Set up two-step verification")
    code = page.get_by_label("Authentication code")
    expect(code).to_be_visible()
    if setup.is_visible():
        set_up_authenticator(page, username)
        return
    code.fill(authenticator_code(page, username))
    page.get_by_role("button", name="Verify").click()


def list_rows(page: Page) -> Locator:
    """The onboarding list's patient rows (each has the patient's name as its row header)."""
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader"))


def search_onboarding(page: Page, text: str) -> None:
    """Type into the onboarding list's search box (the list reloads from the server)."""
    page.get_by_label("Search", exact=True).fill(text)


def find_in_onboarding(page: Page, patient: SeededPatient) -> Locator:
    """Search the list for the patient's unique name; returns their row once it is the only one.

    Waiting for the search's answer matters: a click while the table is being redrawn (the
    row moving up from further down) could land on another patient's rectangle.
    """
    search_onboarding(page, patient.list_name)
    rows = list_rows(page)
    expect(rows).to_have_count(1)
    row = rows.filter(has=page.get_by_role("link", name=patient.list_name, exact=True))
    expect(row).to_have_count(1)
    return row


def patient_sign_in(page: Page, user_id: str, password: str) -> None:
    """Fill and send the patient sign-in form at /login (the caller checks where it lands)."""
    goto(page, "/login")
    page.get_by_label("Email or phone number").fill(user_id)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def next_step_after_session_ended(page: Page) -> None:
    """A patient's next step in a tab whose session was ended elsewhere (access disabled, account
    disconnected): the "Change password" link while it is on screen, or a reload once the
    server's sweep (every 2 s on the e2e server) has emptied the tab. Either way the server meets
    the ended session, and the tab should land on sign-in."""
    try:
        page.get_by_role("link", name="Change password").click(timeout=5_000)
    except PlaywrightTimeoutError:
        page.reload()


def expect_portal_home(page: Page, patient: SeededPatient) -> None:
    expect(page).to_have_url(re.compile(r"/portal/?$"))
    expect(page.get_by_role("heading", name="Your patient portal", level=1)).to_be_visible()
    chart = page.get_by_role("region", name="Whose chart this is")
    expect(chart).to_contain_text(patient.portal_name)
    expect(chart).to_contain_text(patient.dob.strftime("%m/%d/%Y"))


def open_connect_wizard(page: Page, patient: SeededPatient, requested_by: str) -> Locator:
    """Staff open the chart, start Connect Patient, verify the patient, say who asked."""
    goto(page, f"/staff/patients/{patient.id}")
    expect(page.get_by_role("heading", name=patient.list_name, level=2)).to_be_visible()
    page.get_by_role("tab", name="Patient Portal").click()
    page.get_by_role("region", name="Connect Patient").get_by_role(
        "button", name="Connect Patient").click()
    dialog = page.get_by_role("dialog", name="Connect Patient")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("definition").first).to_have_text(patient.list_name)
    expect(dialog).to_contain_text(patient.dob.strftime("%m/%d/%Y"))
    ok = dialog.get_by_role("button", name="OK")
    expect(ok).to_be_disabled()
    # Controlled by the server: click, then wait for the round trip to tick it.
    verify = dialog.get_by_label("I verify that I am on the correct patient")
    verify.click()
    expect(verify).to_be_checked()
    expect(ok).to_be_enabled()
    ok.click()
    next_button = dialog.get_by_role("button", name="Next")
    next_button.click()
    expect(dialog.get_by_text("Enter who requested access")).to_be_visible()
    dialog.get_by_label("Requested By").fill(requested_by)
    next_button.click()
    expect(dialog.get_by_text(f"Requested By: {requested_by}")).to_be_visible()
    return dialog


def signed_in_elsewhere(app_server: AppServer, new_context, patient: SeededPatient) -> tuple[Page, str]:
    """The patient gets an account and signs in, in a browser of their own.

    Returns:
        The patient's page and user ID.
    """
    user_id = give_account(app_server, patient)
    patient_page = new_context().new_page()
    patient_sign_in(patient_page, user_id, PASSPHRASE)
    expect_portal_home(patient_page, patient)
    assert open_sessions(app_server, user_id) == 1
    return patient_page, user_id
