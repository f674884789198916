"""No state var holds a session id: handlers read it from the websocket handshake's Cookie header;
sign-out and an ended session clear the HttpOnly cookie through its route; a link's token leaves
the address bar and a reload of the cleaned address still shows the link's form."""

from __future__ import annotations

import inspect
from datetime import timedelta

import reflex as rx
from reflex.istate.data import ReflexURL, URLData
from reflex_base.utils import format

from portal_app import routes
from portal_app.models import SessionKind
from portal_app.services import clock, permissions, sessions, staff_auth
from portal_app.state.base import PortalSessionState, SessionState, StaffSessionState
from portal_app.state.patient_login import LoginState
from portal_app.state.setup import SetupState, SetupView
from portal_app.state.staff_login import StaffLoginState
from tests.unit.conftest import ADMIN_PASSWORD
from tests.unit.state_support import cookie_cleared, page_after, set_cookies, sign_in_admin, state_for, tab_signs_in
from tests.unit.test_state_patient import PASSWORD, make_account, make_patient, run, send_link, state_at


async def _events(result) -> list:
    found = []
    if inspect.isasyncgen(result):
        async for event in result:
            found.extend(event if isinstance(event, list) else [event])
    else:
        event = await result
        found.extend(event if isinstance(event, list) else [event])
    return [event for event in found if event is not None]


def _scripts(events) -> str:
    return " ".join(str(event) for event in events)


def test_no_state_class_keeps_a_session_id_or_a_client_cookie():
    for cls in (SessionState, StaffSessionState, PortalSessionState, StaffLoginState, LoginState, SetupState):
        fields = cls.get_fields()
        assert "staff_sid" not in fields and "portal_sid" not in fields
        assert not [name for name, field in fields.items() if isinstance(field.default, rx.Cookie)]


async def test_handlers_read_the_session_from_the_handshake_cookie(session, admin):
    sid = sign_in_admin(session)
    _, state = await state_for(StaffLoginState)
    assert state.staff_sid == "" and await state._principal() is None
    set_cookies(state, staff=sid)
    assert state.staff_sid == sid
    assert (await state._principal()).full_name == "Ada Admin"
    # What the browser receives (Reflex's serializer keeps the Cookie header on the server).
    assert sid not in format.json_dumps(state._get_root_state().dict())


async def test_staff_sign_out_ends_the_session_and_clears_the_cookie(session, admin):
    # A Front Desk user: a password alone signs in (no second step to finish here).
    staff_auth.create_staff(session=session, username="desk", full_name="Dee Desk", password=ADMIN_PASSWORD,
                            role=permissions.FRONT_DESK)
    _, login = await state_for(StaffLoginState, path=routes.STAFF_LOGIN)
    await tab_signs_in(session, login, login.sign_in({"username": "desk", "password": ADMIN_PASSWORD}),
                       SessionKind.STAFF)
    sid = login.staff_sid
    assert staff_auth.principal_for(session=session, session_id=sid) is not None

    answer = await login.sign_out()

    assert cookie_cleared(answer, SessionKind.STAFF) and page_after(answer) == routes.STAFF_LOGIN
    session.expire_all()
    assert staff_auth.principal_for(session=session, session_id=sid) is None


async def test_an_ended_sessions_cookie_is_cleared_by_the_sign_in_pages(session, admin, frozen_clock):
    sid = sign_in_admin(session)
    _, staff = await state_for(StaffLoginState, session_id=sid, path=routes.STAFF_LOGIN)
    assert await staff.check_signed_in() is not None and not cookie_cleared(await staff.check_signed_in(),
                                                                             SessionKind.STAFF)
    frozen_clock(clock.now() + sessions.IDLE + timedelta(minutes=1))
    assert cookie_cleared(await staff.check_signed_in(), SessionKind.STAFF)

    make_account(session)
    _, login = await state_at(routes.LOGIN, LoginState)
    await tab_signs_in(session, login, login.sign_in({"user_id": "maria.lopez@example.com", "password": PASSWORD}))
    assert login.portal_sid
    frozen_clock(clock.now() + sessions.IDLE + timedelta(minutes=1))
    assert cookie_cleared(await run(login.load()), SessionKind.PORTAL)
    _, fresh = await state_at(routes.LOGIN, LoginState)
    assert not cookie_cleared(await run(fresh.load()), SessionKind.PORTAL)  # no cookie, nothing to clear


async def test_a_links_token_leaves_the_address_bar_and_a_reload_shows_the_same_form(session):
    patient = make_patient(session, enabled=True)
    token = send_link(session, patient)
    root, setup = await state_at(routes.setup_path(routes.SetupStep.INVITE, token=token), SetupState)

    events = await _events(setup.load())
    assert setup.step == SetupView.INVITE
    assert "history.replaceState" in _scripts(events) and '"/setup?p=invite"' in _scripts(events)
    assert token not in _scripts(events)

    # The browser reloads the cleaned address: the tab's state still has the token.
    root.rx_router_url = URLData.from_url(ReflexURL("http://localhost:3000/setup?p=invite"))
    events = await _events(setup.load())
    assert setup.step == SetupView.INVITE and setup.first_name == "Maria"
    assert "history.replaceState" not in _scripts(events)

    # Another kind of link in the same tab does not inherit it.
    root.rx_router_url = URLData.from_url(ReflexURL("http://localhost:3000/setup?p=reset"))
    await _events(setup.load())
    assert setup.step == SetupView.INVALID
