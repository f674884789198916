"""No PHI outlives a session in a tab's server-side state (issue 11, item 3).

Reflex sends a (re)connecting tab its whole server-side state before any on_load runs, so
sign-out, expiry and a reconnect without a live session must leave nothing about a patient
in any state of that tab: the registry in state/phi.py, and the hydrate middleware.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
import reflex as rx
from reflex_base.event import Event
from sqlmodel import select

import portal_app.portal_app as app_module
from portal_app import routes
from portal_app.models import AuthSession, Patient, SessionKind
from portal_app.services import clock, portal_auth, sessions, staff_auth, tokens
from portal_app.state import phi
from portal_app.state.base import PortalSessionState, SessionState, StaffSessionState
from portal_app.state.chart import ChartState
from portal_app.state.idle import PortalIdleState, StaffIdleState, ended_url
from portal_app.state.patient_home import HomeState
from portal_app.state.patient_login import LoginState
from portal_app.state.patient_messages import PatientMessagesState
from tests import redis_server
from tests.unit.conftest import make_patient
from tests.unit.state_support import everything_in_state, set_cookies, sign_in_admin, state_for, tab_signs_in
from tests.unit.test_state_patient import make_account, redirect_path, run, state_at

SENTINEL = "Zyxwvu Sentinel"
MARIA = ("Maria", "Lopez", "1980", "maria.lopez@example.com")


def _all_below(cls):
    for sub in cls.get_substates():
        yield sub
        yield from _all_below(sub)


async def reconnect(root, *, staff: str = "", portal: str = "") -> None:
    """The tab's socket connects again, its handshake carrying these cookies; then the guard."""
    set_cookies(root, staff=staff, portal=portal)
    await phi.guard_reconnect(root)


def assert_no_maria(root) -> None:
    text = everything_in_state(root)
    leaked = [word for word in MARIA if word in text]
    assert leaked == []


async def signed_in_patient_tab(session):
    """A tab that signed Maria in and opened her home page; (root, session id)."""
    make_account(session)
    root, login = await state_at(routes.LOGIN, LoginState)
    await tab_signs_in(session, login, login.sign_in({"user_id": "maria.lopez@example.com",
                                                      "password": "violet harbor engine quietly 7"}),
                       SessionKind.PORTAL)
    home = await root.get_state(HomeState)
    assert await run(home.load()) is None
    assert home.chart_name == "Maria Lopez"
    return root, login.portal_sid


async def staff_tab_on_chart(session, admin, patient=None):
    patient = patient or make_patient(session, enabled=True)
    sid = sign_in_admin(session)
    root, chart = await state_for(ChartState, session_id=sid, path=routes.patient_chart(patient.id),
                                  route=routes.PATIENT_CHART)
    assert await chart.load() is None
    assert chart.chart.name == "Lopez, Maria"
    return root, sid


# ---- the registry ------------------------------------------------------------------------------

def test_every_session_state_is_a_phi_state_unless_named_public():
    everything = {cls.__name__ for cls in _all_below(SessionState)}
    registry = {cls.__name__ for cls in phi.phi_states()}
    assert phi.PUBLIC_PAGES <= everything  # a renamed public page must be renamed here too
    assert registry == everything - phi.PUBLIC_PAGES
    for page in ("HomeState", "PatientMessagesState", "ChartState", "OnboardingState", "PortalAccountsState",
                 "TasksState", "TaskItemState", "OutboxState", "AuditState", "AdoptionState",
                 "PatientImportState", "PortalSessionState", "StaffSessionState"):
        assert page in registry


async def test_forget_resets_every_field_of_every_phi_state():
    """Whatever text a page keeps (public or backend-only, declared on it or by a mixin), the
    reset leaves its default: no page has to remember to clear a new field."""
    root = rx.State(_reflex_internal_init=True)
    filled = []
    for cls in phi.phi_states():
        state = await root.get_state(cls)
        for name, field in cls.__fields__.items():
            if field._owner is cls and name not in phi.KEPT_FIELDS and isinstance(field.default_value(), str):
                setattr(state, name, SENTINEL)
                filled.append((state, name))
    assert len(filled) > 100
    await phi.forget_tab(root)
    kept = [f"{type(state).__name__}.{name}" for state, name in filled if getattr(state, name) == SENTINEL]
    assert kept == []


# ---- sign-out, expiry ------------------------------------------------------------------------

async def test_patient_sign_out_clears_every_page_of_the_tab(session):
    root, _ = await signed_in_patient_tab(session)
    messages = await root.get_state(PatientMessagesState)
    assert await run(messages.load()) is None
    redirect = await run((await root.get_state(HomeState)).portal_sign_out())
    assert redirect is not None
    assert_no_maria(root)


async def test_staff_sign_out_clears_the_chart_the_tab_showed(session, admin):
    root, _ = await staff_tab_on_chart(session, admin)
    chart = await root.get_state(ChartState)
    await run(chart.sign_out())
    assert_no_maria(root)


async def test_an_expired_session_clears_the_whole_side_on_its_next_event(session, frozen_clock):
    root, sid = await signed_in_patient_tab(session)
    frozen_clock(clock.now() + timedelta(minutes=16))  # idle past the 15 minutes
    messages = await root.get_state(PatientMessagesState)
    await run(messages.load())
    assert_no_maria(root)
    assert portal_auth.principal_for(session=session, session_id=sid) is None


# ---- the reconnect ----------------------------------------------------------------------------

async def test_reconnect_after_sign_out_elsewhere_gets_no_phi(session):
    root, sid = await signed_in_patient_tab(session)
    portal_auth.sign_out(session=session, session_id=sid)  # e.g. signed out in another tab
    await reconnect(root, portal=sid)
    assert_no_maria(root)


async def test_reconnect_after_idle_expiry_gets_no_phi(session, admin):
    root, sid = await signed_in_patient_tab(session)
    row = session.exec(select(AuthSession).where(AuthSession.token_hash == tokens.digest(sid))).one()
    row.last_seen_at = clock.now() - timedelta(minutes=20)
    session.add(row)
    session.commit()
    await reconnect(root, portal=sid)
    assert_no_maria(root)


async def test_reconnect_with_a_live_session_keeps_the_page(session):
    root, sid = await signed_in_patient_tab(session)
    await reconnect(root, portal=sid)
    assert (await root.get_state(HomeState)).chart_name == "Maria Lopez"


async def test_reconnect_without_the_cookie_or_with_another_accounts_gets_no_phi(session):
    root, sid = await signed_in_patient_tab(session)
    await reconnect(root, )
    assert_no_maria(root)

    root, sid = await signed_in_patient_tab_again(session)
    other = portal_auth.sign_in(session=session, user_id="maria.lopez@example.com",
                                password="violet harbor engine quietly 7")
    assert other != sid
    await reconnect(root, portal=other)  # the cookie now names another session
    assert_no_maria(root)


async def signed_in_patient_tab_again(session):
    root, login = await state_at(routes.LOGIN, LoginState)
    await tab_signs_in(session, login, login.sign_in({"user_id": "maria.lopez@example.com",
                                                      "password": "violet harbor engine quietly 7"}),
                       SessionKind.PORTAL)
    home = await root.get_state(HomeState)
    await run(home.load())
    assert home.chart_name == "Maria Lopez"
    return root, login.portal_sid


async def test_staff_tab_reconnect_after_expiry_gets_no_patient(session, admin):
    root, sid = await staff_tab_on_chart(session, admin)
    staff_auth.sign_out(session=session, session_id=sid)
    await reconnect(root, staff=sid)
    assert_no_maria(root)


async def test_staff_tab_reconnect_with_a_live_session_keeps_the_chart(session, admin):
    root, sid = await staff_tab_on_chart(session, admin)
    await reconnect(root, staff=sid)
    assert (await root.get_state(ChartState)).chart.name == "Lopez, Maria"


async def test_the_app_runs_the_guard_before_hydrate(session):
    """Wired into the app: the middleware sees hydrate_and_load and resets the tree it is given."""
    root, sid = await signed_in_patient_tab(session)
    portal_auth.sign_out(session=session, session_id=sid)
    guards = [m for m in app_module.app._middlewares if isinstance(m, phi.HydrateGuard)]
    assert len(guards) == 1
    event = Event(name=f"{rx.State.get_full_name()}.hydrate_and_load", payload={})
    assert await guards[0].preprocess(app_module.app, root, event) is None
    assert_no_maria(root)
    # Any other event passes untouched.
    root, sid = await signed_in_patient_tab_again(session)
    portal_auth.sign_out(session=session, session_id=sid)
    other = Event(name=f"{HomeState.get_full_name()}.clear_view", payload={})
    await guards[0].preprocess(app_module.app, root, other)
    assert (await root.get_state(HomeState)).chart_name == "Maria Lopez"


def test_the_sides_cover_staff_and_patient_states():
    staff = {cls.__name__ for cls in phi.phi_states(StaffSessionState)}
    portal = {cls.__name__ for cls in phi.phi_states(PortalSessionState)}
    assert "ChartState" in staff and "HomeState" in portal and not staff & portal


# ---- the idle timer's handlers ------------------------------------------------------------------

async def test_idle_sign_out_ends_the_session_forgets_the_tab_and_says_why(session):
    root, sid = await signed_in_patient_tab(session)
    idle = await root.get_state(PortalIdleState)
    redirect = await run(idle.sign_out_idle())
    assert redirect_path(redirect) == ended_url(routes.LOGIN) == "/login?ended=idle"
    assert portal_auth.principal_for(session=session, session_id=sid) is None
    assert_no_maria(root)


async def test_keep_alive_touches_a_live_session_and_forgets_a_dead_one(session, admin, frozen_clock):
    root, sid = await staff_tab_on_chart(session, admin)
    idle = await root.get_state(StaffIdleState)
    frozen_clock(clock.now() + timedelta(minutes=14))
    assert await run(idle.keep_alive()) is None  # still live: touched
    frozen_clock(clock.now() + timedelta(minutes=14))
    assert await run(idle.keep_alive()) is None  # 14 minutes after the touch: still live
    assert (await root.get_state(ChartState)).chart.name == "Lopez, Maria"
    frozen_clock(clock.now() + timedelta(minutes=16))
    assert redirect_path(await run(idle.keep_alive())) == "/staff/login?ended=idle"
    assert_no_maria(root)


# ---- tabs left open: the sweep -------------------------------------------------------------------

class _Manager:
    """The in-memory state manager's shape: tabs by token, and their lock."""

    def __init__(self, tabs: dict):
        self.states = tabs


class _App:
    def __init__(self, tabs: dict):
        self.state_manager = _Manager(tabs)
        self.modified: list[str] = []

    @contextlib.asynccontextmanager
    async def modify_state(self, token):
        self.modified.append(token.ident)
        yield self.state_manager.states[token.ident]


async def test_the_sweep_forgets_open_tabs_whose_session_ended_and_touches_none(session, admin, frozen_clock):
    patient_root, portal_sid = await signed_in_patient_tab(session)
    maria = session.exec(select(Patient).where(Patient.last_name == "Lopez")).one()
    staff_root, staff_sid = await staff_tab_on_chart(session, admin, maria)
    app = _App({"patient-tab": patient_root, "staff-tab": staff_root})

    # Both live: nothing changes, and the sweep itself keeps nobody's session alive.
    frozen_clock(clock.now() + timedelta(minutes=10))
    assert await phi.sweep_tabs(app) == 0 and app.modified == []
    digests = [tokens.digest(portal_sid), tokens.digest(staff_sid)]
    assert sessions.live_digests(session=session, digests=digests) == set(digests)
    frozen_clock(clock.now() + timedelta(minutes=6))  # 16 minutes since the last event
    assert sessions.live_digests(session=session, digests=digests) == set()

    assert await phi.sweep_tabs(app) == 2
    assert_no_maria(patient_root)
    assert_no_maria(staff_root)
    assert (await patient_root.get_state(SessionState))._portal_held == ""


class _RedisApp(_App):
    """The redis state manager's shape: each tab's states under "{token}_{state name}" keys."""

    def __init__(self, tabs: dict, redis):
        super().__init__({})
        self.state_manager.states = None  # (no in-memory tabs)
        self.state_manager.redis = redis
        self.tabs = tabs

    @contextlib.asynccontextmanager
    async def modify_state(self, token):
        self.modified.append(token.ident)
        root = self.tabs[token.ident]
        yield root
        cookies = await root.get_state(SessionState)
        await self.state_manager.redis.set(f"{token.ident}_{SessionState.get_full_name()}", cookies._serialize())


@pytest.mark.skipif(redis_server.installed() is None, reason=redis_server.NOT_INSTALLED)
async def test_the_sweep_finds_the_tabs_kept_in_redis_and_a_second_sweep_does_nothing(session, admin):
    from redis.asyncio import Redis

    patient_root, portal_sid = await signed_in_patient_tab(session)
    maria = session.exec(select(Patient).where(Patient.last_name == "Lopez")).one()
    other_root, _ = await staff_tab_on_chart(session, admin, maria)
    with redis_server.throwaway() as url:
        redis = Redis.from_url(url)
        app = _RedisApp({"ended-tab": patient_root, "live-tab": other_root}, redis)
        for ident, root in app.tabs.items():
            cookies = await root.get_state(SessionState)
            await redis.set(f"{ident}_{SessionState.get_full_name()}", cookies._serialize())
        ended = session.exec(select(AuthSession).where(AuthSession.token_hash == tokens.digest(portal_sid))).one()
        sessions.end_all(session=session, portal_account_id=ended.portal_account_id)
        session.commit()
        assert await phi.sweep_tabs(app) == 1 and app.modified == ["ended-tab"]
        assert_no_maria(patient_root)
        assert await phi.sweep_tabs(app) == 0  # another worker's sweep after it: nothing left to do
        await redis.aclose()


async def test_the_sweep_forgets_a_tab_whose_access_was_disabled(session):
    root, sid = await signed_in_patient_tab(session)
    account_id = session.exec(select(AuthSession).where(AuthSession.token_hash == tokens.digest(sid))).one()
    sessions.end_all(session=session, portal_account_id=account_id.portal_account_id)  # what disabling does
    session.commit()
    assert await phi.sweep_tabs(_App({"tab": root})) == 1
    assert_no_maria(root)
    # The sign-in page the tab's next click lands on still says why.
    login = await root.get_state(LoginState)
    await run(login.load())
    assert login.notice != ""


@pytest.mark.parametrize(("value", "seconds"), [("", 60.0), ("2", 2.0), ("0", 1.0), ("soon", 60.0)])
def test_the_sweep_interval_comes_from_the_environment(monkeypatch, value, seconds):
    monkeypatch.setenv("PORTAL_TAB_SWEEP_SECONDS", value)
    assert phi.sweep_interval() == seconds
