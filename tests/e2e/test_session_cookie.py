"""Sessions a script cannot read, and the headers every page carries (issue 11, items 9 and 10).

- The session cookie is set by `/auth/session` as HttpOnly, SameSite=Strict, without Max-Age (it
  dies with the browser): `document.cookie` never shows it, and no websocket frame carries it;
  signing in, moving between pages, reloading and signing out still work, and sign-out removes it.
- Every page answers with a CSP that the built front end runs under (no violation on these
  journeys), `frame-ancestors 'none'` and `X-Frame-Options: DENY` (a foreign page cannot frame
  the staff sign-in), `Referrer-Policy: no-referrer` and `nosniff`.
- A set-up or reset link's token leaves the address bar once the page has read it; a reload
  still shows the same form.
"""

from __future__ import annotations

import re
import urllib.request

from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import AppServer, goto, wait_hydrated
from tests.e2e.helpers import (
    OTHER_PASSPHRASE,
    PASSPHRASE,
    create_patient,
    expect_portal_home,
    give_account,
    newest_link,
    patient_sign_in,
    staff_sign_in,
    unique_tag,
)

STAFF_COOKIE = "portal_staff_session"
PATIENT_COOKIE = "portal_patient_session"

# Every CSP violation the page reports, kept where the test can read it.
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI));
"""


def _watch(context: BrowserContext, page: Page) -> list[str]:
    """Start watching for CSP violations and websocket frames; returns the frames' texts."""
    context.add_init_script(CSP_WATCH)
    frames: list[str] = []
    page.on("websocket", lambda ws: (ws.on("framesent", lambda data: frames.append(str(data))),
                                     ws.on("framereceived", lambda data: frames.append(str(data)))))
    return frames


def _cookie(context: BrowserContext, name: str) -> dict | None:
    return next((c for c in context.cookies() if c["name"] == name), None)


def _assert_http_only_session_cookie(context: BrowserContext, page: Page, name: str, frames: list[str]) -> None:
    cookie = _cookie(context, name)
    assert cookie is not None, f"no {name} cookie after sign-in"
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["expires"] == -1  # a session cookie: no Max-Age, gone when the browser closes
    assert cookie["path"] == "/"
    assert cookie["secure"] is False  # this test server is http; https portals get Secure
    visible = page.evaluate("document.cookie")
    assert name not in visible and cookie["value"] not in visible
    assert not [frame for frame in frames if cookie["value"] in frame]


def _no_csp_violations(page: Page) -> None:
    assert page.evaluate("window.__cspViolations || []") == []


def test_staff_session_cookie_is_http_only_and_every_step_still_works(
        app_server: AppServer, context: BrowserContext, page: Page) -> None:
    frames = _watch(context, page)

    staff_sign_in(page)
    _assert_http_only_session_cookie(context, page, STAFF_COOKIE, frames)
    _no_csp_violations(page)

    # Another page, then a reload (a new websocket handshake carries the cookie).
    page.get_by_role("link", name="User Management").click()
    expect(page).to_have_url(re.compile(r"/staff/portal-users/?$"))
    expect(page.get_by_role("heading", name="User Management", level=1)).to_be_visible()
    page.reload()
    wait_hydrated(page)
    expect(page.get_by_role("heading", name="User Management", level=1)).to_be_visible()
    _no_csp_violations(page)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/staff/login/?$"))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert _cookie(context, STAFF_COOKIE) is None
    goto(page, "/staff/onboarding")
    expect(page).to_have_url(re.compile(r"/staff/login/?$"))
    _no_csp_violations(page)


def test_patient_session_cookie_is_http_only_and_sign_out_removes_it(
        app_server: AppServer, context: BrowserContext, page: Page) -> None:
    frames = _watch(context, page)
    patient = create_patient(app_server, first_name="Ottoline", last_name=f"Wrenfield-{unique_tag()}",
                             portal_enabled=True)
    user_id = give_account(app_server, patient)

    patient_sign_in(page, user_id, PASSPHRASE)
    expect_portal_home(page, patient)
    _assert_http_only_session_cookie(context, page, PATIENT_COOKIE, frames)

    page.get_by_role("link", name="Change password").click()
    expect(page).to_have_url(re.compile(r"/portal/password/?$"))
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login/?$"))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert _cookie(context, PATIENT_COOKIE) is None
    goto(page, "/portal")
    expect(page).to_have_url(re.compile(r"/login/?$"))
    _no_csp_violations(page)


def test_every_staff_page_runs_under_the_csp(app_server: AppServer, context: BrowserContext, page: Page) -> None:
    _watch(context, page)
    staff_sign_in(page)
    for path in ("/staff/tasks", "/staff/adoption", "/staff/portal-accounts", "/staff/portal-users",
                 "/staff/setup/roles", "/staff/setup/users", "/staff/setup/portal", "/staff/setup/import",
                 "/staff/outbox", "/staff/audit", "/staff/onboarding/new-patient", "/staff/password"):
        goto(page, path)
        expect(page.get_by_role("heading", level=1).first).to_be_visible()
        _no_csp_violations(page)


def test_every_answer_carries_the_security_headers(app_server: AppServer, page: Page) -> None:
    response = page.goto("/staff/login")
    assert response is not None
    for headers in (response.headers, dict(urllib.request.urlopen(app_server.url("/ping"), timeout=5).headers)):
        headers = {name.lower(): value for name, value in headers.items()}
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "'unsafe-inline'" not in \
            csp.split("script-src", 1)[1].split(";", 1)[0]
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"
        assert "strict-transport-security" not in headers  # http here; https portals get HSTS

    # A foreign page cannot frame the staff sign-in: the browser refuses it (it says so on the
    # console, and the frame shows Chromium's error page, not the form).
    said: list[str] = []
    page.on("console", lambda message: said.append(message.text))

    def refused() -> bool:
        return (any("frame-ancestors" in text or "X-Frame-Options" in text for text in said)
                or any(frame.url.startswith("chrome-error://") for frame in page.frames[1:]))

    # Up to three tries, each a fresh address (never an answer from the browser's cache), each
    # given 10 s: in one full-suite run neither sign came within 30 s of a single try, as if the
    # frame never started loading. A page that allowed framing fails every try.
    for attempt in range(3):
        page.set_content(f'<iframe title="framed" src="{app_server.url(f"/staff/login?framed={attempt}")}"></iframe>')
        for _ in range(40):
            if refused():
                break
            page.wait_for_timeout(250)  # lets Playwright deliver the console and frame events
        if refused():
            break
    assert refused()


def test_reset_link_token_leaves_the_address_bar_and_a_reload_keeps_the_form(
        app_server: AppServer, context: BrowserContext, page: Page) -> None:
    _watch(context, page)
    patient = create_patient(app_server, first_name="Perpetua", last_name=f"Haldane-{unique_tag()}",
                             portal_enabled=True)
    give_account(app_server, patient)
    goto(page, "/forgot")
    page.get_by_label("Email or mobile phone number").fill(patient.email)
    page.get_by_label("Date of birth").fill(patient.dob.isoformat())
    page.get_by_role("button", name="Send me a link").click()
    link = newest_link(app_server, patient.email, kind="reset")
    assert "token=" in link

    goto(page, link)
    form = page.get_by_role("form", name="Choose a new password")
    expect(form).to_be_visible()
    expect(page).to_have_url(re.compile(r"/setup\?p=reset$"))
    page.reload()
    wait_hydrated(page)
    expect(page.get_by_role("form", name="Choose a new password")).to_be_visible()
    assert "token=" not in page.url

    form = page.get_by_role("form", name="Choose a new password")
    form.get_by_label("Password", exact=True).fill(OTHER_PASSPHRASE)
    form.get_by_label("Confirm password").fill(OTHER_PASSPHRASE)
    form.get_by_role("button", name="Save password").click()
    expect_portal_home(page, patient)
    assert _cookie(context, PATIENT_COOKIE)["httpOnly"] is True
    _no_csp_violations(page)
