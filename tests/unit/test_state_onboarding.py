"""OnboardingState handlers, called directly (no browser, no server).

The state is built the way Reflex builds it (root state, then `get_state`), the session
cookie is set by hand, and services run against the per-test database.
"""

from __future__ import annotations

from datetime import date

import pytest
import reflex as rx
from sqlmodel import Session, select

from portal_app.models import AuditEvent, AuthSession, OutboxMessage, Patient, SessionKind
from portal_app.services import audit, bulk, manual_credentials, onboarding, portal_auth, staff_auth
from portal_app.services.errors import PortalUnavailable
from portal_app.services.permissions import Level, Permission
from portal_app.state.onboarding import NO_ACCESS, OnboardingState
from tests.unit.conftest import ADMIN_PASSWORD, make_patient
from tests.unit.state_support import set_cookies, staff_with
from tests.unit.two_step import staff_sign_in


async def _state(sid: str = "") -> OnboardingState:
    root = rx.State(_reflex_internal_init=True)
    state = await root.get_state(OnboardingState)
    set_cookies(state, staff=sid)
    return state


def _sign_in(session: Session, username: str, password: str) -> str:
    return staff_sign_in(session, username, password)


@pytest.fixture
def admin_sid(session, admin) -> str:
    return _sign_in(session, "admin", ADMIN_PASSWORD)


def _is_error_toast(result) -> bool:
    return "error" in str(result)


def _redirect_target(result) -> str:
    text = str(result)
    for path in ("/staff/login", "/staff/password", "/staff/onboarding"):
        if path in text:
            return path
    return ""


def _names(state: OnboardingState) -> list[str]:
    return [row.name for row in state.rows]


def _fresh(session: Session, patient_id: int) -> Patient:
    session.expire_all()
    return session.get(Patient, patient_id)


# ---- access ---------------------------------------------------------------------------


async def test_load_without_session_redirects_and_shows_nothing(session, patient):
    state = await _state("")
    result = await state.load_page()
    assert _redirect_target(result) == "/staff/login"
    assert state.rows == [] and state.allowed is False


async def test_handlers_refuse_without_a_session(session, patient):
    enabled = make_patient(session, first="Eve", last="Green", email="eve@example.com", enabled=True)
    state = await _state("not-a-real-session-id")

    assert _is_error_toast(await state.toggle_access(patient.id))
    assert _is_error_toast(await state.send_email(enabled.id))
    state.confirm_id = enabled.id  # a forged dialog state must not bypass the check
    assert _is_error_toast(await state.confirm_disable())
    assert _is_error_toast(await state.next_page())

    assert _fresh(session, patient.id).portal_enabled is False
    assert _fresh(session, enabled.id).portal_enabled is True
    assert session.exec(select(OutboxMessage)).first() is None


async def test_handlers_refuse_without_the_permission(session, admin, patient):
    sid = staff_with(session, "clerk", {Permission.OUTBOX: Level.WRITE})
    state = await _state(sid)

    result = await state.load_page()
    assert state.allowed is False and state.rows == []
    assert _is_error_toast(result)
    # Even with rows forged into state, the handler checks again and changes nothing.
    state.rows = [bulk.onboarding.row_of(patient)]
    assert _is_error_toast(await state.toggle_access(patient.id))
    assert _is_error_toast(await state.send_email(patient.id))
    assert _fresh(session, patient.id).portal_enabled is False


async def test_read_level_may_list_but_not_change(session, admin, patient):
    sid = staff_with(session, "viewer", {Permission.PORTAL_ADMIN: Level.READ})
    state = await _state(sid)

    await state.load_page()
    assert state.allowed is True and _names(state) == ["Lopez, Maria"]
    result = await state.toggle_access(patient.id)
    assert str(NO_ACCESS) in str(result)
    assert _fresh(session, patient.id).portal_enabled is False


async def test_must_change_password_blocks_changes(session, admin, patient):
    admin.must_change_password = True
    session.add(admin)
    session.commit()
    state = await _state(_sign_in(session, "admin", ADMIN_PASSWORD))

    assert _redirect_target(await state.load_page()) == "/staff/password"
    state.rows = [bulk.onboarding.row_of(patient)]
    assert _is_error_toast(await state.toggle_access(patient.id))
    assert _fresh(session, patient.id).portal_enabled is False


# ---- rectangles -------------------------------------------------------------------------


async def test_clicking_red_turns_that_row_green_and_only_that_row(session, admin_sid):
    for first in ("Ana", "Ben", "Cy"):
        make_patient(session, first=first, last="Lopez", email=f"{first.lower()}@example.com")
    state = await _state(admin_sid)
    await state.load_page()
    before = list(state._shown_rows())
    target = before[1]

    result = await state.toggle_access(target.id)

    assert not _is_error_toast(result)
    assert state._shown_rows()[1].enabled is True and state._shown_rows()[1].id == target.id
    assert state._shown_rows()[0] == before[0] and state._shown_rows()[2] == before[2]
    assert [r.enabled for r in state._shown_rows()] == [False, True, False]
    assert _fresh(session, target.id).portal_enabled is True
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "portal.enable")).all()
    assert [e.patient_id for e in events] == [target.id]


async def test_clicking_green_asks_first_and_cancel_changes_nothing(session, admin_sid):
    patient = make_patient(session, enabled=True)
    state = await _state(admin_sid)
    await state.load_page()

    await state.toggle_access(patient.id)
    assert (state.confirm_id, state.confirm_name) == (patient.id, "Lopez, Maria")
    assert _fresh(session, patient.id).portal_enabled is True

    state.set_confirm_open(False)  # Cancel or Escape
    assert state.confirm_id == 0
    assert await state.confirm_disable() is None
    assert _fresh(session, patient.id).portal_enabled is True


async def test_confirmed_disable_turns_red_and_ends_portal_sessions(session, admin, admin_sid):
    patient = make_patient(session, enabled=True)
    account = manual_credentials.set_manually(session=session, patient_id=patient.id,
                                    username="maria.lopez@example.com",
                                    password="quiet meadow copper kettle 9", force_change=False,
                                    actor=audit.Actor.system("test"))
    session.commit()
    portal_sid = portal_auth.sign_in(session=session, user_id="maria.lopez@example.com",
                                     password="quiet meadow copper kettle 9")
    assert portal_auth.principal_for(session=session, session_id=portal_sid) is not None

    state = await _state(admin_sid)
    await state.load_page()
    await state.toggle_access(patient.id)
    await state.confirm_disable()

    assert state._shown_rows()[0].enabled is False and state.confirm_id == 0
    session.expire_all()
    assert session.get(Patient, patient.id).portal_enabled is False
    assert portal_auth.principal_for(session=session, session_id=portal_sid) is None
    live = session.exec(select(AuthSession).where(AuthSession.kind == SessionKind.PORTAL,
                                                  AuthSession.portal_account_id == account.id,
                                                  AuthSession.revoked_at.is_(None))).all()
    assert live == []


# ---- the email link -------------------------------------------------------------------


def _kinds(session: Session) -> list[str]:
    session.expire_all()
    return [m.kind for m in session.exec(select(OutboxMessage).order_by(OutboxMessage.id))]


async def test_email_click_sends_invitation_then_reset_once_an_account_exists(session, admin_sid):
    patient = make_patient(session, enabled=True)
    state = await _state(admin_sid)
    await state.load_page()

    result = await state.send_email(patient.id)
    assert "Invitation sent to maria.lopez@example.com" in str(result)
    assert _kinds(session) == ["invitation"]
    assert state._shown_rows()[0].account_label == "Invited"

    manual_credentials.set_manually(session=session, patient_id=patient.id, username="maria.lopez@example.com",
                          password=None, force_change=False, actor=audit.Actor.system("test"))
    session.commit()
    result = await state.send_email(patient.id)
    assert "Password reset email sent to maria.lopez@example.com" in str(result)
    assert _kinds(session) == ["invitation", "reset"]


async def test_double_click_on_the_email_sends_one(session, admin_sid):
    patient = make_patient(session, enabled=True)
    state = await _state(admin_sid)
    await state.load_page()

    await state.send_email(patient.id)
    second = await state.send_email(patient.id)

    assert _kinds(session) == ["invitation"]
    assert "just sent" in str(second)


async def test_email_click_for_a_red_or_emailless_patient_says_why(session, admin_sid):
    red = make_patient(session)
    no_email = make_patient(session, first="Ned", last="Nomail", email="", enabled=True)
    state = await _state(admin_sid)
    await state.load_page()

    assert "Enable it first" in str(await state.send_email(red.id))
    assert "No email on file" in str(await state.send_email(no_email.id))
    assert _kinds(session) == []


# ---- search, filter, paging -----------------------------------------------------------


async def _many(session: Session, count: int) -> list[str]:
    for i in range(count):
        make_patient(session, first=f"First{i:03d}", last=f"Last{i:03d}", email=f"p{i}@example.com",
                     chart=f"N{i:05d}", dob=date(1970, 1, 1))
    return [f"Last{i:03d}, First{i:03d}" for i in range(count)]


async def test_paging_next_and_previous_return_the_right_rows(session, admin_sid):
    names = await _many(session, 120)
    state = await _state(admin_sid)
    await state.load_page()
    assert _names(state) == names[:50]
    assert (state.has_prev, state.has_next, state.page_number) == (False, True, 1)

    await state.next_page()
    assert _names(state) == names[50:100] and state.page_number == 2
    await state.next_page()
    assert _names(state) == names[100:]
    assert (state.has_next, state.page_number) == (False, 3)
    await state.next_page()  # nothing further: stays put
    assert _names(state) == names[100:]

    await state.prev_page()
    assert _names(state) == names[50:100] and state.page_number == 2
    await state.prev_page()
    assert _names(state) == names[:50]
    assert (state.has_prev, state.page_number) == (False, 1)


async def test_search_and_status_filter(session, admin_sid):
    await _many(session, 5)
    make_patient(session, first="Maria", last="Lopez", enabled=True, chart="L1")
    state = await _state(admin_sid)
    await state.load_page()

    await state.set_search("lopez")
    assert _names(state) == ["Lopez, Maria"]
    await state.set_search("")
    await state.set_status("enabled")
    assert _names(state) == ["Lopez, Maria"]
    await state.set_status("not_enabled")
    assert len(state.rows) == 5
    await state.set_status("'; drop table patient; --")
    assert state.status == "all" and len(state.rows) == 6
    await state.set_search("x" * 1_000_000 + "\x00")
    assert len(state.search) <= 200 and state.rows == []


async def test_the_list_says_how_many_match_and_where_the_page_is(session, admin_sid):
    await _many(session, 120)
    state = await _state(admin_sid)
    await state.load_page()
    assert (state.total, state.showing_text, state.page_text) == (120, "Showing 1\u201350 of 120 patients",
                                                                   "Page 1 of 3")
    await state.next_page()
    assert (state.showing_text, state.page_text) == ("Showing 51\u2013100 of 120 patients", "Page 2 of 3")
    await state.prev_page()
    assert state.showing_text == "Showing 1\u201350 of 120 patients"
    await state.set_search("p11")  # p11@, p110@ ... p119@
    assert (state.total, state.showing_text, state.page_text) == (11, "Showing 1\u201311 of 11 patients",
                                                                   "Page 1 of 1")


async def test_go_to_page_opens_that_page_and_refuses_a_page_out_of_range(session, admin_sid):
    names = await _many(session, 120)
    state = await _state(admin_sid)
    await state.load_page()
    await state.go_to_page({"page": "3"})
    assert _names(state) == names[100:] and state.page_text == "Page 3 of 3"
    assert state.showing_text == "Showing 101\u2013120 of 120 patients"
    await state.prev_page()
    assert _names(state) == names[50:100] and state.page_number == 2
    for bad in ("4", "0", "-1", "two", "", "9" * 40, "\u00b2", "1.5"):
        await state.go_to_page({"page": bad})
        assert state.jump_error == "Enter a page number from 1 to 3."
        assert _names(state) == names[50:100]
    await state.go_to_page({"page": " 1 "})
    assert _names(state) == names[:50] and state.jump_error == "" and not state.has_prev


async def test_jump_to_letter_seeks_the_first_last_name_from_it(session, admin_sid):
    names = await _many(session, 60)
    for last in ("Miller", "Moore", "Young"):
        make_patient(session, first="Ann", last=last)
    state = await _state(admin_sid)
    await state.load_page()
    await state.go_to_letter({"letter": "M"})
    assert _names(state) == ["Miller, Ann", "Moore, Ann", "Young, Ann"]
    assert state.showing_text == "Showing 61\u201363 of 63 patients" and state.page_text == "Page 2 of 2"
    await state.prev_page()
    assert _names(state) == names[10:60]
    await state.go_to_letter({"letter": "Z"})  # nobody from Z on: the last page
    assert state.page_text == "Page 2 of 2" and _names(state)[-1] == "Young, Ann"
    await state.go_to_letter({"letter": "a"})
    assert _names(state) == names[:50] and state.page_number == 1
    await state.go_to_letter({"letter": "<"})
    assert state.jump_error == "Choose a letter from A to Z."


# ---- past the count cap: "more than", and jumps that stay bounded ------------------------


def _alphabet(session: Session, letters: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ") -> list[str]:
    """Five charts a letter ("Aville, P0" ... "Zville, P4"), in list order."""
    names = []
    for letter in letters:
        for n in range(5):
            make_patient(session, first=f"P{n}", last=f"{letter}ville", email=f"p{n}.{letter.lower()}@example.com",
                         chart=f"A{letter}{n}")
            names.append(f"{letter}ville, P{n}")
    return names


def _status_line(state: OnboardingState) -> tuple[str, str]:
    return state.showing_text, state.page_text


async def test_past_the_cap_the_list_says_more_than_and_keeps_numbering_pages(session, admin_sid, monkeypatch):
    monkeypatch.setattr(onboarding, "COUNT_CAP", 100)
    names = await _many(session, 130)
    state = await _state(admin_sid)
    await state.load_page()
    assert (state.total, state.total_capped) == (100, True)
    assert _status_line(state) == ("Showing 1\u201350 of more than 100 patients", "Page 1 of more than 2")
    await state.next_page()
    assert _names(state) == names[50:100]
    assert _status_line(state) == ("Showing 51\u2013100 of more than 100 patients", "Page 2 of more than 2")
    await state.next_page()  # the last page: now the number is known
    assert _names(state) == names[100:]
    assert _status_line(state) == ("Showing 101\u2013130 of 130 patients", "Page 3 of 3")
    await state.prev_page()
    assert _status_line(state) == ("Showing 51\u2013100 of more than 100 patients", "Page 2 of more than 2")
    await state.prev_page()
    assert _names(state) == names[:50] and state.page_number == 1

    await state.set_search("p11")  # under the cap: exact, as always
    assert (state.total, state.total_capped) == (11, False)
    assert _status_line(state) == ("Showing 1\u201311 of 11 patients", "Page 1 of 1")
    await state.set_search("nobody-matches-this")
    assert _status_line(state) == ("No patients", "Page 1 of 1") and state.total_capped is False


async def test_a_count_equal_to_the_cap_is_exact(session, admin_sid, monkeypatch):
    monkeypatch.setattr(onboarding, "COUNT_CAP", 100)
    await _many(session, 100)
    state = await _state(admin_sid)
    await state.load_page()
    assert (state.total, state.total_capped) == (100, False)
    assert _status_line(state) == ("Showing 1\u201350 of 100 patients", "Page 1 of 2")
    monkeypatch.setattr(onboarding, "COUNT_CAP", 50)
    await state.set_status("all")
    assert _status_line(state) == ("Showing 1\u201350 of more than 50 patients", "Page 1 of more than 1")


async def test_past_the_cap_go_to_page_offers_the_cap_s_pages(session, admin_sid, monkeypatch):
    monkeypatch.setattr(onboarding, "COUNT_CAP", 100)
    names = await _many(session, 130)
    state = await _state(admin_sid)
    await state.load_page()
    await state.go_to_page({"page": "2"})
    assert _names(state) == names[50:100] and state.jump_error == ""
    assert _status_line(state) == ("Showing 51\u2013100 of more than 100 patients", "Page 2 of more than 2")
    for bad in ("3", "0", "99999"):
        await state.go_to_page({"page": bad})
        assert state.jump_error == ("Enter a page number from 1 to 2 (the first 100 patients). To find others, "
                                    "search or jump to a letter.")
        assert _names(state) == names[50:100]
    await state.go_to_page({"page": "1"})
    assert _names(state) == names[:50] and state.jump_error == "" and not state.has_prev


async def test_a_letter_past_the_cap_opens_there_without_a_row_number(session, admin_sid, monkeypatch):
    monkeypatch.setattr(onboarding, "COUNT_CAP", 50)
    names = _alphabet(session)
    state = await _state(admin_sid)
    await state.load_page()
    assert _status_line(state) == ("Showing 1\u201350 of more than 50 patients", "Page 1 of more than 1")

    await state.go_to_letter({"letter": "W"})  # 110 rows before W: more than the cap
    assert _names(state) == names[110:] and state.has_prev and not state.has_next
    assert state.first_row == 0
    assert _status_line(state) == ("Showing 20 patients after the first 50", "Beyond page 1")
    await state.prev_page()  # 60 rows before this page: still past the cap
    assert _names(state) == names[60:110]
    assert _status_line(state) == ("Showing 50 patients after the first 50", "Beyond page 1")
    await state.next_page()  # Next goes on from there, still uncounted
    assert _names(state) == names[110:]
    assert _status_line(state) == ("Showing 20 patients after the first 50", "Beyond page 1")
    await state.prev_page()
    await state.prev_page()  # 10 rows before it: within the cap, so counted again
    assert _names(state) == names[10:60] and state.first_row == 11
    assert _status_line(state) == ("Showing 11\u201360 of more than 60 patients", "Page 1 of more than 1")
    await state.prev_page()
    assert _names(state) == names[:10] and not state.has_prev
    assert _status_line(state) == ("Showing 1\u201310 of more than 50 patients", "Page 1 of more than 1")

    await state.go_to_letter({"letter": "C"})  # 10 before C: counted
    assert _names(state) == names[10:60] and state.first_row == 11
    await state.go_to_letter({"letter": "Z"})
    assert _names(state) == names[125:] and _status_line(state) == ("Showing 5 patients after the first 50",
                                                                     "Beyond page 1")
    await state.go_to_letter({"letter": "A"})
    assert _names(state) == names[:50] and _status_line(state)[0] == "Showing 1\u201350 of more than 50 patients"


async def test_previous_from_an_uncounted_page_reaches_the_start_as_row_one(session, admin_sid, monkeypatch):
    monkeypatch.setattr(onboarding, "COUNT_CAP", 50)
    names = _alphabet(session, "ABCDEFGHIJKLM")  # 65 patients, nobody from N on
    state = await _state(admin_sid)
    await state.load_page()
    await state.go_to_letter({"letter": "X"})  # nobody from X on, 65 before: the last page, uncounted
    assert _names(state) == names[15:] and not state.has_next and state.has_prev
    assert _status_line(state) == ("Showing 50 patients after the first 50", "Beyond page 1")
    await state.prev_page()  # the start: row 1
    assert _names(state) == names[:15] and not state.has_prev and state.first_row == 1
    assert _status_line(state) == ("Showing 1\u201315 of more than 50 patients", "Page 1 of more than 1")
    await state.next_page()  # counted from the start, and the end is in sight: exact
    assert _names(state) == names[15:]
    assert _status_line(state) == ("Showing 16\u201365 of 65 patients", "Page 1 of 2")


async def test_refreshing_an_uncounted_page_counts_it_again(session, admin, admin_sid, monkeypatch):
    monkeypatch.setattr(onboarding, "COUNT_CAP", 50)
    names = _alphabet(session)
    state = await _state(admin_sid)
    await state.load_page()
    await state.set_status("not_enabled")
    await state.go_to_letter({"letter": "M"})  # 60 red charts before M
    assert _names(state) == names[60:110] and state.first_row == 0
    await state._refresh_in_place()  # (what the end of a bulk job does): nothing changed
    assert _names(state) == names[60:110] and state.first_row == 0
    actor = audit.Actor.staff(admin.id, "10.0.0.1")
    for patient in session.exec(select(Patient).order_by(Patient.sort_key).limit(20)):
        onboarding.enable_access(session=session, patient_id=patient.id, actor=actor)
    await state._refresh_in_place()  # 40 red charts before M now: counted
    assert _names(state) == names[60:110] and state.first_row == 41
    assert _status_line(state) == ("Showing 41\u201390 of more than 90 patients", "Page 1 of more than 1")


async def test_jumps_refuse_without_a_session(session, patient):
    state = await _state("not-a-real-session-id")
    assert _is_error_toast(await state.go_to_page({"page": "1"}))
    assert _is_error_toast(await state.go_to_letter({"letter": "A"}))


# ---- selection and bulk ---------------------------------------------------------------


async def test_select_page_and_bulk_enable_and_invite(session, admin, admin_sid, monkeypatch):
    monkeypatch.setattr(OnboardingState, "POLL_SECONDS", 0.01)
    make_patient(session, first="Ann", last="Able", email="ann@example.com")
    make_patient(session, first="Ned", last="Baker", email="")
    state = await _state(admin_sid)
    await state.load_page()

    state.toggle_page(True)
    assert sorted(state.selected_ids) == sorted(r.id for r in state.rows)
    assert state.page_all_selected is True
    await state.ask_bulk_selected()
    assert (state.bulk_dialog_open, state.bulk_scope, state.bulk_count) == (True, "selected", 2)

    assert "run_bulk" in str(await state.start_bulk())
    await OnboardingState.event_handlers["run_bulk"].fn(state)

    assert state.job_status == "done" and state.job_percent == 100
    assert state.job_summary == "Invited 1 · skipped 1 without email"
    assert state.selected_ids == [] and state.bulk_dialog_open is False
    assert [r.enabled for r in state._shown_rows()] == [True, True]  # the page was re-read
    assert _kinds(session) == ["invitation"]


async def test_bulk_all_matching_uses_the_current_filter(session, admin_sid, monkeypatch):
    monkeypatch.setattr(OnboardingState, "POLL_SECONDS", 0.01)
    await _many(session, 3)
    make_patient(session, first="Maria", last="Lopez", chart="L1")
    state = await _state(admin_sid)
    await state.load_page()
    await state.set_search("Lopez")

    await state.ask_bulk_matching()
    assert (state.bulk_scope, state.bulk_count) == ("matching", 1)
    assert "run_bulk" in str(await state.start_bulk())
    await OnboardingState.event_handlers["run_bulk"].fn(state)

    assert state.job_summary == "Invited 1"
    session.expire_all()
    assert [p.portal_enabled for p in session.exec(select(Patient).order_by(Patient.sort_key))] == \
        [False, False, False, True]


async def test_rows_are_not_reread_when_the_session_ended_during_the_job(session, admin_sid,
                                                                          monkeypatch):
    monkeypatch.setattr(OnboardingState, "POLL_SECONDS", 0.01)
    make_patient(session)
    state = await _state(admin_sid)
    await state.load_page()
    state.toggle_page(True)
    await state.ask_bulk_selected()
    await state.start_bulk()
    original = bulk._process_one

    def sign_out_then_process(db_session, patient_id, actor, *more):
        # The user signs out (or idles out) while the job is still working.
        staff_auth.sign_out(session=db_session, session_id=admin_sid)
        return original(db_session, patient_id, actor, *more)

    monkeypatch.setattr(bulk, "_process_one", sign_out_then_process)
    # (the job runs in this process here, so the patched step applies)
    monkeypatch.setattr(bulk, "run_in_own_process", lambda **work: bulk.run_job(**work))
    await OnboardingState.event_handlers["run_bulk"].fn(state)

    assert state.job_status == "done"
    assert [r.enabled for r in state._shown_rows()] == [False]  # the page was not re-read
    assert _fresh(session, state.rows[0].id).portal_enabled is True


async def test_bulk_refuses_without_permission(session, admin, patient):
    sid = staff_with(session, "viewer", {Permission.PORTAL_ADMIN: Level.READ})
    state = await _state(sid)
    state.selected_ids = [patient.id]
    state.bulk_scope = "selected"

    assert _is_error_toast(await state.start_bulk())
    # Called directly, the background half checks again (and has nothing to run).
    state._bulk_request = {"patient_ids": [patient.id], "search": "", "status": "all"}
    assert _is_error_toast(await OnboardingState.event_handlers["run_bulk"].fn(state))
    assert state.job_id == 0
    assert _fresh(session, patient.id).portal_enabled is False


async def test_reopened_page_shows_a_running_job_and_follows_it(session, admin, admin_sid, monkeypatch):
    monkeypatch.setattr(OnboardingState, "POLL_SECONDS", 0.01)
    patient = make_patient(session)
    actor = audit.Actor.staff(admin.id)
    job = bulk.start_job(session=session, actor=actor, patient_ids=[patient.id])

    state = await _state(admin_sid)  # a new tab: knows nothing of the job
    follow = await state.load_page()
    assert state.job_id == job.id and state.job_status == "running"
    assert "follow_job" in str(follow)

    bulk.run_job(session=session, job_id=job.id, actor=actor)
    await OnboardingState.event_handlers["follow_job"].fn(state)
    assert state.job_status == "done" and state.job_summary == "Invited 1"
    assert state._shown_rows()[0].enabled is True


async def test_public_vars_hold_no_secrets(session, admin_sid):
    make_patient(session, enabled=True)
    state = await _state(admin_sid)
    await state.load_page()
    await state.send_email(state.rows[0].id)

    public = state.dict()[state.get_full_name()]
    text = repr(public)
    assert "argon2" not in text and "token" not in text.lower()
    assert not any(key.startswith("_") for key in public)


async def test_a_call_after_the_session_ended_forgets_the_page_and_is_audited(session, admin_sid, patient):
    state = await _state(admin_sid)
    await state.load_page()
    state.toggle_page(True)
    assert state.rows and state.selected_ids
    staff_auth.sign_out(session=session, session_id=admin_sid)

    assert str(NO_ACCESS) in str(await state.send_email(patient.id))
    assert state.rows == [] and state.selected_ids == []
    session.expire_all()
    [refusal] = session.exec(select(AuditEvent).where(AuditEvent.action == "access.refused")).all()
    assert refusal.detail == "handler=OnboardingState.send_email; needs=portal_admin>=update"
    assert session.exec(select(OutboxMessage)).first() is None


async def test_a_refused_disable_closes_its_dialog_and_changes_nothing(session, admin):
    patient = make_patient(session, enabled=True)
    sid = staff_with(session, "viewer", {Permission.PORTAL_ADMIN: Level.READ})
    state = await _state(sid)
    await state.load_page()
    state.confirm_id, state.confirm_name = patient.id, "Lopez, Maria"  # forged: a reader gets no dialog

    assert str(NO_ACCESS) in str(await state.confirm_disable())
    assert (state.confirm_id, state.confirm_name) == (0, "")
    assert state.rows  # a reader keeps the list
    assert _fresh(session, patient.id).portal_enabled is True


async def test_a_stopped_job_offers_resume_which_invites_each_patient_once(
        session, admin, admin_sid, monkeypatch):
    monkeypatch.setattr(OnboardingState, "POLL_SECONDS", 0.01)
    patients = [make_patient(session, first=f"R{i}", last="Resume", email=f"r{i}@example.com", chart=f"RS{i}")
                for i in range(4)]
    actor = audit.Actor.staff(admin.id)
    job = bulk.start_job(session=session, actor=actor, patient_ids=[p.id for p in patients], resend=True)
    # Two were invited before the job stopped on the third (the portal was switched off meanwhile).
    original = bulk.send_invitation_or_reset
    calls: list[int] = []

    def stop_on_the_third(**kwargs):
        calls.append(kwargs["patient_id"])
        if len(calls) == 3:
            raise PortalUnavailable()
        return original(**kwargs)

    monkeypatch.setattr(bulk, "send_invitation_or_reset", stop_on_the_third)
    assert bulk.run_job(session=session, job_id=job.id, actor=actor, chunk=10).status == "failed"
    monkeypatch.setattr(bulk, "send_invitation_or_reset", original)

    state = await _state(admin_sid)
    await state.load_page()
    assert (state.job_id, state.job_status, state.job_processed, state.job_can_resume) == (job.id, "failed", 2, True)
    assert "after 2 of 4" in state.job_error

    follow = await state.resume_bulk()
    assert "run_bulk" in str(follow)
    await OnboardingState.event_handlers["run_bulk"].fn(state)

    assert (state.job_status, state.job_processed, state.job_can_resume) == ("done", 4, False)
    assert state.job_summary == "Invited 4"
    sent = sorted(m.to_address for m in session.exec(select(OutboxMessage)))
    assert sent == sorted(p.email for p in patients)  # each once


async def test_resume_needs_portal_admin_update(session, admin, patient):
    actor = audit.Actor.staff(admin.id)
    job = bulk.start_job(session=session, actor=actor, patient_ids=[patient.id])
    sid = staff_with(session, "viewer", {Permission.PORTAL_ADMIN: Level.READ})
    state = await _state(sid)
    state.job_id, state.job_can_resume = job.id, True

    assert _is_error_toast(await state.resume_bulk())
    assert state._bulk_request is None


def _root(state):
    while state.parent_state is not None:
        state = state.parent_state
    return state


async def test_a_click_answers_with_its_row_only(session, admin_sid):
    """What Reflex sends for a click: the one changed row, not the page nor the unchanged
    signed-in user's fields (each would be re-sent, with every `can_*` flag that reads them)."""
    for number in range(30):
        make_patient(session, first=f"Pat{chr(65 + number)}", last="Lopez", email=f"p{number}@example.com")
    state = await _state(admin_sid)
    await state.load_page()
    root = _root(state)
    root._clean()
    target = state.rows[3]

    await state.toggle_access(target.id)

    delta = root.get_delta()
    sent = {name.rsplit(".", 1)[-1]: set(values) for name, values in delta.items()}
    assert sent == {"portal_app___state___onboarding____onboarding_state": {"changed_rows_rx_state_"}}
    assert list(state.changed_rows) == [str(target.id)] and state.changed_rows[str(target.id)].enabled
    assert len(rx.utils.format.json_dumps(delta)) < 2000


async def test_many_changes_on_one_page_fold_into_the_page(session, admin_sid):
    for number in range(14):
        make_patient(session, first=f"Pat{chr(65 + number)}", last="Lopez", email=f"p{number}@example.com")
    state = await _state(admin_sid)
    await state.load_page()
    ids = [row.id for row in state.rows]

    for patient_id in ids[:11]:
        await state.toggle_access(patient_id)

    assert state.changed_rows == {}  # the 11th change sent the page whole, with all eleven
    assert [row.enabled for row in state.rows] == [True] * 11 + [False] * 3
    await state.toggle_access(ids[11])
    assert list(state.changed_rows) == [str(ids[11])]
    assert [row.enabled for row in state._shown_rows()] == [True] * 12 + [False] * 2
    await state.set_search("Lopez")  # a fetch starts the page afresh
    assert state.changed_rows == {}
