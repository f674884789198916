"""Patient-side state handlers, called directly under pytest (no browser, no server).

The state tree is built the way Reflex builds it (`rx.State()` then `get_state`); the page's
URL is set on the root's router var, and handlers run their services against the per-test
database from tests/unit/conftest.py.
"""

from __future__ import annotations

import inspect
import json
import re
import threading
from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

import reflex as rx
from reflex.istate.data import ReflexURL, URLData
from sqlmodel import func, select

from portal_app import routes
from portal_app.models import (
    AccessType,
    AccountStatus,
    OutboxMessage,
    PortalAccount,
    PortalConnection,
    PracticeSettings,
)
from portal_app.services import audit, invitations, manual_credentials, portal_auth
from portal_app.state.base import drain_detached
from portal_app.state.patient_home import PASSWORD_CHANGED, HomeState, PasswordState
from portal_app.state.patient_login import ForgotState, LoginState
from portal_app.state.setup import FRESH_LINK_SENT, SetupState, SetupView
from tests.unit.conftest import START, make_patient
from tests.unit.state_support import grant_in, page_after, tab_signs_in

PASSWORD = "violet harbor engine quietly 7"
NEW_PASSWORD = "copper meadow lantern drifts 9"


# --- helpers -------------------------------------------------------------------------------

async def state_at(url_path: str, cls):
    """A fresh client's state tree on `url_path`, and its `cls` substate."""
    root = rx.State(_reflex_internal_init=True)
    root.rx_router_url = URLData.from_url(ReflexURL(f"http://localhost:3000{url_path}"))
    return root, await root.get_state(cls)


async def run(result):
    """Run what a handler returned (coroutine or async generator); the last event it gave."""
    last = None
    if inspect.isasyncgen(result):
        async for event in result:
            last = event if event is not None else last
    elif inspect.isawaitable(result):
        last = await result
    return last


def redirect_path(event) -> str | None:
    """The path of an `rx.redirect(...)` event, or None when the handler did not redirect."""
    if event is None:
        return None
    if page_after(event):  # a sign-in or sign-out: the page loads this address once its cookie is set
        return page_after(event)
    assert event.handler.fn.__qualname__ == "_redirect", event
    args = {name._js_expr: value._var_value for name, value in event.args}
    return args["path"]


def public_text(root) -> str:
    """Every public var of the tree, as the browser could receive it (full state and delta).

    Reflex's own router vars are left out: they hold the page URL, which the browser already
    has (a link's token is in it by nature).
    """
    def strip(tree: dict) -> dict:
        return {state: {name: value for name, value in values.items()
                        if not name.startswith(("rx_router", "router_data"))}
                for state, values in tree.items()}

    return json.dumps([strip(root.dict()), strip(root.get_delta())], default=str)


def make_account(session, *, email="maria.lopez@example.com", first="Maria", last="Lopez",
                 force_change=False):
    patient = make_patient(session, first=first, last=last, email=email, enabled=True)
    account = manual_credentials.set_manually(session=session, patient_id=patient.id, username=email,
                                    password=PASSWORD, force_change=force_change,
                                    actor=audit.Actor.system("test"))
    return patient, account


def send_link(session, patient) -> str:
    """Send an invitation or reset the real way; return the token from the outbox email."""
    invitations.send_invitation_or_reset(session=session, patient_id=patient.id,
                                         actor=audit.Actor.system("test"))
    message = session.exec(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
    link = re.search(r"https?://\S+/setup\?\S+", message.body_text).group(0)
    return parse_qs(urlsplit(link).query)["token"][0]


def outbox_count(session) -> int:
    return session.exec(select(func.count()).select_from(OutboxMessage)).one()


def switch_portal(session, active: bool) -> None:
    config = session.get(PracticeSettings, 1) or PracticeSettings(id=1)
    config.portal_active = active
    session.add(config)
    session.commit()


def principal(session, sid):
    session.expire_all()
    return portal_auth.principal_for(session=session, session_id=sid)


# --- sign-in -------------------------------------------------------------------------------

async def sign_in_answer(user_id: str, password: str):
    root, login = await state_at(routes.LOGIN, LoginState)
    await run(login.load())
    event = await run(login.sign_in({"user_id": user_id, "password": password}))
    return (redirect_path(event), login.form_error, login.user_id_error, login.password_error,
            grant_in(event))


async def test_sign_in_gives_one_answer_for_unknown_wrong_and_disabled(session):
    make_account(session)
    _, disabled = make_account(session, email="ben.ode@example.com", first="Ben", last="Ode")
    disabled.status = AccountStatus.DISABLED
    session.add(disabled)
    session.commit()

    unknown = await sign_in_answer("nobody@example.com", PASSWORD)
    wrong = await sign_in_answer("maria.lopez@example.com", "not the password at all")
    off = await sign_in_answer("ben.ode@example.com", PASSWORD)

    failed = portal_auth.sign_in_failed_message(temporary_days=3, phone="(555) 010-0100")
    assert unknown == wrong == off == (None, failed, "", "", "")


async def test_sign_in_sets_a_session_cookie_that_resolves(session):
    _, account = make_account(session)
    root, login = await state_at(routes.LOGIN, LoginState)
    await run(login.load())

    event = await tab_signs_in(session, login, login.sign_in(
        {"user_id": " Maria.Lopez@Example.com ", "password": PASSWORD}))

    assert redirect_path(event) == routes.PORTAL_HOME
    assert login.form_error == ""
    signed_in = principal(session, login.portal_sid)
    assert signed_in is not None and signed_in.account_id == account.id
    assert PASSWORD not in public_text(root)


async def test_sign_in_with_a_password_to_change_goes_to_the_password_page(session):
    make_account(session, force_change=True)
    assert (await sign_in_answer("maria.lopez@example.com", PASSWORD))[0] == routes.PORTAL_PASSWORD


async def test_sign_in_empty_fields_are_named_and_huge_input_gets_the_same_answer(session):
    make_account(session)
    assert (await sign_in_answer("", ""))[1:4] == (
        "", "Enter your email address or phone number.", "Enter your password.")
    huge = await sign_in_answer("x" * 1_000_000 + "@example.com", "p\x00" * 500_000)
    assert huge == (None, portal_auth.sign_in_failed_message(temporary_days=3, phone="(555) 010-0100"), "", "", "")


async def test_login_page_of_a_signed_in_patient_goes_to_the_portal(session):
    make_account(session)
    root, login = await state_at(routes.LOGIN, LoginState)
    await tab_signs_in(session, login, login.sign_in(
        {"user_id": "maria.lopez@example.com", "password": PASSWORD}))
    assert redirect_path(await run(login.load())) == routes.PORTAL_HOME


# --- forgot password / set up or reset -----------------------------------------------------

async def forgot(email: str, dob: str):
    root, state = await state_at(routes.FORGOT, ForgotState)
    await run(state.load())
    await run(state.request_link({"user_id": email, "dob": dob}))
    await drain_detached()
    return root, state


async def test_forgot_answers_the_same_for_known_and_unknown_email(session):
    make_patient(session, enabled=True)  # no account yet: an invitation goes out
    before = outbox_count(session)

    _, known = await forgot("maria.lopez@example.com", "1980-04-02")
    assert outbox_count(session) == before + 1
    _, unknown = await forgot("someone.else@example.com", "1980-04-02")
    _, wrong_dob = await forgot("maria.lopez@example.com", "1981-04-02")
    assert outbox_count(session) == before + 1

    def answer(state):
        return (state.sent, state.user_id_error, state.dob_error, state.portal_off)

    assert answer(known) == answer(unknown) == answer(wrong_dob) == (True, "", "", False)


async def test_forgot_names_the_bad_field_and_sends_nothing(session):
    make_patient(session, enabled=True)
    _, state = await forgot("not an email", "")
    assert state.sent is False
    assert state.user_id_error != "" and state.dob_error == "Enter a date of birth."
    assert outbox_count(session) == 0


# --- invitation and reset links ------------------------------------------------------------

async def test_invitation_creates_the_account_and_signs_in_without_exposing_secrets(session):
    patient = make_patient(session, enabled=True)
    token = send_link(session, patient)
    root, setup = await state_at(routes.setup_path(routes.SetupStep.INVITE, token=token), SetupState)

    await run(setup.load())
    assert (setup.step, setup.suggested_user_id) == (SetupView.INVITE, "maria.lopez@example.com")
    event = await tab_signs_in(session, setup, setup.create_account(
        {"user_id": "maria.lopez@example.com", "password": PASSWORD, "confirm": PASSWORD}))

    assert redirect_path(event) == routes.PORTAL_HOME
    signed_in = principal(session, setup.portal_sid)
    assert signed_in.user_id == "maria.lopez@example.com"
    assert [c.patient_id for c in signed_in.charts] == [patient.id]
    exposed = public_text(root)
    assert PASSWORD not in exposed and token not in exposed
    # The link works once.
    _, again = await state_at(routes.setup_path(routes.SetupStep.INVITE, token=token), SetupState)
    await run(again.load())
    assert again.step == SetupView.INVALID


async def test_password_rules_show_beside_the_right_field(session):
    patient = make_patient(session, enabled=True)
    token = send_link(session, patient)
    root, setup = await state_at(routes.setup_path(routes.SetupStep.INVITE, token=token), SetupState)
    await run(setup.load())

    assert await run(setup.create_account(
        {"user_id": "maria.lopez@example.com", "password": "short", "confirm": "short"})) is None
    assert setup.password_error == "Use at least 10 characters." and setup.confirm_error == ""

    assert await run(setup.create_account(
        {"user_id": "maria.lopez@example.com", "password": PASSWORD, "confirm": PASSWORD + "x"})) is None
    assert (setup.password_error, setup.confirm_error) == ("", "The two passwords do not match.")

    assert await run(setup.create_account(
        {"user_id": "not-a-user-id", "password": PASSWORD, "confirm": PASSWORD})) is None
    assert setup.user_id_error != "" and setup.step == SetupView.INVITE
    assert setup.portal_sid == ""
    exposed = public_text(root)
    assert PASSWORD not in exposed and token not in exposed


async def test_reset_link_sets_the_password_and_ends_other_sessions(session):
    patient, account = make_account(session)
    _, other = await state_at(routes.LOGIN, LoginState)
    await tab_signs_in(session, other, other.sign_in(
        {"user_id": "maria.lopez@example.com", "password": PASSWORD}))
    assert principal(session, other.portal_sid) is not None
    token = send_link(session, patient)
    root, setup = await state_at(routes.setup_path(routes.SetupStep.RESET, token=token), SetupState)

    await run(setup.load())
    assert setup.step == SetupView.RESET
    event = await tab_signs_in(session, setup, setup.save_password({"password": NEW_PASSWORD,
                                                                     "confirm": NEW_PASSWORD}))

    assert redirect_path(event) == routes.PORTAL_HOME
    assert principal(session, setup.portal_sid).account_id == account.id
    assert principal(session, other.portal_sid) is None
    exposed = public_text(root)
    assert NEW_PASSWORD not in exposed and token not in exposed


async def test_expired_link_offers_a_fresh_one_with_the_same_answer_as_a_bogus_one(
        session, frozen_clock):
    patient = make_patient(session, enabled=True)
    token = send_link(session, patient)
    frozen_clock(START + timedelta(hours=73))
    sent_before = outbox_count(session)

    _, expired = await state_at(routes.setup_path(routes.SetupStep.INVITE, token=token), SetupState)
    await run(expired.load())
    assert (expired.step, expired.ready, expired.practice_phone) == (
        SetupView.INVALID, True, "(555) 010-0100")
    await run(expired.send_new_link())
    assert outbox_count(session) == sent_before + 1  # a fresh invitation to the email on file

    _, bogus = await state_at(routes.setup_path(routes.SetupStep.INVITE, token="x" * 32), SetupState)
    await run(bogus.load())
    await run(bogus.send_new_link())
    assert outbox_count(session) == sent_before + 1

    def answer(state):
        return (state.step, state.fresh_link_sent, state.form_error, state.first_name)

    assert answer(expired) == answer(bogus) == (SetupView.INVALID, True, "", "")
    assert FRESH_LINK_SENT.startswith("If we can")


async def test_link_used_in_the_wrong_step_and_create_account_step(session):
    patient = make_patient(session, enabled=True)
    token = send_link(session, patient)  # an invitation
    _, as_reset = await state_at(routes.setup_path(routes.SetupStep.RESET, token=token), SetupState)
    await run(as_reset.load())
    assert as_reset.step == SetupView.INVALID
    assert await run(as_reset.save_password({"password": PASSWORD, "confirm": PASSWORD})) is None
    assert as_reset.portal_sid == ""

    _, create = await state_at(routes.setup_path(routes.SetupStep.CREATE_ACCOUNT), SetupState)
    await run(create.load())
    assert create.step == SetupView.CREATE_ACCOUNT


# --- portal switched off -------------------------------------------------------------------

async def test_portal_off_shows_unavailable_and_accepts_nothing(session):
    patient, _ = make_account(session)
    invitee = make_patient(session, first="Ann", last="Bell", email="ann.bell@example.com",
                           enabled=True)
    token = send_link(session, invitee)
    switch_portal(session, False)
    sent_before = outbox_count(session)

    _, login = await state_at(routes.LOGIN, LoginState)
    await run(login.load())
    assert (login.ready, login.portal_off) == (True, True)
    assert await run(login.sign_in({"user_id": "maria.lopez@example.com", "password": PASSWORD})) is None
    assert login.portal_sid == "" and login.portal_off

    _, forgot_state = await forgot("maria.lopez@example.com", "1980-04-02")
    assert forgot_state.portal_off and not forgot_state.sent

    _, setup = await state_at(routes.setup_path(routes.SetupStep.INVITE, token=token), SetupState)
    await run(setup.load())
    assert setup.portal_off and setup.step == SetupView.CHECKING
    await run(setup.create_account(
        {"user_id": "ann.bell@example.com", "password": PASSWORD, "confirm": PASSWORD}))
    assert setup.portal_sid == ""
    assert outbox_count(session) == sent_before
    assert session.exec(select(PortalAccount).where(
        PortalAccount.user_id == "ann.bell@example.com")).first() is None

    # Switched back on, the same link still works.
    switch_portal(session, True)
    _, setup = await state_at(routes.setup_path(routes.SetupStep.INVITE, token=token), SetupState)
    await run(setup.load())
    assert (setup.portal_off, setup.step) == (False, SetupView.INVITE)


async def test_portal_off_ends_access_to_the_portal_home(session):
    make_account(session)
    root, login = await state_at(routes.LOGIN, LoginState)
    await tab_signs_in(session, login, login.sign_in(
        {"user_id": "maria.lopez@example.com", "password": PASSWORD}))
    switch_portal(session, False)
    home = await root.get_state(HomeState)
    assert redirect_path(await run(home.load())) == routes.LOGIN
    assert home.chart_name == ""


# --- portal home and change password -------------------------------------------------------

async def test_home_requires_a_session_and_shows_the_chart(session):
    patient, _ = make_account(session)
    _, anonymous = await state_at(routes.PORTAL_HOME, HomeState)
    assert redirect_path(await run(anonymous.load())) == routes.LOGIN
    assert redirect_path(await run(anonymous.switch_chart(str(patient.id)))) == routes.LOGIN
    assert anonymous.chart_name == ""

    root, login = await state_at(routes.LOGIN, LoginState)
    await tab_signs_in(session, login, login.sign_in(
        {"user_id": "maria.lopez@example.com", "password": PASSWORD}))
    home = await root.get_state(HomeState)
    assert await run(home.load()) is None
    assert (home.chart_name, home.chart_dob, home.email) == (
        "Maria Lopez", "04/02/1980", "maria.lopez@example.com")
    assert login.account_user_id == "maria.lopez@example.com"

    # Another chart's id from the client changes nothing.
    other = make_patient(session, first="Zed", last="Quill", email="zed@example.com", enabled=True)
    await run(home.switch_chart(str(other.id)))
    await run(home.load())
    assert (home.chart_name, home.viewing_name) == ("Maria Lopez", "Maria Lopez")

    # After sign-out the login page forgets what the home page showed.
    await run(login.portal_sign_out())
    await run(login.load())
    assert (home.chart_name, home.email, home.chart_choices) == ("", "", [])


async def test_must_change_password_is_sent_to_the_password_page(session):
    make_account(session, force_change=True)
    root, login = await state_at(routes.LOGIN, LoginState)
    await tab_signs_in(session, login, login.sign_in(
        {"user_id": "maria.lopez@example.com", "password": PASSWORD}))
    home = await root.get_state(HomeState)
    assert redirect_path(await run(home.load())) == routes.PORTAL_PASSWORD
    assert home.chart_name == ""
    page = await root.get_state(PasswordState)
    assert await run(page.load()) is None
    assert page.must_change and page.ready


async def test_change_password_checks_current_and_ends_other_sessions(session):
    _, account = make_account(session)
    _, other = await state_at(routes.LOGIN, LoginState)
    await tab_signs_in(session, other, other.sign_in(
        {"user_id": "maria.lopez@example.com", "password": PASSWORD}))
    root, login = await state_at(routes.LOGIN, LoginState)
    await tab_signs_in(session, login, login.sign_in(
        {"user_id": "maria.lopez@example.com", "password": PASSWORD}))
    page = await root.get_state(PasswordState)
    await run(page.load())

    wrong = await run(page.change_password(
        {"current": "not it", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}))
    assert wrong is None and page.current_error == "Your current password is not right."
    await run(page.change_password(
        {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": "different"}))
    assert (page.current_error, page.confirm_error) == ("", "The two passwords do not match.")

    event = await run(page.change_password(
        {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}))
    assert redirect_path(event) == routes.PORTAL_HOME
    assert principal(session, login.portal_sid).account_id == account.id
    assert principal(session, other.portal_sid) is None
    home = await root.get_state(HomeState)
    await run(home.load())
    assert home.notice == PASSWORD_CHANGED
    await run(home.load())
    assert home.notice == ""
    exposed = public_text(root)
    assert PASSWORD not in exposed and NEW_PASSWORD not in exposed


async def test_representative_picks_among_the_charts_of_the_account_only(session):
    _, account = make_account(session)
    child = make_patient(session, first="Lucia", last="Lopez", email="", enabled=True,
                         dob=date(2015, 6, 1))
    session.add(PortalConnection(account_id=account.id, patient_id=child.id,
                                 access_type=AccessType.REPRESENTATIVE, relationship="parent"))
    session.commit()
    root, login = await state_at(routes.LOGIN, LoginState)
    await tab_signs_in(session, login, login.sign_in(
        {"user_id": "maria.lopez@example.com", "password": PASSWORD}))
    home = await root.get_state(HomeState)
    await run(home.load())
    assert [c["label"] for c in home.chart_choices] == ["Maria Lopez", "Lucia Lopez"]

    assert redirect_path(await run(home.switch_chart(str(child.id)))) == routes.PORTAL_HOME
    await run(home.load())
    assert (home.chart_name, home.chart_dob, home.is_representative, home.email) == (
        "Lucia Lopez", "06/01/2015", True, "")
    assert home.viewing_name == "Lucia Lopez"
    await run(home.load())  # coming back keeps the chart being viewed
    assert home.viewing_id == str(child.id)

    child.portal_enabled = False  # access to the child's chart switched off by the practice
    session.add(child)
    session.commit()
    await run(home.switch_chart(str(child.id)))
    await run(home.load())
    assert home.chart_name == "Maria Lopez"


async def test_forgot_answers_before_anything_is_sent(session, monkeypatch):
    """The answer must not wait for the lookup and the send (timing would reveal a match)."""
    release, calls = threading.Event(), []
    real = invitations.request_link

    def held_back(**kwargs):
        release.wait(10)
        calls.append(kwargs["user_id"])
        return real(**kwargs)

    monkeypatch.setattr(invitations, "request_link", held_back)
    make_patient(session, enabled=True)
    before = outbox_count(session)
    _, state = await state_at(routes.FORGOT, ForgotState)
    await run(state.load())
    await run(state.request_link({"user_id": "maria.lopez@example.com", "dob": "1980-04-02"}))
    assert state.sent and calls == []  # answered while the send is still held back
    release.set()
    await drain_detached()
    assert calls == ["maria.lopez@example.com"]
    assert outbox_count(session) == before + 1
