"""Pipeline smoke test: the prod build is served on a free port and hydrates in Chromium."""

import json
import urllib.request

from playwright.sync_api import Page, expect

from tests.e2e.conftest import AppServer, goto


def test_ping_answers_pong(app_server: AppServer) -> None:
    with urllib.request.urlopen(app_server.url("/ping"), timeout=5) as r:
        assert json.loads(r.read()) == "pong"


def test_home_page_hydrates(app_server: AppServer, page: Page) -> None:
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    goto(page, "/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    # Hydration arrived over the websocket on this (non-3000) port, through CORS.
    assert page.evaluate("window.__rxHydrated") is True
    assert not [e for e in console_errors if "websocket" in e.lower() or "cors" in e.lower()]
