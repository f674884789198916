"""Create an account with a connection key (state handlers, no browser), and connect another chart.

Builds the state tree like tests/unit/test_state_patient.py and checks that no key, link
token or password is ever in a public var.
"""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import parse_qs, urlsplit

from sqlmodel import func, select

from portal_app import routes
from portal_app.models import OutboxMessage, PortalAccount, PortalConnection
from portal_app.services import audit, keys, portal_auth
from portal_app.state.base import drain_detached
from portal_app.state.patient_home import ConnectChartState, HomeState
from portal_app.state.setup import SetupState, SetupView
from portal_app.state.setup_create_account import CreateAccountState, CreateAccountStep
from tests.unit.conftest import make_patient
from tests.unit.state_support import tab_signs_in
from tests.unit.test_state_patient import public_text, redirect_path, run, state_at, switch_portal

PASSWORD = "violet harbor engine quietly 7"


def make_key(session, patient, address="maria.lopez@example.com") -> str:
    return keys.generate_key(session=session, patient_id=patient.id, channel="email",
                             address=address, requested_by="Maria",
                             actor=audit.Actor.system("test")).key


def last_message(session) -> OutboxMessage:
    session.expire_all()
    return session.exec(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()


def outbox_count(session) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(OutboxMessage)).one()


async def open_setup(path: str):
    """A fresh tab on `path` with both on_load handlers run; returns (root, setup, create)."""
    root, setup = await state_at(path, SetupState)
    create = await root.get_state(CreateAccountState)
    await run(setup.load())
    await run(create.load())
    return root, setup, create


async def request_link(session, user_id: str) -> str:
    """Do "Create Account" and return the verification token from the outbox."""
    _, _, create = await open_setup(routes.setup_path(routes.SetupStep.CREATE_ACCOUNT))
    await run(create.create_account({"user_id": user_id}))
    await drain_detached()
    link = re.search(r"https?://\S+/setup\?\S+", last_message(session).body_text).group(0)
    return parse_qs(urlsplit(link).query)["token"][0]


def assert_no_secrets(root, *secrets: str) -> None:
    text = public_text(root)
    for secret in secrets:
        if secret:
            assert secret not in text
            assert keys.normalize_key(secret) == "" or keys.normalize_key(secret) not in text


async def test_create_account_answers_the_same_whether_or_not_the_user_id_is_taken(session):
    session.add(PortalAccount(user_id="taken@example.com"))
    session.commit()
    answers = []
    for user_id in ("taken@example.com", "free@example.com"):
        root, setup, create = await open_setup(routes.setup_path(routes.SetupStep.CREATE_ACCOUNT))
        assert (setup.step, create.stage) == (SetupView.CREATE_ACCOUNT, CreateAccountStep.ENTER_ID)
        await run(create.create_account({"user_id": user_id.upper()}))
        await drain_detached()
        answers.append((create.stage, create.sent_to.replace(user_id, "X"), create.user_id_error))
        assert last_message(session).to_address == user_id
    assert answers[0] == answers[1] == (CreateAccountStep.SENT, "X", "")


async def test_bad_user_id_is_named_beside_the_field_and_nothing_sent(session):
    _, _, create = await open_setup(routes.setup_path(routes.SetupStep.CREATE_ACCOUNT))
    await run(create.create_account({"user_id": "not an id"}))
    assert create.stage == CreateAccountStep.ENTER_ID and create.user_id_error
    await drain_detached()
    assert outbox_count(session) == 0


async def test_whole_flow_signs_in_and_never_exposes_a_secret(session):
    patient = make_patient(session, enabled=True)
    key = make_key(session, patient)
    token = await request_link(session, "new.user@example.com")

    root, setup, create = await open_setup(routes.setup_path(routes.SetupStep.VERIFY, token=token))
    assert create.stage == CreateAccountStep.HAS_KEY and create.sent_to == "new.user@example.com"
    await run(create.answer_has_key("no"))
    assert create.stage == CreateAccountStep.NO_KEY
    await run(create.answer_has_key("yes"))
    assert create.stage == CreateAccountStep.KEY
    await run(create.submit_key({"key": "ABCD-EFGH-JKMN"}))
    assert create.key_error == keys.KEY_INVALID and create.stage == CreateAccountStep.KEY
    await run(create.submit_key({"key": key.lower()}))
    assert create.stage == CreateAccountStep.DETAILS and create.key_error == ""
    assert_no_secrets(root, key, token)
    await run(create.submit_details({"last_name": "Smith", "dob": "1980-04-02", "whose": "self"}))
    assert create.details_error == ("Those details do not match our records. 4 tries left before this key "
                                    "stops working.")
    assert create.stage == CreateAccountStep.DETAILS
    await run(create.submit_details({"last_name": "lopez", "dob": "1980-04-02", "whose": "self"}))
    assert create.stage == CreateAccountStep.PASSWORD
    await run(create.finish({"password": PASSWORD, "confirm": "something else entirely 9"}))
    assert create.confirm_error and create.stage == CreateAccountStep.PASSWORD
    event = await tab_signs_in(session, create, create.finish({"password": PASSWORD, "confirm": PASSWORD}))
    assert redirect_path(event) == routes.PORTAL_HOME
    assert create.portal_sid
    session.expire_all()
    principal = portal_auth.principal_for(session=session, session_id=create.portal_sid)
    assert principal.user_id == "new.user@example.com"
    assert [c.patient_id for c in principal.charts] == [patient.id]
    assert_no_secrets(root, key, token, PASSWORD)
    text = public_text(root)
    assert "1980-04-02" not in text  # the typed details stay on the server
    for backend in (create._token, create._key, create._last_name, create._dob):
        assert backend == ""


async def test_dead_link_offers_a_fresh_one_with_the_same_answer(session):
    token = await request_link(session, "new.user@example.com")
    sent = outbox_count(session)
    _, _, bogus = await open_setup(routes.setup_path(routes.SetupStep.VERIFY, token="x" * 32))
    assert bogus.stage == CreateAccountStep.DEAD
    await run(bogus.send_fresh_verification())
    await drain_detached()
    assert bogus.fresh_sent and outbox_count(session) == sent

    # Five wrong keys void the link; the page then offers a fresh one to the same user ID.
    _, _, create = await open_setup(routes.setup_path(routes.SetupStep.VERIFY, token=token))
    await run(create.answer_has_key("yes"))
    for _ in range(5):
        await run(create.submit_key({"key": "ABCD-EFGH-JKMN"}))
    assert create.stage == CreateAccountStep.DEAD
    await run(create.send_fresh_verification())
    await drain_detached()
    assert create.fresh_sent
    assert outbox_count(session) == sent + 1
    assert last_message(session).to_address == "new.user@example.com"


async def test_handlers_refuse_steps_out_of_order(session):
    patient = make_patient(session, enabled=True)
    key = make_key(session, patient)
    # No verification link at all: a client calling the key handler directly gets nowhere.
    _, _, create = await open_setup(routes.setup_path(routes.SetupStep.CREATE_ACCOUNT))
    await run(create.answer_has_key("yes"))
    assert create.stage == CreateAccountStep.ENTER_ID
    await run(create.submit_key({"key": key}))
    assert create.stage == CreateAccountStep.DEAD
    assert await run(create.finish({"password": PASSWORD, "confirm": PASSWORD})) is None
    assert create.portal_sid == ""
    assert session.exec(select(func.count()).select_from(PortalAccount)).one() == 0


async def test_portal_off_shows_unavailable(session):
    token = await request_link(session, "new.user@example.com")
    switch_portal(session, False)
    _, setup, create = await open_setup(routes.setup_path(routes.SetupStep.VERIFY, token=token))
    assert setup.portal_off and create.stage == CreateAccountStep.NONE


async def test_connect_another_chart_from_the_portal(session):
    first = make_patient(session, enabled=True)
    key = make_key(session, first)
    token = await request_link(session, "new.user@example.com")
    root, _, create = await open_setup(routes.setup_path(routes.SetupStep.VERIFY, token=token))
    await run(create.answer_has_key("yes"))
    await run(create.submit_key({"key": key}))
    await run(create.submit_details({"last_name": "Lopez", "dob": "1980-04-02", "whose": "self"}))
    await tab_signs_in(session, create, create.finish({"password": PASSWORD, "confirm": PASSWORD}))

    second = make_patient(session, first="Maria", last="Lopez", email="other@example.com",
                          dob=date(1980, 4, 2), enabled=True, chart="C2")
    second_key = make_key(session, second, address="other@example.com")
    connect = await root.get_state(ConnectChartState)
    await run(connect.load())
    assert connect.ready
    await run(connect.connect_chart({"key": second_key, "last_name": "Nope", "dob": "1980-04-02", "whose": "self"}))
    assert connect.details_error.startswith(keys.DETAILS_MISMATCH) and "4 tries left" in connect.details_error
    event = await run(connect.connect_chart({"key": second_key, "last_name": "Lopez",
                                             "dob": "1980-04-02", "whose": "self"}))
    assert redirect_path(event) == routes.PORTAL_HOME
    assert_no_secrets(root, second_key, PASSWORD)
    home = await root.get_state(HomeState)
    await run(home.load())
    assert len(home.chart_choices) == 2 and "now connected" in home.notice
    session.expire_all()
    assert session.exec(select(func.count()).select_from(PortalConnection)).one() == 2

    # Signed out, the handler refuses.
    _, anonymous = await state_at(routes.PORTAL_CONNECT, ConnectChartState)
    assert redirect_path(await run(anonymous.connect_chart(
        {"key": second_key, "last_name": "Lopez", "dob": "1980-04-02", "whose": "self"}))) == routes.LOGIN
