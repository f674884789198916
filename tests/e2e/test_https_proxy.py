"""The app behind nginx with deploy/nginx/portal_app.conf.template, as README "Deploying" sets it up.

A self-signed certificate (openssl), nginx as this user with its own prefix, pid and temp folders on
free ports, and an app of its own (PORTAL_BASE_URL the https origin, REFLEX_TRUSTED_PROXY_HOPS=1;
built in its own folder, since the front end bakes its URLs in). Proves: plain http answers only with
a redirect to https; staff sign in over https through the proxied websocket (the sign-in click moves
the page on); the session cookie is Secure and HttpOnly; pages carry Strict-Transport-Security; and
an X-Forwarded-For a client makes up does not reach the audit log (nginx replaces it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from deploy.render import render
from tests.e2e.conftest import (
    E2E_WEB_DIR,
    AppServer,
    _free_port,
    _log_tail,
    _stop,
    install_hydration_probe,
    running_app,
)
from tests.e2e.helpers import STAFF_COOKIE, audit_events, staff_sign_in, wait_until

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
pytestmark = pytest.mark.skipif(not os.access(NGINX, os.X_OK),
                                reason="nginx is not installed (`make servers` installs Debian's nginx-light)")

NGINX_MAIN = """daemon off;
{user}worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/temp/body;
    proxy_temp_path {dir}/temp/proxy;
    fastcgi_temp_path {dir}/temp/fastcgi;
    uwsgi_temp_path {dir}/temp/uwsgi;
    scgi_temp_path {dir}/temp/scgi;
    include {dir}/portal_app.conf;
}}
"""


def _certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def _wait_listening(port: int, proc: subprocess.Popen, log: Path) -> None:
    import socket

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"nginx exited with {proc.returncode}:\n{_log_tail(log)}", pytrace=False)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"nginx did not listen on {port} within 20 s:\n{_log_tail(log)}", pytrace=False)


class Proxied:
    def __init__(self, app: AppServer, http_port: int) -> None:
        self.app, self.http_port = app, http_port


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    folder = tmp_path_factory.mktemp("https-proxy")
    for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / "temp" / temp).mkdir(parents=True)
    https_port, http_port, app_port = _free_port(), _free_port(), _free_port()
    origin = f"https://127.0.0.1:{https_port}"
    cert, key = _certificate(folder)
    (folder / "portal_app.conf").write_text(render(
        server_name="127.0.0.1", cert=str(cert), key=str(key), upstreams=[f"127.0.0.1:{app_port}"],
        https_port=https_port, http_port=http_port))
    (folder / "nginx.conf").write_text(NGINX_MAIN.format(
        dir=folder, user="user root;\n" if os.geteuid() == 0 else ""))
    log = folder / "error.log"
    proc = subprocess.Popen([NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", str(log)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log.open("a"),
                            start_new_session=True)
    try:
        _wait_listening(https_port, proc, log)
        # 127.0.0.1, not localhost: Reflex's front end sends a "localhost" backend to port 443
        # whenever the page is https (state.js getBackendURL), and this nginx is on another port.
        with running_app(folder, web_dir=Path(f"{E2E_WEB_DIR}-https"), base_url=origin, app_port=app_port,
                         extra_env={"REFLEX_API_URL": origin, "REFLEX_TRUSTED_PROXY_HOPS": "1"}) as app:
            yield Proxied(app, http_port)
    finally:
        _stop(proc)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_plain_http_only_redirects_to_https(proxied: Proxied):
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as answer:
        opener.open(f"http://127.0.0.1:{proxied.http_port}/staff/login?next=1", timeout=10)
    assert answer.value.code == 301
    assert answer.value.headers["Location"] == proxied.app.url("/staff/login?next=1")


def test_staff_sign_in_over_https_through_the_proxy(proxied: Proxied, browser):
    context = browser.new_context(base_url=proxied.app.base_url, ignore_https_errors=True)
    install_hydration_probe(context)
    page = context.new_page()
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    try:
        first = page.goto("/staff/login")
        assert first is not None and first.ok
        assert "max-age=" in first.headers.get("strict-transport-security", "")
        staff_sign_in(page)  # the clicks travel over the websocket; the page moves to the list
        expect(page.get_by_role("heading", name="Patient Portal Onboarding", level=1)).to_be_visible()
        assert any(url.startswith(f"wss://127.0.0.1:{proxied.app.base_url.rsplit(':', 1)[1]}/_event")
                   for url in sockets), sockets
        cookie = next(c for c in context.cookies() if c["name"] == STAFF_COOKIE)
        assert cookie["secure"] and cookie["httpOnly"]
    finally:
        context.close()


def test_a_made_up_forwarded_address_does_not_reach_the_audit_log(proxied: Proxied):
    import ssl

    unverified = ssl.create_default_context()
    unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE
    request = urllib.request.Request(proxied.app.url("/files/made-up-address"),
                                     headers={"X-Forwarded-For": "203.0.113.9"})
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=10, context=unverified)
    assert answer.value.code == 404
    row = wait_until(lambda: next((e for e in audit_events(proxied.app, action="access.object_refused")
                                   if "made-up-address" in e.detail), None), what="the refusal's audit row")
    assert row.ip == "127.0.0.1"  # nginx's view of the client, not the client's claim
