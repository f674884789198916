"""Issue 11 items 2 and 7 through the handlers: a sign-in spray from one address waits, then is
refused before any hashing, while an honest sign-in from elsewhere goes straight through; a flood
leaves one audit summary; wrong current passwords count; Create Account and Forgot password send
once for ten requests, refuse numbers abroad beside the field, and answer the same whether or
not an account exists."""

from __future__ import annotations

import asyncio
from functools import partial

from reflex_base.constants import RouteVar
from sqlmodel import func, select

from portal_app import routes
from portal_app.models import AuditEvent, OutboxMessage, PortalAccount, SessionKind
from portal_app.services import passwords, permissions, staff_auth, throttle
from portal_app.services.throttle import POLICIES, Flow, Verdict
from portal_app.state import throttling
from portal_app.state.base import call, drain_detached
from portal_app.state.patient_home import PasswordState
from portal_app.state.patient_login import ForgotState, LoginState
from portal_app.state.setup_create_account import CreateAccountState, CreateAccountStep
from portal_app.state.staff_login import StaffLoginState, StaffPasswordState
from tests.unit.conftest import ADMIN_PASSWORD
from tests.unit.state_support import grant_in, set_cookies, tab_signs_in
from tests.unit.test_state_patient import NEW_PASSWORD, PASSWORD, make_account, redirect_path, run, state_at
from tests.unit.test_state_setup_create_account import open_setup
from tests.unit.two_step import staff_sign_in

SIGN_IN = POLICIES[Flow.SIGN_IN]
ABROAD = "+447400123456"  # a United Kingdom mobile
COUNTRY_REFUSED = ("We can send text messages only to numbers in the United States. Enter your email address "
                   "instead, or call the practice at (555) 010-0100.")


def from_ip(root, ip: str) -> None:
    """The tab's websocket came from `ip` (what `self.router.session.client_ip` reads)."""
    root._update_router_vars({RouteVar.CLIENT_IP: ip, RouteVar.SESSION_ID: f"sid-{ip}"}, {})


def count(session, action: str) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)).one()


def messages(session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


class Waits:
    """Records the delays instead of sleeping them."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class Hashes:
    """Counts argon2 checks (the real ones still run)."""

    def __init__(self, monkeypatch) -> None:
        self.calls = 0
        real = passwords.verify_password

        def spy(password, password_hash):
            self.calls += 1
            return real(password, password_hash)

        monkeypatch.setattr(passwords, "verify_password", spy)


async def test_a_sign_in_spray_waits_then_is_refused_unhashed_and_an_honest_sign_in_is_not_slowed(
        session, frozen_clock, monkeypatch):
    make_account(session)
    waits = Waits()
    monkeypatch.setattr(throttling, "_sleep", waits)
    hashes = Hashes(monkeypatch)
    root, spray = await state_at(routes.LOGIN, LoginState)
    from_ip(root, "10.0.0.5")

    answers = []
    for n in range(SIGN_IN.refuse_at + 27):
        await run(spray.sign_in({"user_id": f"guess{n}@example.com", "password": "Winter2026!"}))
        answers.append(spray.form_error)

    assert waits.delays == [1.0, 2.0, 4.0] + [5.0] * (SIGN_IN.refuse_at - SIGN_IN.free - 3)
    assert hashes.calls == SIGN_IN.refuse_at  # the 27 after the limit never reached argon2
    assert set(answers[SIGN_IN.refuse_at:]) == {throttle.TOO_MANY[Flow.SIGN_IN]}
    assert "do not match" in answers[0]
    assert count(session, "portal.sign_in_failed") == SIGN_IN.refuse_at

    # A patient elsewhere signs in at once, with no wait.
    root, honest = await state_at(routes.LOGIN, LoginState)
    from_ip(root, "192.0.2.44")
    event = await run(honest.sign_in({"user_id": "maria.lopez@example.com", "password": PASSWORD}))
    assert redirect_path(event) == routes.PORTAL_HOME
    assert len(waits.delays) == SIGN_IN.refuse_at - SIGN_IN.free

    # The flood is one audit row, not one per try.
    await throttling.write_summaries(everything=True)
    session.expire_all()
    [summary] = session.exec(select(AuditEvent).where(AuditEvent.action == "throttle.summary")).all()
    assert summary.ip == "10.0.0.5"
    assert summary.detail.startswith(f"sign-in throttled: {SIGN_IN.refuse_at - SIGN_IN.free + 27} tries "
                                     "from 10.0.0.5 in ")
    assert summary.detail.endswith("(27 refused unchecked)")


async def test_staff_sign_in_shares_the_budget_and_refuses_past_it(session, admin, frozen_clock, monkeypatch):
    monkeypatch.setattr(throttling, "_sleep", Waits())
    # A Front Desk user: a password alone signs in (no second step to finish here).
    staff_auth.create_staff(session=session, username="desk", full_name="Dee Desk", password=ADMIN_PASSWORD,
                            role=permissions.FRONT_DESK)
    for _ in range(SIGN_IN.refuse_at):
        throttle.record(Flow.SIGN_IN, "10.0.0.5")  # e.g. patient sign-ins from the same address
    root, state = await state_at(routes.STAFF_LOGIN, StaffLoginState)
    from_ip(root, "10.0.0.5")
    answer = await run(state.sign_in({"username": "desk", "password": ADMIN_PASSWORD}))
    assert state.error == throttle.TOO_MANY[Flow.SIGN_IN]
    assert grant_in(answer) == ""

    root, other = await state_at(routes.STAFF_LOGIN, StaffLoginState)
    from_ip(root, "10.0.0.6")
    await tab_signs_in(session, other, other.sign_in({"username": "desk", "password": ADMIN_PASSWORD}),
                       SessionKind.STAFF)
    assert other.error == "" and other.staff_sid


async def test_wrong_current_passwords_are_throttled(session, admin, frozen_clock, monkeypatch):
    monkeypatch.setattr(throttling, "_sleep", Waits())
    limit = POLICIES[Flow.PASSWORD_CHECK].refuse_at
    sid = staff_sign_in(session, "admin", ADMIN_PASSWORD)
    root, state = await state_at(routes.STAFF_PASSWORD, StaffPasswordState)
    from_ip(root, "10.0.0.5")
    set_cookies(state, staff=sid)
    form = {"current": "not my password", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    for _ in range(limit):
        await run(state.change_password(form))
        assert state.current_error == "Your current password is not right."
    await run(state.change_password({**form, "current": ADMIN_PASSWORD}))
    assert state.current_error == throttle.TOO_MANY[Flow.PASSWORD_CHECK]
    assert passwords.verify_password(ADMIN_PASSWORD, session.get(type(admin), admin.id).password_hash)


async def test_a_patients_wrong_current_password_counts_too(session, frozen_clock, monkeypatch):
    monkeypatch.setattr(throttling, "_sleep", Waits())
    make_account(session)
    for _ in range(POLICIES[Flow.PASSWORD_CHECK].refuse_at):
        throttle.record(Flow.PASSWORD_CHECK, "10.0.0.5")
    root, login = await state_at(routes.LOGIN, LoginState)
    from_ip(root, "10.0.0.5")
    await tab_signs_in(session, login, login.sign_in({"user_id": "maria.lopez@example.com", "password": PASSWORD}))
    page = await root.get_state(PasswordState)
    await run(page.change_password({"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}))
    assert page.current_error == throttle.TOO_MANY[Flow.PASSWORD_CHECK]


# --- item 7: Create Account and Forgot password ---------------------------------------------------

async def _create(user_id: str, ip: str = "10.0.0.5") -> CreateAccountState:
    root, _setup, create = await open_setup(routes.setup_path(routes.SetupStep.CREATE_ACCOUNT))
    from_ip(root, ip)
    await run(create.create_account({"user_id": user_id}))
    await drain_detached()
    return create


async def test_an_existing_user_id_ten_times_sends_one_email_and_the_same_answer(session, monkeypatch):
    monkeypatch.setattr(throttling, "_sleep", Waits())
    session.add(PortalAccount(user_id="taken@example.com"))
    session.commit()
    answers = []
    for _ in range(10):
        create = await _create("taken@example.com")
        answers.append((create.stage, create.user_id_error))
    assert [m.to_address for m in messages(session)] == ["taken@example.com"]
    for _ in range(10):
        create = await _create("free@example.com")
        answers.append((create.stage, create.user_id_error))
    assert [m.to_address for m in messages(session)] == ["taken@example.com", "free@example.com"]
    assert set(answers) == {(CreateAccountStep.SENT, "")}


async def test_create_account_refuses_a_number_abroad_beside_the_field(session, monkeypatch):
    monkeypatch.setattr(throttling, "_sleep", Waits())
    for _ in range(3):
        create = await _create(ABROAD)
        assert (create.stage, create.user_id_error) == (CreateAccountStep.ENTER_ID, COUNTRY_REFUSED)
    assert messages(session) == []
    create = await _create("+12015550123")
    assert (create.stage, create.user_id_error) == (CreateAccountStep.SENT, "")
    assert [m.channel for m in messages(session)] == ["sms"]
    await throttling.write_summaries(everything=True)
    session.expire_all()
    [summary] = session.exec(select(AuditEvent).where(AuditEvent.action == "throttle.summary")).all()
    assert summary.detail.startswith("create-account throttled: 3 tries from 10.0.0.5")


async def test_create_account_says_when_an_address_has_had_enough(session, frozen_clock, monkeypatch):
    from datetime import timedelta

    from tests.unit.conftest import START

    monkeypatch.setattr(throttling, "_sleep", Waits())
    for minute in range(4):
        frozen_clock(START + timedelta(minutes=2 * minute))
        create = await _create("pat@example.com")
    assert create.user_id_error == ("We have already sent several messages to this address. Look for them "
                                    "(for email, in the spam folder too), or try again tomorrow.")
    assert create.stage == CreateAccountStep.ENTER_ID
    assert len(messages(session)) == 3


async def _forgot(user_id: str, dob: str = "1980-04-02", ip: str = "10.0.0.5") -> ForgotState:
    root, forgot = await state_at(routes.FORGOT, ForgotState)
    from_ip(root, ip)
    await run(forgot.load())
    await run(forgot.request_link({"user_id": user_id, "dob": dob}))
    await drain_detached()
    return forgot


async def test_forgot_password_refuses_a_number_abroad_and_sends_once_for_ten_requests(session, monkeypatch):
    monkeypatch.setattr(throttling, "_sleep", Waits())
    make_account(session)
    forgot = await _forgot(ABROAD)
    assert (forgot.sent, forgot.user_id_error) == (False, COUNTRY_REFUSED)
    for _ in range(10):
        forgot = await _forgot("maria.lopez@example.com")
        assert (forgot.sent, forgot.user_id_error) == (True, "")
    assert [m.to_address for m in messages(session)] == ["maria.lopez@example.com"]
    for _ in range(3):
        forgot = await _forgot("nobody@example.com")
        assert (forgot.sent, forgot.user_id_error) == (True, "")  # the same answer without an account


# --- the hashing lanes on the event loop --------------------------------------------------------

def _work(*, session) -> str:
    return "done"


async def test_a_queue_of_suspects_never_holds_up_an_honest_try(session):
    import asyncio
    from functools import partial

    lane = throttling._suspect_lane()
    await lane.acquire()  # a sprayer's try is hashing; more of them queue behind it
    queued = [asyncio.create_task(throttling.run(throttle.Verdict(True, suspect=True), partial(_work)))
              for _ in range(5)]
    try:
        honest = await asyncio.wait_for(throttling.run(throttle.Verdict(True), partial(_work)), 30)
        assert honest == "done"
        assert not any(task.done() for task in queued)  # the suspects still wait their turn
    finally:
        lane.release()
    assert await asyncio.gather(*queued) == ["done"] * 5


async def test_forgot_password_just_after_create_account_still_sends(session, monkeypatch):
    monkeypatch.setattr(throttling, "_sleep", Waits())
    make_account(session)
    create = await _create("maria.lopez@example.com")
    assert create.stage == CreateAccountStep.SENT
    forgot = await _forgot("maria.lopez@example.com")
    assert forgot.sent
    assert [m.kind for m in messages(session)] == ["account_exists", "reset"]


async def test_a_burst_of_sign_ins_leaves_other_tabs_their_threads(session):
    """Tries waiting for an argon2 slot wait on the hashing threads, not in the default pool
    that every other tab's events use: with every slot held, a burst of 40 tries is queued
    and another tab's query still runs at once."""
    def hashes(*, session) -> str:
        with throttle.hashing():
            return "hashed"

    def quick(*, session) -> int:
        return 1

    held = [throttle._gate._total.acquire(timeout=5) for _ in range(throttle.HASH_SLOTS)]
    assert all(held)
    burst = [asyncio.ensure_future(throttling.run(Verdict(allowed=True), partial(hashes))) for _ in range(40)]
    try:
        await asyncio.sleep(0.2)  # the burst has reached its threads
        assert await asyncio.wait_for(call(partial(quick)), timeout=3) == 1
        assert not any(task.done() for task in burst)
    finally:
        for _ in held:
            throttle._gate._total.release()
    assert await asyncio.gather(*burst) == ["hashed"] * 40
