"""SettingsState handlers, called directly (no browser)."""

from __future__ import annotations

from sqlmodel import select

from portal_app import routes
from portal_app.models import AuditEvent, PracticeSettings
from portal_app.services import settings
from portal_app.services.permissions import Level, Permission
from portal_app.state.settings import SettingsState
from tests.unit.state_support import sign_in_admin, staff_with, state_for

FORM = {"portal_active": "on", "practice_name": "Hillside Clinic", "practice_phone": "(555) 010-0200",
        "portal_base_url": "https://portal.hillside.example", "sender_address": "portal@hillside.example",
        "invitation_hours": "48", "reset_minutes": "30", "token_length": "8",
        "connect_token_days": "5", "key_days": "4", "letter_key_days": "30",
        "verification_minutes": "45", "time_zone": "America/Chicago"}


async def open_settings(session_id: str):
    root, state = await state_for(SettingsState, session_id=session_id, path=routes.PORTAL_SETTINGS)
    result = await state.load()
    return state, result


def _stored(session) -> PracticeSettings:
    session.expire_all()
    return settings.get(session=session)


async def test_load_shows_the_current_settings(session, admin):
    state, result = await open_settings(sign_in_admin(session))
    assert result is None and state.loaded and state.can_edit
    assert state.practice_name == "Riverside Family Practice"
    assert state.invitation_hours == "72" and state.reset_minutes == "60"
    assert state.portal_active is True


async def test_save_stores_every_field_and_audits(session, admin):
    state, _ = await open_settings(sign_in_admin(session))
    await state.save({**FORM, "portal_base_url": "https://portal.hillside.example/"})
    assert state.errors == {} and state.notice == "Portal settings saved."
    row = _stored(session)
    assert (row.practice_name, row.portal_base_url, row.invitation_hours, row.reset_minutes) == (
        "Hillside Clinic", "https://portal.hillside.example", 48, 30)
    assert state.portal_base_url == "https://portal.hillside.example"  # normalized back into the form
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "settings.update")).first()


async def test_unchecked_switch_turns_the_portal_off(session, admin):
    state, _ = await open_settings(sign_in_admin(session))
    form = {key: value for key, value in FORM.items() if key != "portal_active"}
    await state.save(form)
    assert _stored(session).portal_active is False
    assert state.portal_active is False


async def test_bad_url_is_shown_on_that_field_and_the_rest_is_kept(session, admin):
    state, _ = await open_settings(sign_in_admin(session))
    await state.save({**FORM, "portal_base_url": "ftp://portal.example?x=1"})
    assert set(state.errors) == {"portal_base_url"}
    assert "portal" in state.errors["portal_base_url"].lower()
    assert state.notice == ""
    # What was typed stays, in every field, and nothing was saved.
    assert state.practice_name == "Hillside Clinic"
    assert state.portal_base_url == "ftp://portal.example?x=1"
    assert state.invitation_hours == "48"
    assert _stored(session).practice_name == "Riverside Family Practice"


async def test_several_bad_fields_each_get_their_message(session, admin):
    state, _ = await open_settings(sign_in_admin(session))
    await state.save({**FORM, "sender_address": "not an email", "invitation_hours": "lots",
                      "practice_name": ""})
    assert set(state.errors) == {"sender_address", "invitation_hours", "practice_name"}
    assert state.errors["invitation_hours"] == "Invitation lifetime must be a whole number."


async def test_without_session_nothing_shows_and_nothing_saves(session, admin):
    state, result = await open_settings("")
    assert result is not None and not state.loaded
    result = await state.save(FORM)
    assert result is not None  # sent to sign in
    assert _stored(session).practice_name == "Riverside Family Practice"


async def test_without_permission_the_page_does_not_open(session, admin):
    sid = staff_with(session, "desk", {Permission.PORTAL_ADMIN: Level.WRITE})
    state, _ = await open_settings(sid)
    assert not state.loaded and state.practice_name == ""
    assert state.form_error == "You do not have permission to open the portal settings."
    await state.save(FORM)
    assert state.form_error == "You do not have permission to change the portal settings."
    assert _stored(session).practice_name == "Riverside Family Practice"


async def test_read_level_sees_the_form_disabled_and_cannot_save(session, admin):
    sid = staff_with(session, "reader", {Permission.SETTINGS: Level.READ})
    state, _ = await open_settings(sid)
    assert state.loaded and state.can_edit is False
    assert state.practice_name == "Riverside Family Practice"
    await state.save(FORM)
    assert state.form_error == "You do not have permission to change the portal settings."
    assert _stored(session).practice_name == "Riverside Family Practice"


async def test_update_level_may_save(session, admin):
    sid = staff_with(session, "editor", {Permission.SETTINGS: Level.UPDATE})
    state, _ = await open_settings(sid)
    assert state.can_edit
    await state.save(FORM)
    assert _stored(session).practice_name == "Hillside Clinic"


async def test_connect_patient_numbers_load_and_save(session, admin):
    state, _ = await open_settings(sign_in_admin(session))
    assert (state.token_length, state.connect_token_days, state.key_days, state.letter_key_days,
            state.verification_minutes) == ("6", "3", "3", "21", "30")
    await state.save(FORM)
    row = _stored(session)
    assert (row.token_length, row.connect_token_days, row.key_days, row.letter_key_days,
            row.verification_minutes) == (8, 5, 4, 30, 45)
    assert state.token_length == "8" and state.letter_key_days == "30"


async def test_out_of_range_connect_numbers_get_their_own_messages(session, admin):
    state, _ = await open_settings(sign_in_admin(session))
    await state.save({**FORM, "token_length": "3", "letter_key_days": "61", "key_days": "many"})
    assert state.errors == {
        "token_length": "Token length must be between 4 and 8.",
        "letter_key_days": "Connection key lifetime (letter) must be between 1 and 60.",
        "key_days": "Connection key lifetime (email or text) must be a whole number.",
    }
    assert state.token_length == "3" and state.practice_name == "Hillside Clinic"  # kept as typed
    row = _stored(session)
    assert (row.token_length, row.letter_key_days, row.practice_name) == (6, 21, "Riverside Family Practice")


# ---- the access rules' settings ---------------------------------------------------------------


async def test_rule_settings_load_save_and_are_audited_old_to_new(session, admin):
    state, _ = await open_settings(sign_in_admin(session))
    assert (state.inactive_months, state.fhir_chart_system) == ("0", "")
    await state.save({**FORM, "inactive_months": "18", "fhir_chart_system": " https://ehr.example.org/mrn "})
    assert state.errors == {}
    row = _stored(session)
    assert (row.inactive_months, row.fhir_chart_system) == (18, "https://ehr.example.org/mrn")
    assert (state.inactive_months, state.fhir_chart_system) == ("18", "https://ehr.example.org/mrn")
    detail = session.exec(select(AuditEvent.detail).where(AuditEvent.action == "settings.update")).one()
    assert "inactive_months: 0 -> 18" in detail
    assert "fhir_chart_system: '' -> 'https://ehr.example.org/mrn'" in detail


async def test_bad_rule_settings_get_messages_beside_their_fields_and_nothing_is_lost(session, admin):
    state, _ = await open_settings(sign_in_admin(session))
    await state.save({**FORM, "inactive_months": "-1", "fhir_chart_system": "my mrn list"})
    assert state.errors == {
        "inactive_months": "Months without a visit must be between 0 and 120.",
        "fhir_chart_system": ("Enter the identifier system as a URI, like https://ehr.example.org/mrn or "
                              "urn:oid:2.16.840.1.113883.19.5, or leave it blank."),
    }
    assert (state.inactive_months, state.fhir_chart_system, state.practice_name) == (
        "-1", "my mrn list", "Hillside Clinic")
    row = _stored(session)
    assert (row.inactive_months, row.fhir_chart_system, row.practice_name) == (0, "", "Riverside Family Practice")


async def test_an_oid_system_and_a_blank_one_are_accepted(session, admin):
    state, _ = await open_settings(sign_in_admin(session))
    await state.save({**FORM, "fhir_chart_system": "urn:oid:2.16.840.1.113883.19.5"})
    assert state.errors == {} and _stored(session).fhir_chart_system == "urn:oid:2.16.840.1.113883.19.5"
    await state.save({**FORM, "fhir_chart_system": ""})
    assert state.errors == {} and _stored(session).fhir_chart_system == ""


async def test_saving_a_no_visit_rule_applies_it_at_once_and_says_so(session, admin, frozen_clock):
    from datetime import date

    from tests.unit.conftest import make_patient

    stale = make_patient(session, chart="S100", enabled=True, last_visit_on=date(2023, 5, 17))
    fresh = make_patient(session, first="Ana", chart="S101", enabled=True, last_visit_on=date(2026, 10, 1))
    state, _ = await open_settings(sign_in_admin(session))
    await state.save({**FORM, "inactive_months": "24"})
    assert state.notice == ("Portal settings saved. No visit for 24 months: portal access turned off "
                            "for 1 chart.")
    session.expire_all()
    assert session.get(type(stale), stale.id).portal_enabled is False
    assert session.get(type(fresh), fresh.id).portal_enabled is True
    assert session.get(type(stale), stale.id).status_note == "No visit since 05/17/2023"
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "rule.inactive")).all()
    assert [e.staff_user_id for e in events] == [admin.id]


async def test_a_form_without_the_rule_fields_keeps_their_stored_values(session, admin):
    state, _ = await open_settings(sign_in_admin(session))
    await state.save({**FORM, "inactive_months": "6", "fhir_chart_system": "urn:oid:1.2.3"})
    await state.save(FORM)  # an older form without the two fields
    assert state.errors == {}
    row = _stored(session)
    assert (row.inactive_months, row.fhir_chart_system) == (6, "urn:oid:1.2.3")
