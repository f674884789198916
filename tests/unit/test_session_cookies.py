"""The cookie routes: POST /auth/session turns a grant into an HttpOnly session cookie (no
Max-Age, SameSite=Strict, Secure on an https portal); POST /auth/session/end expires it; a
request from another site gets nothing."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.testclient import TestClient

from portal_app import routes, session_cookies
from portal_app.models import PracticeSettings, SessionKind
from portal_app.services import session_grants, staff_auth
from tests.unit.conftest import ADMIN_PASSWORD
from tests.unit.two_step import staff_sign_in

ORIGIN = "http://testserver"


def _client(base_url: str = ORIGIN) -> TestClient:
    return TestClient(Starlette(routes=session_cookies.session_routes), base_url=base_url)


def _grant(session) -> str:
    opened = staff_sign_in(session, "admin", ADMIN_PASSWORD)
    return session_grants.issue(session=session, session_id=opened)


def _post(client: TestClient, path: str, body: dict, origin: str | None = ORIGIN):
    headers = {"origin": origin} if origin else {}
    return client.post(path, json=body, headers=headers)


def test_a_grant_is_answered_with_an_http_only_session_cookie(session, admin):
    grant = _grant(session)
    answer = _post(_client(), routes.SESSION_COOKIE, {"kind": "staff", "grant": grant})

    assert answer.status_code == 204
    assert answer.headers["cache-control"] == "no-store"
    set_cookie = answer.headers["set-cookie"]
    name, _, rest = set_cookie.partition("=")
    value = rest.split(";", 1)[0]
    assert name == "portal_staff_session" and len(value) >= 40
    attributes = {part.strip().lower() for part in set_cookie.split(";")[1:]}
    assert {"httponly", "path=/", "samesite=strict"} <= attributes
    assert not any(a.startswith(("max-age", "expires")) for a in attributes)  # dies with the browser
    assert "secure" not in attributes  # an http portal (tests); see the next test
    session.expire_all()
    assert staff_auth.principal_for(session=session, session_id=value).username == "admin"
    # The grant worked once.
    assert _post(_client(), routes.SESSION_COOKIE, {"kind": "staff", "grant": grant}).status_code == 403


def test_the_cookie_is_secure_when_the_portal_is_https(session, admin, monkeypatch):
    monkeypatch.delenv("PORTAL_BASE_URL", raising=False)
    session.add(PracticeSettings(id=1, portal_base_url="https://portal.example.org"))
    session.commit()
    answer = _post(_client(), routes.SESSION_COOKIE, {"kind": "staff", "grant": _grant(session)})
    assert answer.status_code == 204
    assert "secure" in {part.strip().lower() for part in answer.headers["set-cookie"].split(";")}


def test_another_sites_request_or_a_bad_grant_gets_no_cookie(session, admin):
    grant = _grant(session)
    client = _client()
    for origin in ("https://evil.example", None):
        refused = _post(client, routes.SESSION_COOKIE, {"kind": "staff", "grant": grant}, origin=origin)
        assert refused.status_code == 403 and "set-cookie" not in refused.headers
    for body in ({"kind": "portal", "grant": grant}, {"kind": "root", "grant": grant}, {"kind": "staff"},
                 {"kind": "staff", "grant": ["x"]}, {"kind": "staff", "grant": "x" * 2000}):
        assert _post(client, routes.SESSION_COOKIE, body).status_code == 403
    assert client.post(routes.SESSION_COOKIE, content=b"not json", headers={"origin": ORIGIN}).status_code == 403
    # The grant is still good for the real page (nothing above used it up).
    assert _post(client, routes.SESSION_COOKIE, {"kind": "staff", "grant": grant}).status_code == 204


def test_the_end_route_expires_the_cookie(session):
    answer = _post(_client(), routes.SESSION_COOKIE_END, {"kind": "portal"})
    assert answer.status_code == 204
    set_cookie = answer.headers["set-cookie"].lower()
    assert set_cookie.startswith("portal_patient_session=") and "max-age=0" in set_cookie
    assert "httponly" in set_cookie
    assert _post(_client(), routes.SESSION_COOKIE_END, {"kind": "portal"}, origin="https://evil.example"
                 ).status_code == 403


def test_read_finds_the_id_of_each_kind_in_a_cookie_header():
    header = "theme=dark; portal_staff_session=abc-DEF_1; portal_patient_session=xyz"
    assert session_cookies.read(header, SessionKind.STAFF) == "abc-DEF_1"
    assert session_cookies.read(header, SessionKind.PORTAL) == "xyz"
    assert session_cookies.read("", SessionKind.STAFF) == ""
    assert session_cookies.read("theme=dark", SessionKind.STAFF) == ""
    assert session_cookies.read('bad"cookie; ;;=', SessionKind.STAFF) == ""
