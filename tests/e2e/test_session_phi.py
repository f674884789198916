"""Issue 11, item 3: patient data does not outlive the session, in the tab's server state or on screen.

Reflex keeps a tab's state on the server and sends it all again to whoever reconnects with the
tab's token (sessionStorage "token"). These tests read that token from a real Chromium tab,
end the session (sign-out, or idle expiry by moving the session row back), then reconnect with
the raw websocket client (tests/wsclient.py) as an attacker holding the token and the old
cookie would: no frame may hold the patient's name, date of birth or message text. Each test
first proves the probe sees the data while the session is live (so it can fail).

The idle timer is tested with seconds instead of minutes (`window.portalIdleTimes`, which only
changes the browser's timer).
"""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta, timezone

from playwright.sync_api import Page, expect
from sqlmodel import select

from portal_app import db
from portal_app.models import AuthSession
from portal_app.services import audit, onboarding, tokens
from tests.e2e.conftest import AppServer, goto
from tests.e2e.helpers import (
    PASSPHRASE,
    SeededPatient,
    create_patient,
    expect_portal_home,
    give_account,
    patient_sign_in,
    staff_sign_in,
    unique_tag,
    wait_until,
)
from tests.e2e.test_accessibility import _violations
from tests.wsclient import ReflexSocket, hydrate_event

STAFF_COOKIE = "portal_staff_session"
PATIENT_COOKIE = "portal_patient_session"


def _patient(app_server: AppServer) -> SeededPatient:
    return create_patient(app_server, first_name="Ottoline", last_name=f"Quarrington{unique_tag()}",
                          dob=date(1961, 9, 23), portal_enabled=True)


def _phi(patient: SeededPatient, *extra: str) -> list[str]:
    return [patient.last_name, patient.email, patient.dob.strftime("%m/%d/%Y"), *extra]


def _tab(page: Page) -> tuple[str, dict[str, str]]:
    """The tab's Reflex token and the browser's cookies, as an attacker copying them would hold them."""
    token = page.evaluate("() => window.sessionStorage.getItem('token')")
    assert token
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    return token, cookies


def _reconnect(app_server: AppServer, token: str, cookies: dict[str, str], path: str) -> str:
    """Reconnect as the tab with the raw client; every frame received, as one string.

    The tab's own socket must be gone (`_leave`): while the token is in use, Reflex hands a
    second connection a new token (a duplicated tab), and the probe would see a fresh state.
    Its disconnect is handled a moment later, so a `new_token` answer is retried.
    """
    deadline = time.monotonic() + 20
    while True:
        with ReflexSocket(app_server.base_url, token, cookies=cookies) as sock:
            sock.send(hydrate_event(path))  # the HttpOnly cookies ride in the handshake
            sock.collect(until_final=2, timeout=8)
            renamed = any(isinstance(f, list) and f and f[0] == "new_token" for f in sock.frames)
            if sock.frames and not renamed:
                return sock.text()
        assert time.monotonic() < deadline, "the tab's token stayed in use"
        time.sleep(0.5)


def _leave(page: Page) -> None:
    """Close the tab's socket (the page goes elsewhere); its state stays on the server."""
    page.goto("about:blank")


def _leaks(text: str, words: list[str]) -> list[str]:
    return [word for word in words if word in text]


def _expire(app_server: AppServer, session_id: str) -> None:
    """The session was last seen 20 minutes ago (past the 15-minute idle limit)."""
    with db.session_scope(app_server.db_url) as session:
        row = session.exec(select(AuthSession).where(AuthSession.token_hash == tokens.digest(session_id))).one()
        row.last_seen_at = datetime.now(timezone.utc) - timedelta(minutes=20)
        session.add(row)
        session.commit()


def _open_message(page: Page, tag: str) -> str:
    """The patient writes a message and opens it: its text is now in the tab's state."""
    text = f"My inhaler ran out on the trip to Tallinn {tag}"
    goto(page, "/portal/messages")
    page.get_by_role("button", name="New message").click()
    page.get_by_label("Subject").fill(f"Refill {tag}")
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_role("button", name="Send message").click()
    expect(page.get_by_text("Your message was sent to the practice.")).to_be_visible()
    page.get_by_role("button", name=re.compile(f"Refill {tag}")).click()
    expect(page.locator("article.post").first).to_contain_text(text)
    return text


def _signed_in_patient(app_server: AppServer, page: Page) -> tuple[SeededPatient, str]:
    patient = _patient(app_server)
    user_id = give_account(app_server, patient)
    patient_sign_in(page, user_id, PASSPHRASE)
    expect_portal_home(page, patient)
    return patient, _open_message(page, unique_tag())


def test_patient_tab_after_sign_out_reconnects_without_phi(app_server: AppServer, page: Page) -> None:
    patient, message = _signed_in_patient(app_server, page)
    token, cookies = _tab(page)
    assert PATIENT_COOKIE in cookies
    phi = _phi(patient, message)
    _leave(page)
    # While the session lives, the probe gets the tab's own state, patient and all (so it can fail).
    assert _leaks(_reconnect(app_server, token, cookies, "/"), phi) != []

    goto(page, "/portal/messages")  # the same tab (same token) comes back and signs out
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login/?$"))
    _leave(page)
    # The old cookie and the tab's token, replayed: nothing of the patient comes back.
    assert _leaks(_reconnect(app_server, token, cookies, "/"), phi) == []
    assert _leaks(_reconnect(app_server, token, {}, "/portal/messages"), phi) == []


def test_patient_tab_after_idle_expiry_reconnects_without_phi(app_server: AppServer, page: Page) -> None:
    patient, message = _signed_in_patient(app_server, page)
    token, cookies = _tab(page)
    _leave(page)
    _expire(app_server, cookies[PATIENT_COOKIE])
    # "/" has no on_load: what comes back is the snapshot of the tab's state alone.
    assert _leaks(_reconnect(app_server, token, cookies, "/"), _phi(patient, message)) == []


def test_staff_tab_that_viewed_a_chart_reconnects_without_the_patient(app_server: AppServer, page: Page) -> None:
    patient = _patient(app_server)
    staff_sign_in(page)

    def view_chart() -> tuple[str, dict[str, str]]:
        goto(page, f"/staff/patients/{patient.id}")
        expect(page.get_by_role("heading", name=patient.list_name, level=2)).to_be_visible()
        expect(page.get_by_text(patient.email).first).to_be_visible()
        return _tab(page)

    token, cookies = view_chart()
    phi = _phi(patient)
    _leave(page)
    assert _leaks(_reconnect(app_server, token, cookies, "/"), phi) != []

    # Idle expiry: the session row is past the limit; the tab's state is not sent.
    _expire(app_server, cookies[STAFF_COOKIE])
    assert _leaks(_reconnect(app_server, token, cookies, "/"), phi) == []

    # Sign-out: sign in again in the same tab, view the chart, sign out.
    staff_sign_in(page)
    token, cookies = view_chart()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/staff/login/?$"))
    _leave(page)
    assert _leaks(_reconnect(app_server, token, cookies, "/"), phi) == []


def test_an_open_tab_forgets_the_patient_when_access_is_disabled(app_server: AppServer, page: Page) -> None:
    """Nothing is sent by the tab; the server's sweep (once a minute, every 2 s on the e2e server)
    finds the ended session and pushes the reset, so the screen empties too (no waiting for the
    tab's next click)."""
    patient = _patient(app_server)
    user_id = give_account(app_server, patient)
    patient_sign_in(page, user_id, PASSPHRASE)
    expect_portal_home(page, patient)
    with db.session_scope(app_server.db_url) as session:
        onboarding.disable_access(session=session, patient_id=patient.id, actor=audit.Actor.system("e2e test"))
    main = page.get_by_role("main")
    expect(main.get_by_text(patient.last_name)).to_have_count(0, timeout=30_000)
    expect(main.get_by_text(patient.dob.strftime("%m/%d/%Y"))).to_have_count(0)
    token, cookies = _tab(page)
    _leave(page)
    assert _leaks(_reconnect(app_server, token, cookies, "/"), _phi(patient)) == []


def _session_row(app_server: AppServer, session_id: str) -> AuthSession:
    with db.session_scope(app_server.db_url) as session:
        row = session.exec(select(AuthSession).where(AuthSession.token_hash == tokens.digest(session_id))).one()
        session.expunge(row)
        return row


def _seen_minutes_ago(app_server: AppServer, session_id: str, minutes: int) -> None:
    with db.session_scope(app_server.db_url) as session:
        row = session.exec(select(AuthSession).where(AuthSession.token_hash == tokens.digest(session_id))).one()
        row.last_seen_at = datetime.now(timezone.utc) - timedelta(minutes=minutes)
        session.add(row)
        session.commit()


def test_idle_timer_warns_keeps_alive_and_signs_out(app_server: AppServer, page: Page) -> None:
    # Seconds instead of minutes, in this browser only: warn after 4 s without activity, sign out at 9 s.
    page.context.add_init_script("window.portalIdleTimes = {warnMs: 4000, endMs: 9000};")
    patient = _patient(app_server)
    user_id = give_account(app_server, patient)
    patient_sign_in(page, user_id, PASSPHRASE)
    expect_portal_home(page, patient)
    sid = _tab(page)[1][PATIENT_COOKIE]

    warning = page.get_by_role("alertdialog", name="Inactivity warning")
    expect(warning).to_be_visible(timeout=15_000)
    expect(warning).to_contain_text("You will be signed out in 2 minutes")
    assert _violations(page) == []
    # "Stay signed in" keeps the session alive on the server, not only on screen.
    _seen_minutes_ago(app_server, sid, 5)
    # Pressing the button leaves the box where it is until the click (hidden at the press, the
    # click would land on the page under it).
    assert page.evaluate("""() => {
        document.getElementById("idle-stay").dispatchEvent(new PointerEvent("pointerdown", {bubbles: true}));
        return document.getElementById("idle-warning").hidden;
    }""") is False
    warning.get_by_role("button", name="Stay signed in").click()
    expect(warning).to_be_hidden()
    wait_until(lambda: datetime.now(timezone.utc) - _session_row(app_server, sid).last_seen_at.replace(
        tzinfo=timezone.utc) < timedelta(minutes=1), what="the session touched by Stay signed in")
    expect_portal_home(page, patient)

    # No activity: the warning again, then the page is cleared and the tab is on sign-in, saying why.
    expect(warning).to_be_visible(timeout=15_000)
    expect(page).to_have_url(re.compile(r"/login/?\?ended=idle$"), timeout=20_000)
    expect(page.get_by_role("status").filter(has_text="You were signed out because there was no activity")
           ).to_be_visible()
    expect(page.get_by_text(patient.last_name)).to_have_count(0)
    assert _violations(page) == []
    assert _session_row(app_server, sid).revoked_at is not None
    # And the tab's server state holds nothing of the patient either.
    token, _ = _tab(page)
    _leave(page)
    assert _leaks(_reconnect(app_server, token, {PATIENT_COOKIE: sid}, "/"), _phi(patient)) == []


def test_idle_timer_on_a_staff_page_signs_out_to_staff_sign_in(app_server: AppServer, page: Page) -> None:
    page.context.add_init_script("window.portalIdleTimes = {warnMs: 3000, endMs: 6000};")
    staff_sign_in(page)
    expect(page).to_have_url(re.compile(r"/staff/login/?\?ended=idle$"), timeout=20_000)
    expect(page.get_by_role("status").filter(has_text="You were signed out because there was no activity")
           ).to_be_visible()
    expect(page.get_by_label("Username")).to_be_visible()
