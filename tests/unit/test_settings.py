"""Portal settings: one row, every field validated before anything is saved, changes audited."""

from __future__ import annotations

import pytest
from sqlmodel import select

from portal_app import db
from portal_app.models import AuditEvent, PracticeSettings
from portal_app.services import settings
from portal_app.services.errors import FormInvalid

GOOD = dict(portal_active=True, practice_name="Riverside Family Practice", practice_phone="(555) 010-0100",
            portal_base_url="http://localhost:3000", sender_address="portal@example.org",
            invitation_hours=72, reset_minutes=60)


def _update(session, admin, **changes):
    return settings.update(session=session, actor_id=admin.id, **{**GOOD, **changes})


def _events(session):
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == "settings.update")))


def test_defaults_are_created_once(session):
    first = settings.get(session=session)
    second = settings.get(session=session)
    assert first.id == second.id == 1
    assert len(session.exec(select(PracticeSettings)).all()) == 1
    view = settings.view(session=session)
    assert (view.portal_active, view.invitation_hours, view.reset_minutes) == (True, 72, 60)


def test_two_workers_making_the_row_at_once_both_get_it(session, db_url):
    """Both found no row; the other worker's insert landed first. This one's insert fails on the
    key, is undone alone (its session stays usable), and it reads the row the other one made."""
    made_elsewhere = settings.get(session=session)
    made_elsewhere.practice_name = "Made by the other worker"
    session.add(made_elsewhere)
    session.commit()
    with db.session_scope(db_url) as late:
        real_get = late.get
        lookups: list[object] = []

        def stale_then_real(*args, **kwargs):
            lookups.append(args)
            return None if len(lookups) == 1 else real_get(*args, **kwargs)

        late.get = stale_then_real  # type: ignore[method-assign]
        row = settings.get(session=late)
        assert (row.id, row.practice_name) == (1, "Made by the other worker")
        assert len(late.exec(select(PracticeSettings)).all()) == 1


def test_update_saves_normalized_values_and_audits_old_to_new(session, admin):
    view = _update(session, admin, practice_name="  Lakeside Clinic ", portal_base_url="https://portal.lakeside.example/",
                   sender_address="Portal@Lakeside.Example", invitation_hours="48", reset_minutes=" 30 ",
                   portal_active=False)
    assert (view.practice_name, view.portal_base_url, view.sender_address) == (
        "Lakeside Clinic", "https://portal.lakeside.example", "portal@lakeside.example")
    assert (view.invitation_hours, view.reset_minutes, view.portal_active) == (48, 30, False)
    [event] = _events(session)
    assert event.staff_user_id == admin.id
    assert "practice_name: 'Riverside Family Practice' -> 'Lakeside Clinic'" in event.detail
    assert "invitation_hours: 72 -> 48" in event.detail
    assert "portal_active: True -> False" in event.detail
    assert "practice_phone" not in event.detail  # unchanged fields are not listed


def test_saving_without_changes_writes_no_audit(session, admin):
    _update(session, admin)
    assert _events(session) == []


@pytest.mark.parametrize("field, value, fragment", [
    ("practice_name", "", "required"),
    ("practice_name", "x" * (1024 * 1024), "at most 200"),
    ("practice_name", "Clinic\x00", "not allowed"),
    ("practice_phone", "", "required"),
    ("practice_phone", "1" * 41, "at most 40"),
    ("portal_base_url", "portal.example.org", "portal's address"),
    ("portal_base_url", "javascript:alert(1)", "portal's address"),
    ("portal_base_url", "ftp://portal.example.org", "portal's address"),
    ("portal_base_url", "https://portal.example.org/?next=evil", "portal's address"),
    ("portal_base_url", "https://portal.example.org/\r\nX: y", "not allowed"),
    ("sender_address", "a@b.com\r\nBcc: x@y.com", "single, valid"),
    ("sender_address", "not an email", "not valid"),
    ("invitation_hours", "0", "between 1 and 336"),
    ("invitation_hours", "337", "between 1 and 336"),
    ("invitation_hours", "three", "whole number"),
    ("reset_minutes", "4", "between 5 and 1440"),
    ("reset_minutes", "1441", "between 5 and 1440"),
    ("reset_minutes", "1.5", "whole number"),
])
def test_each_bad_field_gets_its_own_message_and_nothing_changes(session, admin, field, value, fragment):
    with pytest.raises(FormInvalid) as info:
        # practice_name changes too, to show a single bad field saves nothing.
        _update(session, admin, **{"practice_name": "Changed Name", field: value})
    assert list(info.value.errors) == [field]
    assert fragment in info.value.errors[field]
    session.expire_all()
    assert settings.get(session=session).practice_name == "Riverside Family Practice"
    assert _events(session) == []


def test_several_bad_fields_are_reported_together(session, admin):
    with pytest.raises(FormInvalid) as info:
        _update(session, admin, practice_name="", sender_address="nope", reset_minutes="x")
    assert set(info.value.errors) == {"practice_name", "sender_address", "reset_minutes"}


def test_boundaries_are_allowed(session, admin):
    view = _update(session, admin, invitation_hours=1, reset_minutes=1440)
    assert (view.invitation_hours, view.reset_minutes) == (1, 1440)
    view = _update(session, admin, invitation_hours=336, reset_minutes=5)
    assert (view.invitation_hours, view.reset_minutes) == (336, 5)


CONNECT_DEFAULTS = dict(token_length=6, connect_token_days=3, key_days=3, letter_key_days=21,
                        verification_minutes=30)


def test_connect_patient_numbers_default_and_are_kept_when_not_given(session, admin):
    view = settings.view(session=session)
    assert {name: getattr(view, name) for name in CONNECT_DEFAULTS} == CONNECT_DEFAULTS
    _update(session, admin, practice_name="Other Name")
    view = settings.view(session=session)
    assert {name: getattr(view, name) for name in CONNECT_DEFAULTS} == CONNECT_DEFAULTS


def test_connect_patient_numbers_save_and_audit(session, admin):
    view = _update(session, admin, token_length="8", connect_token_days=" 14 ", key_days=1,
                   letter_key_days="60", verification_minutes="5")
    assert (view.token_length, view.connect_token_days, view.key_days, view.letter_key_days,
            view.verification_minutes) == (8, 14, 1, 60, 5)
    [event] = _events(session)
    assert "token_length: 6 -> 8" in event.detail
    assert "letter_key_days: 21 -> 60" in event.detail
    assert "verification_minutes: 30 -> 5" in event.detail
    view = _update(session, admin, token_length=4, connect_token_days=1, key_days=14,
                   letter_key_days=1, verification_minutes=1440)
    assert (view.token_length, view.connect_token_days, view.key_days, view.letter_key_days,
            view.verification_minutes) == (4, 1, 14, 1, 1440)


@pytest.mark.parametrize("field, value, message", [
    ("token_length", "3", "Token length must be between 4 and 8."),
    ("token_length", "9", "Token length must be between 4 and 8."),
    ("token_length", "4.5", "Token length must be a whole number."),
    ("connect_token_days", "0", "Connect token lifetime must be between 1 and 14."),
    ("connect_token_days", "15", "Connect token lifetime must be between 1 and 14."),
    ("key_days", "0", "Connection key lifetime (email or text) must be between 1 and 14."),
    ("key_days", "15", "Connection key lifetime (email or text) must be between 1 and 14."),
    ("letter_key_days", "0", "Connection key lifetime (letter) must be between 1 and 60."),
    ("letter_key_days", "61", "Connection key lifetime (letter) must be between 1 and 60."),
    ("verification_minutes", "4", "Verification link lifetime must be between 5 and 1440."),
    ("verification_minutes", "1441", "Verification link lifetime must be between 5 and 1440."),
    ("verification_minutes", "", "Verification link lifetime must be a whole number."),
    ("verification_minutes", "9" * 5000, "Verification link lifetime must be a whole number."),
])
def test_connect_patient_numbers_out_of_range_change_nothing(session, admin, field, value, message):
    with pytest.raises(FormInvalid) as info:
        _update(session, admin, **{"practice_name": "Changed Name", field: value})
    assert info.value.errors == {field: message}
    session.expire_all()
    row = settings.get(session=session)
    assert row.practice_name == "Riverside Family Practice"
    assert getattr(row, field) == CONNECT_DEFAULTS[field]
    assert _events(session) == []


def test_switching_the_portal_off_signs_patients_out_but_not_staff(session, admin):
    from portal_app.models import SessionKind
    from portal_app.services import sessions

    patient_sid = sessions.start(session=session, kind=SessionKind.PORTAL, portal_account_id=None)
    staff_sid = sessions.start(session=session, kind=SessionKind.STAFF, staff_user_id=admin.id)
    session.commit()

    _update(session, admin, portal_active=False)
    _update(session, admin, portal_active=True)  # back on within minutes: still signed out

    assert sessions.resolve(session=session, kind=SessionKind.PORTAL, plain=patient_sid) is None
    assert sessions.resolve(session=session, kind=SessionKind.STAFF, plain=staff_sid) is not None
    assert "patient sessions ended=1" in _events(session)[0].detail


def test_the_time_zone_is_checked_and_the_queue_shows_times_in_it(session, admin):
    from datetime import datetime, timezone

    from portal_app.services import clock

    assert settings.view(session=session).time_zone == "UTC"
    with pytest.raises(FormInvalid) as refused:
        _update(session, admin, time_zone="Mars/Olympus_Mons")
    assert refused.value.errors == {"time_zone": "Enter a time zone name like America/Chicago or UTC."}
    with pytest.raises(FormInvalid):
        _update(session, admin, time_zone="../../etc/passwd")
    assert _update(session, admin, time_zone="America/Chicago").time_zone == "America/Chicago"
    zone = settings.zone(session=session)
    assert clock.display(datetime(2021, 4, 5, 19, 48, tzinfo=timezone.utc), zone) == "04/05/2021 2:48PM (CDT)"
