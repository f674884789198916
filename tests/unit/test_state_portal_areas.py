"""Which portal areas a connection grants: the checks every area handler and page make."""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from portal_app import routes
from portal_app.models import AccessType, AuditEvent, PortalConnection, PortalTask
from portal_app.services import areas
from portal_app.services.areas import Area
from portal_app.state.patient_home import HomeState
from portal_app.state.patient_login import LoginState
from portal_app.state.patient_messages import PatientMessagesState
from tests.unit.conftest import make_patient
from tests.unit.state_support import tab_signs_in
from tests.unit.test_state_patient import PASSWORD, make_account, redirect_path, run, state_at


def test_areas_parse_keeps_known_names_in_catalog_order():
    # "billing" (granted before it was removed) is dropped like any unknown name: no page, no grant.
    assert areas.parse("forms, messages,nonsense,,billing") == ("messages", "forms")
    assert areas.serialize(["documents", "evil", "messages"]) == "messages,documents"
    assert areas.parse(areas.ALL_AREAS) == tuple(area.value for area in Area)
    assert areas.parse("") == ()


async def _parent_of_two(session):
    """Maria (self, every area) is the parent of Lucia (messages only)."""
    _, account = make_account(session)
    child = make_patient(session, first="Lucia", last="Lopez", email="", enabled=True, dob=date(2015, 6, 1))
    connection = PortalConnection(account_id=account.id, patient_id=child.id, permissions="messages",
                                  access_type=AccessType.REPRESENTATIVE, relationship="parent")
    session.add(connection)
    session.commit()
    root, login = await state_at(routes.LOGIN, LoginState)
    await tab_signs_in(session, login, login.sign_in(
        {"user_id": "maria.lopez@example.com", "password": PASSWORD}))
    home = await root.get_state(HomeState)
    await run(home.load())
    return account, child, connection, home


def _refusals(session) -> list[str]:
    return [e.detail for e in session.exec(select(AuditEvent).where(AuditEvent.action == "portal.area_refused"))]


async def test_the_open_chart_decides_which_areas_a_handler_may_use(session):
    account, child, connection, home = await _parent_of_two(session)
    assert home.viewing_name == "Maria Lopez" and "appointments" in home.viewing_areas
    assert (await home._area_principal(Area.APPOINTMENTS, "request"))[1].name == "Maria Lopez"

    await run(home.switch_chart(str(child.id)))
    assert (home.viewing_name, home.viewing_areas) == ("Lucia Lopez", ["messages"])
    assert (await home._area_principal(Area.MESSAGES, "send"))[1].patient_id == child.id
    # A handler of an area the child's connection does not grant does nothing, and is audited.
    assert await home._area_principal(Area.APPOINTMENTS, "request") is None
    assert _refusals(session) == ["area=appointments; handler=request"]


async def test_a_refused_area_page_goes_home_and_a_permission_change_applies_at_once(session):
    account, child, connection, home = await _parent_of_two(session)
    await run(home.switch_chart(str(child.id)))
    target, redirect = await home._area_guard(Area.DOCUMENTS)
    assert target is None and redirect_path(redirect[0]) == routes.PORTAL_HOME
    assert _refusals(session) == ["area=documents; handler=open"]

    # Staff grant documents and take messages away: the next event sees it.
    connection.permissions = "documents"
    session.add(connection)
    session.commit()
    target, redirect = await home._area_guard(Area.DOCUMENTS)
    assert redirect is None and target[1].name == "Lucia Lopez"
    assert await home._area_principal(Area.MESSAGES, "send") is None
    assert home.viewing_areas == ["documents"]


async def test_a_revoked_connection_is_never_replaced_by_another_chart_mid_action(session):
    account, child, connection, home = await _parent_of_two(session)
    await run(home.switch_chart(str(child.id)))
    connection.revoked_at = connection.connected_at
    session.add(connection)
    session.commit()
    # What was about to be sent for Lucia must not land in Maria's chart.
    assert await home._area_principal(Area.MESSAGES, "send") is None
    # The header now shows the chart that is left; the next action works on it.
    assert home.viewing_name == "Maria Lopez"
    assert [c["label"] for c in home.chart_choices] == ["Maria Lopez"]
    assert (await home._area_principal(Area.MESSAGES, "send"))[1].name == "Maria Lopez"


async def test_a_guarded_handler_does_not_act_on_another_chart_when_the_open_one_is_revoked(session):
    account, child, connection, home = await _parent_of_two(session)
    await run(home.switch_chart(str(child.id)))
    page = await home.get_state(PatientMessagesState)
    await run(page.load())
    assert page.ready and page.viewing_name == "Lucia Lopez"
    connection.revoked_at = connection.connected_at
    session.add(connection)
    session.commit()
    # Meant for Lucia: refused, not filed in Maria's chart (which Maria's self connection would allow).
    await run(page.send_message({"subject": "Lucia", "body": "Fever"}))
    session.expire_all()
    assert session.exec(select(PortalTask)).all() == []
    assert page.viewing_name == "Maria Lopez" and not page.ready


async def test_no_session_means_no_area(session):
    _, home = await state_at(routes.PORTAL_HOME, HomeState)
    assert await home._area_principal(Area.MESSAGES, "send") is None
    target, redirect = await home._area_guard(Area.MESSAGES)
    assert target is None and redirect_path(redirect) == routes.LOGIN
    assert home.viewing_name == "" and _refusals(session) == []
