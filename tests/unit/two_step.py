"""For tests that need a signed-in staff user (or account) who has, or must have, a second factor:
finish the second step as the person would, with the authenticator app's code (pyotp)."""

from __future__ import annotations

import pyotp
from sqlmodel import Session, select

from portal_app.models import SecondFactor
from portal_app.services import clock, portal_auth, second_factor, staff_auth, tokens
from portal_app.services.second_factor import SecondStepNeeded

# Recovery codes of each enrolment (by its secret), for a test that signs in more times within
# one 30-second window than the app has fresh codes (a code is never accepted twice).
_spare: dict[str, list[str]] = {}


def code_for(factor: SecondFactor, *, step: int | None = None) -> str:
    return pyotp.TOTP(factor.secret).at((second_factor.current_step() if step is None else step)
                                        * second_factor.STEP_SECONDS)


def factor_of(session: Session, *, staff_user_id: int | None = None, account_id: int | None = None) -> SecondFactor:
    query = (select(SecondFactor).where(SecondFactor.staff_user_id == staff_user_id) if staff_user_id is not None
             else select(SecondFactor).where(SecondFactor.portal_account_id == account_id))
    row = session.exec(query).one()
    session.refresh(row)
    return row


def _finish(session: Session, need: SecondStepNeeded, module, ip: str) -> str:
    if need.enrol:
        second_factor.begin_enrolment(session=session, challenge=need.challenge)
        factor = session.exec(select(SecondFactor).where(
            SecondFactor.challenge_hash == tokens.digest(need.challenge))).one()
        sid, codes = module.enrol_and_sign_in(session=session, challenge=need.challenge, code=code_for(factor), ip=ip)
        _spare[factor.secret] = codes
        return sid
    factor = session.exec(select(SecondFactor).where(
        SecondFactor.challenge_hash == tokens.digest(need.challenge))).one()
    session.refresh(factor)
    now = second_factor.current_step(clock.now())
    step = max(now - 1, factor.last_step + 1)
    if step <= now + 1:
        return module.sign_in_second_step(session=session, challenge=need.challenge,
                                          code=code_for(factor, step=step), ip=ip)
    return module.sign_in_second_step(session=session, challenge=need.challenge,
                                      code=_spare[factor.secret].pop(), recovery=True, ip=ip)


def staff_sign_in(session: Session, username: str, password: str, ip: str = "") -> str:
    """`staff_auth.sign_in`, then the second step (enrolling first) when one is asked for."""
    try:
        return staff_auth.sign_in(session=session, username=username, password=password, ip=ip)
    except SecondStepNeeded as need:
        return _finish(session, need, staff_auth, ip)


def portal_sign_in(session: Session, user_id: str, password: str, ip: str = "") -> str:
    """`portal_auth.sign_in`, then the second step when one is asked for."""
    try:
        return portal_auth.sign_in(session=session, user_id=user_id, password=password, ip=ip)
    except SecondStepNeeded as need:
        return _finish(session, need, portal_auth, ip)
