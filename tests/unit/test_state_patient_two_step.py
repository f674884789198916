"""A patient turns two-step verification on from `/portal/two-step`, then signs in with a code
at `/login`; a wrong code is named beside the field; turning it off needs a code."""

from __future__ import annotations

from datetime import timedelta

from portal_app import routes
from portal_app.models import SessionKind
from portal_app.services import clock, second_factor
from portal_app.state.patient_login import LoginState
from portal_app.state.patient_two_step import PortalTwoStepState
from tests.unit.state_support import page_after, sign_in_tab, tab_signs_in
from tests.unit.test_state_patient import PASSWORD, make_account, public_text, redirect_path, run, state_at
from tests.unit.two_step import code_for, factor_of


async def _signed_in_page(session, account):
    root, login = await state_at(routes.LOGIN, LoginState)
    await run(login.load())
    await tab_signs_in(session, login, login.sign_in({"user_id": account.user_id, "password": PASSWORD}))
    return root, await root.get_state(PortalTwoStepState), login


async def test_a_patient_turns_it_on_and_then_signs_in_with_a_code(session, frozen_clock):
    _patient, account = make_account(session)
    root, page, _login = await _signed_in_page(session, account)
    await run(page.load())
    assert page.ready and not page.enabled
    await run(page.start())
    factor = factor_of(session, account_id=account.id)
    assert page.setting_up and page.setup_key.replace(" ", "") == factor.secret
    await run(page.confirm({"code": "000000"}))
    assert page.code_error == second_factor.ENROL_CODE_FAILED and not page.enabled
    await run(page.confirm({"code": code_for(factor)}))
    assert page.enabled and len(page.recovery_codes) == 10 and page.setup_key == ""
    await run(page.codes_saved())
    assert page.recovery_codes == [] and factor.secret not in public_text(root)

    # Sign-in now asks for the code after the password.
    frozen_clock(clock.now() + timedelta(seconds=30))
    root2, login = await state_at(routes.LOGIN, LoginState)
    await run(login.load())
    await run(login.sign_in({"user_id": account.user_id, "password": PASSWORD}))
    assert login.step == "code" and login.portal_sid == ""
    await run(login.submit_code({"code": "111111"}))
    assert login.code_error == second_factor.CODE_FAILED and login.portal_sid == ""
    event = await run(login.submit_code({"code": code_for(factor)}))
    assert page_after(event) == routes.PORTAL_HOME
    assert sign_in_tab(session, login, event, SessionKind.PORTAL) and login.portal_sid

    # Off again, proven with a code.
    frozen_clock(clock.now() + timedelta(seconds=30))
    page2 = await root2.get_state(PortalTwoStepState)
    await run(page2.load())
    await run(page2.turn_off({"code": "222222"}))
    assert page2.code_error and page2.enabled
    await run(page2.turn_off({"code": code_for(factor)}))
    assert not page2.enabled and "off" in page2.notice


async def test_the_page_needs_a_session(session):
    _root, page = await state_at(routes.PORTAL_TWO_STEP, PortalTwoStepState)
    event = await run(page.load())
    assert redirect_path(event) == routes.LOGIN and not page.ready
    await run(page.start())
    assert page.setup_key == ""
