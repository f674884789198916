"""Sign-in sessions: hashed ids, 15 minutes idle, 12 hours in all, throttled touches."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from portal_app.models import AuthSession, SessionKind
from portal_app.services import sessions, tokens
from tests.unit.conftest import START


def _start(session, admin, kind=SessionKind.STAFF):
    plain = sessions.start(session=session, kind=kind, staff_user_id=admin.id, ip="10.0.0.1")
    session.commit()
    return plain


def test_session_id_is_stored_only_as_a_hash(session, admin, frozen_clock):
    plain = _start(session, admin)
    row = session.exec(select(AuthSession)).one()
    assert row.token_hash == tokens.digest(plain)
    assert plain not in (row.token_hash, row.ip)
    assert row.expires_at == START + timedelta(hours=12)


def test_resolve_finds_the_live_session(session, admin, frozen_clock):
    plain = _start(session, admin)
    row = sessions.resolve(session=session, kind=SessionKind.STAFF, plain=plain)
    assert row is not None and row.staff_user_id == admin.id


def test_resolve_refuses_wrong_kind_unknown_empty_and_huge(session, admin, frozen_clock):
    plain = _start(session, admin)
    assert sessions.resolve(session=session, kind=SessionKind.PORTAL, plain=plain) is None
    for value in (None, "", tokens.new_session_token(), plain + "x", "x" * (1024 * 1024)):
        assert sessions.resolve(session=session, kind=SessionKind.STAFF, plain=value) is None


def test_idle_for_15_minutes_is_still_alive_but_a_moment_more_ends_it(session, admin, frozen_clock):
    plain = _start(session, admin)
    frozen_clock(START + timedelta(minutes=15))
    assert sessions.resolve(session=session, kind=SessionKind.STAFF, plain=plain) is not None
    frozen_clock(START + timedelta(minutes=30, seconds=1))
    assert sessions.resolve(session=session, kind=SessionKind.STAFF, plain=plain) is None
    # Ended for good: going back in time does not revive it.
    frozen_clock(START + timedelta(minutes=16))
    assert sessions.resolve(session=session, kind=SessionKind.STAFF, plain=plain) is None
    assert session.exec(select(AuthSession)).one().revoked_at is not None


def test_activity_keeps_the_session_alive_until_12_hours(session, admin, frozen_clock):
    plain = _start(session, admin)
    at = START
    while at < START + timedelta(hours=11, minutes=50):
        at += timedelta(minutes=10)
        frozen_clock(at)
        assert sessions.resolve(session=session, kind=SessionKind.STAFF, plain=plain) is not None, at
    frozen_clock(START + timedelta(hours=12))
    assert sessions.resolve(session=session, kind=SessionKind.STAFF, plain=plain) is None


def test_touch_is_throttled_to_once_a_minute(session, admin, frozen_clock):
    plain = _start(session, admin)
    frozen_clock(START + timedelta(seconds=59))
    row = sessions.resolve(session=session, kind=SessionKind.STAFF, plain=plain)
    assert row.last_seen_at == START
    frozen_clock(START + timedelta(seconds=60))
    row = sessions.resolve(session=session, kind=SessionKind.STAFF, plain=plain)
    assert row.last_seen_at == START + timedelta(seconds=60)
    # The touch was committed: another connection sees it.
    session.expire_all()
    assert session.exec(select(AuthSession)).one().last_seen_at == START + timedelta(seconds=60)


def test_idle_is_measured_from_the_last_touch(session, admin, frozen_clock):
    plain = _start(session, admin)
    frozen_clock(START + timedelta(minutes=10))
    assert sessions.resolve(session=session, kind=SessionKind.STAFF, plain=plain)
    frozen_clock(START + timedelta(minutes=24))
    assert sessions.resolve(session=session, kind=SessionKind.STAFF, plain=plain)
    frozen_clock(START + timedelta(minutes=39, seconds=1))
    assert sessions.resolve(session=session, kind=SessionKind.STAFF, plain=plain) is None


def test_end_revokes_one_session(session, admin, frozen_clock):
    plain = _start(session, admin)
    other = _start(session, admin)
    assert sessions.end(session=session, plain=plain) is not None
    session.commit()
    assert sessions.resolve(session=session, kind=SessionKind.STAFF, plain=plain) is None
    assert sessions.resolve(session=session, kind=SessionKind.STAFF, plain=other) is not None
    assert sessions.end(session=session, plain=None) is None


def test_end_all_keeps_only_the_callers_session(session, admin, frozen_clock):
    mine, second, third = (_start(session, admin) for _ in range(3))
    assert sessions.end_all(session=session, staff_user_id=admin.id, keep_plain=mine) == 2
    session.commit()
    assert sessions.resolve(session=session, kind=SessionKind.STAFF, plain=mine) is not None
    for plain in (second, third):
        assert sessions.resolve(session=session, kind=SessionKind.STAFF, plain=plain) is None


def test_end_all_needs_a_user(session, admin):
    _start(session, admin)
    assert sessions.end_all(session=session) == 0
