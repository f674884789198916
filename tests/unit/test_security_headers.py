"""The security headers middleware: every HTTP answer carries them; an answer's own value stays."""

from __future__ import annotations

import base64
import hashlib

from starlette.applications import Starlette
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from portal_app import security_headers

PAGE = "<html><head><script>window.x = 1;</script><script src=\"/assets/app.js\"></script>" \
       "<script type=\"module\">import('/a.js');</script></head></html>"


def _app() -> Starlette:
    async def page(request):
        return HTMLResponse(PAGE)

    async def preview(request):
        return PlainTextResponse("pdf", headers={"X-Frame-Options": "SAMEORIGIN",
                                                 "Content-Security-Policy": "frame-ancestors 'self'"})

    return Starlette(routes=[Route("/page", page), Route("/preview", preview)])


def _client(hashes=frozenset({"'sha256-abc='"}), base_url: str = "http://testserver") -> TestClient:
    return TestClient(security_headers.security_headers(_app(), hashes=lambda: hashes), base_url=base_url)


def test_every_answer_gets_the_headers(monkeypatch):
    monkeypatch.setenv("PORTAL_BASE_URL", "http://localhost:3000")
    client = _client()
    for path in ("/page", "/no-such-page"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self' 'sha256-abc=' 'unsafe-eval'" in csp
        assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
        assert "base-uri 'none'" in csp and "object-src 'self'" in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"
        assert "strict-transport-security" not in headers


def test_hsts_when_the_portal_is_https(monkeypatch):
    monkeypatch.setenv("PORTAL_BASE_URL", "https://portal.example.org")
    assert _client().get("/page").headers["strict-transport-security"].startswith("max-age=31536000")
    monkeypatch.setenv("PORTAL_BASE_URL", "http://localhost:3000")
    assert "strict-transport-security" in _client(base_url="https://testserver").get("/page").headers


def test_an_answer_that_sets_its_own_framing_keeps_it():
    headers = _client().get("/preview").headers
    assert headers["x-frame-options"] == "SAMEORIGIN"
    assert headers["content-security-policy"] == "frame-ancestors 'self'"
    assert headers["referrer-policy"] == "no-referrer"


def test_inline_scripts_are_allowed_by_their_hash_only():
    def sha(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert security_headers.inline_script_hashes(PAGE) == {sha("window.x = 1;"), sha("import('/a.js');")}


def test_the_built_pages_hashes_are_read_from_the_build_folder(tmp_path, monkeypatch):
    (tmp_path / "login.html").write_text(PAGE)
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "index.html").write_text("<script>other()</script>")
    monkeypatch.setattr(security_headers, "_build_folder", lambda: tmp_path)
    security_headers.built_page_hashes.cache_clear()
    try:
        assert len(security_headers.built_page_hashes()) == 3
    finally:
        security_headers.built_page_hashes.cache_clear()
