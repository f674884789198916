"""Issue 15 sign-in items: forgot password with a mobile number, the one failure message, the forced
password change, and the sentences a patient reads after a refusal or an ended session."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from portal_app import routes
from portal_app.models import AccountStatus, AuditEvent, OutboxMessage, PracticeSettings
from portal_app.services import accounts, audit, invitations, manual_credentials, portal_auth
from portal_app.services.areas import Area
from portal_app.state.base import drain_detached
from portal_app.state.patient_home import HomeState, PasswordState
from portal_app.state.patient_login import FORGOT_CONFIRMATION, ForgotState, LoginState
from portal_app.state.setup import SetupState, SetupView
from tests.unit.conftest import START, make_patient
from tests.unit.state_support import tab_signs_in
from tests.unit.test_state_patient import (
    NEW_PASSWORD,
    PASSWORD,
    make_account,
    redirect_path,
    run,
    send_link,
    state_at,
)

PHONE = "+12015550123"


def _phone_account(session, *, allow_sms=True, mobile=PHONE):
    patient = make_patient(session, enabled=True, mobile_phone=mobile, allow_sms=allow_sms)
    account = manual_credentials.set_manually(session=session, patient_id=patient.id, username=PHONE,
                                              password=PASSWORD, force_change=False,
                                              actor=audit.Actor.system("test"))
    return patient, account


def _sent(session):
    return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


def _requests(session):
    return [e.detail for e in session.exec(select(AuditEvent).where(
        AuditEvent.action == "portal.self_service_request"))]


# --- forgot password with a mobile number ---------------------------------------------------

def test_forgot_with_a_phone_user_id_texts_a_reset_link_to_it(session):
    patient, account = _phone_account(session)
    invitations.request_link(session=session, user_id="(201) 555-0123", dob="04/02/1980")
    [message] = _sent(session)
    assert (message.channel, message.to_address, message.kind) == ("sms", PHONE, "reset")
    assert "/setup?p=reset&token=" in message.body_text
    assert patient.email not in [m.to_address for m in _sent(session)]
    # A second request at once is throttled (the link just sent stays the live one).
    invitations.request_link(session=session, user_id=PHONE, dob="1980-04-02")
    assert len(_sent(session)) == 1
    assert _requests(session)[-1] == "account matched=1; link just sent"


def test_forgot_with_a_phone_sends_nothing_without_a_match_or_consent(session):
    _phone_account(session, allow_sms=False)
    invitations.request_link(session=session, user_id=PHONE, dob="04/02/1980")  # the chart said no texts
    invitations.request_link(session=session, user_id=PHONE, dob="04/03/1980")  # wrong date of birth
    invitations.request_link(session=session, user_id="+12015550199", dob="04/02/1980")  # no account
    assert _sent(session) == []
    assert _requests(session) == ["account matched=1; no consent to sms", "account matched=0",
                                  "account matched=0"]


def test_forgot_texts_a_phone_that_is_not_the_charts_own_mobile(session):
    # Consent governs the chart's own mobile only; this number is the account holder's own.
    _phone_account(session, allow_sms=False, mobile="+12025550143")
    invitations.request_link(session=session, user_id=PHONE, dob="04/02/1980")
    assert [m.to_address for m in _sent(session)] == [PHONE]


def test_forgot_skips_a_disabled_phone_account(session):
    _patient, account = _phone_account(session)
    account.status = AccountStatus.DISABLED
    session.add(account)
    session.commit()
    invitations.request_link(session=session, user_id=PHONE, dob="04/02/1980")
    assert _sent(session) == []


def test_dead_phone_reset_link_sends_a_fresh_text_not_an_email(session, frozen_clock):
    patient, _account = _phone_account(session)
    invitations.request_link(session=session, user_id=PHONE, dob="04/02/1980")
    token = _sent(session)[0].body_text.split("token=")[1].split()[0]
    frozen_clock(START + timedelta(days=1))  # the reset link has expired
    invitations.request_fresh_link(session=session, token=token)
    messages = _sent(session)
    assert len(messages) == 2 and messages[-1].channel == "sms" and messages[-1].to_address == PHONE
    assert all(m.to_address != patient.email for m in messages)


async def test_forgot_form_takes_a_phone_and_answers_the_same(session):
    _phone_account(session)
    _, state = await state_at(routes.FORGOT, ForgotState)
    await run(state.load())
    await run(state.request_link({"user_id": "201-555-0123", "dob": "1980-04-02"}))
    await drain_detached()
    assert (state.sent, state.user_id_error, state.dob_error) == (True, "", "")
    assert [m.channel for m in _sent(session)] == ["sms"]
    assert "mobile number" in FORGOT_CONFIRMATION

    _, bad = await state_at(routes.FORGOT, ForgotState)
    await run(bad.load())
    await run(bad.request_link({"user_id": "no at sign", "dob": "1980-04-02"}))
    assert bad.sent is False and bad.user_id_error == "Enter an email address or a phone number."


# --- one sign-in failure message ------------------------------------------------------------

async def test_sign_in_failure_says_what_to_do_with_the_practices_numbers(session):
    config = session.get(PracticeSettings, 1) or PracticeSettings(id=1)
    config.connect_token_days = 5
    session.add(config)
    session.commit()
    make_account(session)
    _, login = await state_at(routes.LOGIN, LoginState)
    await run(login.load())
    await tab_signs_in(session, login, login.sign_in(
        {"user_id": "maria.lopez@example.com", "password": "wrong wrong wrong"}))
    assert login.form_error == (
        "That user ID and password do not match an account that can sign in. If you have tried several "
        "times, wait 15 minutes or use Forgot password. A temporary password from the practice works "
        "for 5 days; one that is a token you read to the practice stops working after 5 wrong tries. "
        "Then use Forgot password or call the practice at (555) 010-0100.")
    assert "works for 1 day;" in portal_auth.sign_in_failed_message(temporary_days=1)


# --- the forced password change -------------------------------------------------------------

async def test_forced_change_needs_no_current_password_but_a_different_one(session):
    _, account = make_account(session, force_change=True)
    root, login = await state_at(routes.LOGIN, LoginState)
    await tab_signs_in(session, login, login.sign_in(
        {"user_id": "maria.lopez@example.com", "password": PASSWORD}))
    page = await root.get_state(PasswordState)
    await run(page.load())
    assert page.must_change
    await run(page.change_password({"password": PASSWORD, "confirm": PASSWORD}))
    assert page.password_error == "Choose a password different from the temporary one."
    event = await run(page.change_password({"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}))
    assert redirect_path(event) == routes.PORTAL_HOME
    session.expire_all()
    assert not session.get(type(account), account.id).must_change_password


async def test_voluntary_change_still_checks_the_current_password(session):
    make_account(session)
    root, login = await state_at(routes.LOGIN, LoginState)
    await tab_signs_in(session, login, login.sign_in(
        {"user_id": "maria.lopez@example.com", "password": PASSWORD}))
    page = await root.get_state(PasswordState)
    await run(page.load())
    await run(page.change_password({"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}))
    assert page.current_error == "Your current password is not right."


async def test_a_first_time_representative_is_not_asked_for_a_new_password(session):
    patient = make_patient(session, enabled=True)
    account = accounts.create_account(session=session, user_id="rep@example.com", first_name="Rosa")
    accounts.connect_chart(session=session, account=account, patient=patient, requested_by="test",
                           access=accounts.AccessType.REPRESENTATIVE, relationship="Mother")
    sent = accounts.send_password_link(session=session, account=account, patient=patient, to="rep@example.com",
                                       actor=audit.Actor.system("test"), setup=True)
    session.commit()
    token = sent.message.body_text.split("token=")[1].split()[0]
    _, setup = await state_at(routes.setup_path(routes.SetupStep.RESET, token=token), SetupState)
    await run(setup.load())
    assert (setup.step, setup.first_password, setup.suggested_user_id) == (
        SetupView.RESET, True, "rep@example.com")

    _, reset = await state_at(routes.setup_path(routes.SetupStep.RESET, token=send_link(
        session, make_account(session, email="ann@example.com", first="Ann", last="Bee")[0])), SetupState)
    await run(reset.load())
    assert (reset.step, reset.first_password) == (SetupView.RESET, False)


# --- sentences after a refusal or an ended session -------------------------------------------

async def test_a_refused_area_page_leaves_a_sentence_on_home(session):
    patient, _account = make_account(session)
    connection = accounts.live_connections_of(session=session, account_id=_account.id)[0]
    connection.permissions = "messages"
    session.add(connection)
    session.commit()
    root, login = await state_at(routes.LOGIN, LoginState)
    await tab_signs_in(session, login, login.sign_in(
        {"user_id": "maria.lopez@example.com", "password": PASSWORD}))
    home = await root.get_state(HomeState)
    _target, redirect = await home._area_guard(Area.DOCUMENTS)
    assert redirect_path(redirect[0]) == routes.PORTAL_HOME
    await run(home.load())
    assert home.notice.startswith("The Documents area is not available for Maria Lopez")
    await run(home.load())
    assert home.notice == ""  # said once


async def test_a_disabled_patients_open_page_lands_on_sign_in_with_the_reason(session):
    _patient, account = make_account(session)
    root, login = await state_at(routes.LOGIN, LoginState)
    await tab_signs_in(session, login, login.sign_in(
        {"user_id": "maria.lopez@example.com", "password": PASSWORD}))
    home = await root.get_state(HomeState)
    await run(home.load())
    account.status = AccountStatus.DISABLED
    session.add(account)
    session.commit()
    assert redirect_path(await run(home.load())) == routes.LOGIN
    await run(login.load())
    assert login.notice.startswith("The practice has turned off your portal account")
    await run(login.load())
    assert login.notice == ""


async def test_sign_out_leaves_no_reason_and_a_revoked_session_says_signed_out(session):
    make_account(session)
    root, login = await state_at(routes.LOGIN, LoginState)
    await tab_signs_in(session, login, login.sign_in(
        {"user_id": "maria.lopez@example.com", "password": PASSWORD}))
    home = await root.get_state(HomeState)
    await run(home.load())
    await run(home.portal_sign_out())
    await run(login.load())
    assert login.notice == ""

    await tab_signs_in(session, login, login.sign_in(
        {"user_id": "maria.lopez@example.com", "password": PASSWORD}))
    await run(home.load())
    portal_auth.sign_out(session=session, session_id=login.portal_sid)  # e.g. another window
    await run(home.load())
    await run(login.load())
    assert login.notice == portal_auth.ENDED_OTHER
