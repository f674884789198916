"""The guarded-handler decorators (state/actions.py) and the input coercion (state/inputs.py).

PortalUsersState is the vehicle: its handlers are written with `staff_action`.
"""

from __future__ import annotations

import inspect

from sqlmodel import col, select

from portal_app import routes
from portal_app.models import AccountStatus, AuditEvent, PortalAccount
from portal_app.services.errors import InvalidInput
from portal_app.services.permissions import Level, Permission
from portal_app.state import inputs
from portal_app.state.portal_users import NO_ACCESS, NO_VIEW, NOT_ON_PAGE, PortalUsersState
from tests.unit.state_support import set_cookies, sign_in_admin, staff_with, state_for, tab_signs_in
from tests.unit.test_portal_users import family


async def _page(session_id: str):
    _, state = await state_for(PortalUsersState, session_id=session_id, path=routes.PORTAL_USERS)
    await state.load_page()
    return state


def _refusals(session) -> list[AuditEvent]:
    session.expire_all()
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == "access.refused")
                             .order_by(col(AuditEvent.id))))


def _area_refusals(session) -> list[str]:
    session.expire_all()
    return [e.detail for e in session.exec(select(AuditEvent).where(AuditEvent.action == "portal.area_refused"))]


def test_reflex_sees_the_handler_without_the_caller_parameter():
    handler = PortalUsersState.event_handlers["ask"]
    assert list(handler._parameters) == ["self", "action", "account_id"]
    assert handler._get_type_hints() == {"action": str, "account_id": int}
    assert handler._is_coroutine_function and not handler.is_background
    assert list(inspect.signature(PortalUsersState.event_handlers["confirm"].fn).parameters) == ["self"]


async def test_a_signed_out_call_is_refused_audited_and_the_page_forgotten(session, admin):
    family(session)
    state = await _page(sign_in_admin(session))
    assert state.rows
    set_cookies(state, staff="not-a-session")
    answer = await state.next_page()
    assert NO_VIEW in str(answer) and state.rows == []
    [refusal] = _refusals(session)
    assert refusal.actor_type == "anonymous" and refusal.staff_user_id is None
    assert refusal.detail == "handler=PortalUsersState.next_page; needs=user_management>=read"


async def test_a_call_without_the_level_is_refused_and_audited_as_that_user(session, admin):
    parent, *_ = family(session)
    sid = staff_with(session, "viewer", {Permission.USER_MANAGEMENT: Level.READ})
    state = await _page(sid)
    await state.ask("disable", parent.id)
    assert state.error == NO_ACCESS and state.confirm_action == "" and state.rows  # a read may go on
    [refusal] = _refusals(session)
    assert refusal.actor_type == "staff" and refusal.staff_user_id is not None
    assert refusal.detail == "handler=PortalUsersState.ask; needs=user_management>=update"


async def test_arguments_are_coerced_and_unknown_names_dropped(session, admin):
    parent, *_ = family(session)
    state = await _page(sign_in_admin(session))
    await state.ask("disable", {"$gt": 1})  # a crafted id is no id
    assert state.error == NOT_ON_PAGE and state.confirm_id == 0
    await state.ask(action="disable", account_id=str(parent.id), is_admin=True)
    assert state.error == "" and (state.confirm_action, state.confirm_id) == ("disable", parent.id)
    await state.ask()  # missing arguments are the types' empty values
    assert state.error == NOT_ON_PAGE


async def test_a_domain_error_becomes_the_pages_message(session, admin, monkeypatch):
    parent, *_ = family(session)
    state = await _page(sign_in_admin(session))

    def refuse(**_kwargs):
        raise InvalidInput("That account changed meanwhile.")

    from portal_app.state import portal_users as page
    monkeypatch.setitem(page.ACTIONS, "disable", (refuse, *page.ACTIONS["disable"][1:]))
    await state.ask("disable", parent.id)
    await state.confirm()
    assert state.error == "That account changed meanwhile."
    session.expire_all()
    assert session.get(PortalAccount, parent.id).status == AccountStatus.ACTIVE


def test_inputs_never_raise_and_keep_text_as_typed():
    assert [inputs.as_id(v) for v in (7, "7", True, -1, "x", None, 10**13, {"a": 1})] == [7, 7, 0, 0, 0, 0, 0, 0]
    assert inputs.as_text("  Ann\x00 ") == "  Ann " and inputs.as_text(["a"]) == ""
    assert inputs.as_texts(["a", 1, None, "b"]) == ["a", "b"] and inputs.as_texts("ab") == []
    assert inputs.form_text({"name": " x "}, "name") == " x " and inputs.form_text(None, "name") == ""
    assert inputs.form_checked({"on": "on"}, "on") and not inputs.form_checked({"on": "yes"}, "on")
    assert inputs.coerce({"x": 1}, dict[str, str]) == {"x": 1} and inputs.coerce("x", dict) == {}
    # A number bound in the page reaches a text parameter as its digits; a list or dict does not.
    assert [inputs.coerce(v, str) for v in (12, 1.5, True, ["1"], None)] == ["12", "1.5", "", "", ""]


async def test_a_page_load_sends_a_tab_without_a_session_to_sign_in_and_forgets_the_page(session, admin):
    from portal_app.state.audit import AuditState

    _, state = await state_for(AuditState, session_id=sign_in_admin(session), path=routes.AUDIT)
    assert await state.load() is None and state.rows
    set_cookies(state, staff="ended")
    answer = await state.load()
    assert routes.STAFF_LOGIN in str(answer) and state.rows == [] and state.error == ""
    assert _refusals(session) == []  # being sent to sign in is not a refused permission


async def test_a_page_load_without_the_permission_says_why_and_is_audited(session, admin):
    from portal_app.state.actions import PAGE_REFUSED
    from portal_app.state.audit import NO_PERMISSION, AuditState

    sid = staff_with(session, "clerk", {Permission.PORTAL_ADMIN: Level.WRITE})
    _, state = await state_for(AuditState, session_id=sid, path=routes.AUDIT)
    answer = await state.load()
    assert PAGE_REFUSED in str(answer) and state.error == NO_PERMISSION and state.rows == []
    [refusal] = _refusals(session)
    assert refusal.actor_type == "staff" and refusal.detail == "handler=AuditState.load; needs=audit>=read"
    assert AuditState.event_handlers["load"].fn.__guard__ == "staff-page:audit>=read"


async def _patient_page(session, cls, path: str):
    """Maria signed in on a fresh tab; her `cls` page state at `path`, loaded."""
    from portal_app.state.patient_login import LoginState
    from tests.unit.test_state_patient import PASSWORD, make_account, run, state_at

    make_account(session)
    root, login = await state_at(path, LoginState)
    await tab_signs_in(session, login, login.sign_in({"user_id": "maria.lopez@example.com",
                                                      "password": PASSWORD}))
    page = await root.get_state(cls)
    await run(page.load())
    return page


async def test_a_patient_page_load_sends_a_tab_without_a_session_to_sign_in_and_forgets_the_page(session):
    from portal_app.state.patient_home import HomeState
    from portal_app.state.patient_messages import PatientMessagesState
    from tests.unit.test_state_patient import redirect_path, run

    page = await _patient_page(session, PatientMessagesState, routes.PORTAL_MESSAGES)
    await run(page.send_message({"subject": "Refill", "body": "Please refill my prescription."}))
    await run(page.load())
    assert page.ready and page.rows and page.viewing_name == "Maria Lopez"
    set_cookies(page, portal="ended")
    answer = await run(page.load())
    assert redirect_path(answer) == routes.LOGIN
    assert not page.ready and page.rows == [] and page.viewing_name == "" and page.account_user_id == ""
    assert _area_refusals(session) == []  # being sent to sign in is not a refused area
    assert HomeState.event_handlers["load"].fn.__guard__ == "portal-page:signed-in"


async def test_a_patient_page_load_of_an_area_not_granted_goes_home_says_why_and_is_audited(session):
    from portal_app.models import PortalConnection
    from portal_app.state.patient_messages import PatientMessagesState
    from tests.unit.test_state_patient import redirect_path, run

    page = await _patient_page(session, PatientMessagesState, routes.PORTAL_MESSAGES)
    assert page.ready
    connection = session.exec(select(PortalConnection)).one()
    connection.permissions = "documents"
    session.add(connection)
    session.commit()
    answer = await run(page.load())
    assert redirect_path(answer[0]) == routes.PORTAL_HOME
    assert "The Messages area is not available for Maria Lopez" in str(answer[1])
    assert not page.ready and page.rows == [] and page.viewing_areas == ["documents"]
    assert _area_refusals(session) == ["area=messages; handler=open"]
    assert PatientMessagesState.event_handlers["load"].fn.__guard__ == "portal-page:messages"
