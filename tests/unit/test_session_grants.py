"""A sign-in's one-time grant: it works once, for a minute, for its kind, and is never a session id."""

from __future__ import annotations

from datetime import timedelta

from portal_app.models import SessionKind
from portal_app.services import clock, session_grants, staff_auth
from tests.unit.conftest import ADMIN_PASSWORD
from tests.unit.two_step import staff_sign_in


def _signed_in(session) -> str:
    return staff_sign_in(session, "admin", ADMIN_PASSWORD)


def _principal(session, session_id: str | None):
    session.expire_all()
    return staff_auth.principal_for(session=session, session_id=session_id)


def test_a_grant_becomes_a_fresh_session_id_once(session, admin):
    opened = _signed_in(session)
    grant = session_grants.issue(session=session, session_id=opened)

    # From here only the grant can bring the session to a browser; the grant is not a session id.
    assert grant and grant != opened
    assert _principal(session, opened) is None
    assert _principal(session, grant) is None

    cookie = session_grants.redeem(session=session, grant=grant, kind=SessionKind.STAFF)
    assert cookie and cookie not in (opened, grant)
    assert _principal(session, cookie).username == "admin"
    assert session_grants.redeem(session=session, grant=grant, kind=SessionKind.STAFF) is None
    assert _principal(session, cookie) is not None  # a replayed grant leaves the session alone


def test_a_grant_lives_a_minute_and_only_for_its_kind(session, admin, frozen_clock):
    grant = session_grants.issue(session=session, session_id=_signed_in(session))
    assert session_grants.redeem(session=session, grant=grant, kind=SessionKind.PORTAL) is None

    late = session_grants.issue(session=session, session_id=_signed_in(session))
    frozen_clock(clock.now() + session_grants.GRANT_LIFETIME + timedelta(seconds=1))
    assert session_grants.redeem(session=session, grant=late, kind=SessionKind.STAFF) is None
    # The first grant, also past its minute now, is as dead.
    assert session_grants.redeem(session=session, grant=grant, kind=SessionKind.STAFF) is None


def test_no_grant_for_an_ended_or_unknown_session(session, admin):
    opened = _signed_in(session)
    staff_auth.sign_out(session=session, session_id=opened)
    assert session_grants.issue(session=session, session_id=opened) == ""
    assert session_grants.issue(session=session, session_id="not-a-session") == ""
    assert session_grants.issue(session=session, session_id="") == ""
    assert session_grants.redeem(session=session, grant="", kind=SessionKind.STAFF) is None
    assert session_grants.redeem(session=session, grant="x" * 5000, kind=SessionKind.STAFF) is None
