"""A temporary password made from a read-back token dies for good after five wrong tries in total
(services/temporary_passwords.py), and what that leaves a guesser."""

from __future__ import annotations

import math
import re
from datetime import timedelta

import pytest
from sqlmodel import select

from portal_app.models import AuditEvent, OutboxMessage, PortalAccount, PracticeSettings
from portal_app.services import accounts, audit, connect, passwords, portal_auth, settings, temporary_passwords
from tests.unit.conftest import START, make_patient

EMAIL = "maria.lopez@example.com"
PASSPHRASE = "violet tractor umbrella canyon 77"


def best_attackers_odds(config: PracticeSettings, *, total_tries: int | None) -> float:
    """Worked out here from the rules, not by the service: a guesser who knows the user ID signs in
    with distinct tokens as fast as the lockout lets them (MAX_FAILURES, then wait LOCKOUT, again)
    for the token's whole life, stopped for good after `total_tries` wrong ones (None: never)."""
    length = connect.token_length(config)
    life_minutes = config.connect_token_days * 24 * 60
    rolling = math.ceil(life_minutes / (passwords.LOCKOUT.total_seconds() / 60)) * passwords.MAX_FAILURES
    guesses = rolling if total_tries is None else min(rolling, total_tries)
    return min(1.0, guesses / 10 ** length)


def test_the_best_attackers_odds_with_the_default_settings_are_under_a_tenth_of_a_percent():
    config = PracticeSettings(id=1)  # what a new practice gets
    assert connect.token_length(config) == 6 and config.connect_token_days == 3
    odds = best_attackers_odds(config, total_tries=temporary_passwords.TOKEN_PASSWORD_TRIES)
    assert odds < 0.001
    assert odds == temporary_passwords.attacker_odds(token_length=6, days=3)
    # The practice may choose 4 digits: still under 0.1% per account, with the total limit.
    config.token_length = 4
    assert best_attackers_odds(config, total_tries=temporary_passwords.TOKEN_PASSWORD_TRIES) < 0.001
    # The probe's finding: with the rolling lockout alone, 2,880 guesses in 3 days, 29% per account.
    assert best_attackers_odds(config, total_tries=None) == pytest.approx(0.288)
    assert temporary_passwords.attacker_odds(token_length=4, days=3, total_tries=None) == pytest.approx(0.288)
    config.connect_token_days = 11
    assert best_attackers_odds(config, total_tries=None) == 1.0


def test_the_settings_hint_states_the_risk_of_four_digits_in_numbers():
    hint = temporary_passwords.risk_hint()
    assert "default 6" in hint and "after 5 wrong sign-in tries" in hint
    assert "1 such account in 200,000" in hint and "4 digits about 1 in 2,000" in hint


@pytest.fixture
def staff(admin):
    return audit.Actor.staff(admin.id)


def token_account(session, staff) -> str:
    """Create and Connect: returns the token, now the new account's temporary password."""
    patient = make_patient(session, enabled=True)
    connect.send_connect_token(session=session, patient_id=patient.id, channel="email", address=EMAIL,
                               requested_by="Self", actor=staff)
    body = session.exec(select(OutboxMessage.body_text).where(OutboxMessage.kind == "connect_token")).one()
    token = re.search(r"portal token is (\d+)", body).group(1)
    assert connect.connect_with_token(session=session, patient_id=patient.id, channel="email", address=EMAIL,
                                      token=token, actor=staff).created
    return token


def wrong(token: str) -> str:
    return f"{(int(token) + 1) % 10 ** len(token):0{len(token)}d}"


def refused(session, password: str) -> str:
    with pytest.raises(portal_auth.SignInFailed) as info:
        portal_auth.sign_in(session=session, user_id=EMAIL, password=password)
    return info.value.message


def failure_details(session) -> list[str]:
    return list(session.exec(select(AuditEvent.detail).where(AuditEvent.action == "portal.sign_in_failed")
                             .order_by(AuditEvent.id)))


def test_five_wrong_tries_kill_a_token_password_for_good(session, frozen_clock, staff):
    token = token_account(session, staff)
    answers = {refused(session, wrong(token)) for _ in range(5)}
    # The right token now fails too, and keeps failing after any lockout would have ended.
    answers.add(refused(session, token))
    frozen_clock(START + timedelta(days=1))
    answers.add(refused(session, token))
    # The same answer as for a user ID that does not exist; it says what to do.
    answers.add(refused(session, "nobody@example.com"))
    assert answers == {portal_auth.sign_in_failed_message(temporary_days=3, phone="(555) 010-0100")}
    [answer] = answers
    assert "stops working after 5 wrong tries. Then use Forgot password or call the practice at " in answer
    details = failure_details(session)
    assert details[:5] == [f"wrong password; temporary password try {n} of 5" for n in range(1, 5)] + [
        "wrong password; temporary password void after 5 wrong tries"]
    assert details[5:7] == ["temporary password void after too many wrong tries"] * 2


def test_the_tries_are_counted_in_total_not_per_lockout_window_or_sign_in(session, frozen_clock, staff):
    token = token_account(session, staff)
    for _ in range(4):
        refused(session, wrong(token))
    frozen_clock(START + timedelta(hours=2))
    portal_auth.sign_in(session=session, user_id=EMAIL, password=token)  # four wrong: it still works
    refused(session, wrong(token))  # the fifth, even after a sign-in in between
    refused(session, token)


def test_a_new_password_lifts_the_limit(session, frozen_clock, staff):
    token = token_account(session, staff)
    for _ in range(5):
        refused(session, wrong(token))
    account = session.exec(select(PortalAccount)).one()
    # Forgot password (a reset link) and staff's reset both end in accounts.set_password.
    accounts.set_password(session=session, account=account, password=PASSPHRASE)
    session.commit()
    for _ in range(6):
        refused(session, "not it")
    assert portal_auth.sign_in(session=session, user_id=EMAIL, password=PASSPHRASE)


def test_a_password_change_after_signing_in_with_the_token_lifts_the_limit(session, frozen_clock, staff):
    token = token_account(session, staff)
    refused(session, wrong(token))
    sid = portal_auth.sign_in(session=session, user_id=EMAIL, password=token)
    account = session.exec(select(PortalAccount)).one()
    portal_auth.change_password(session=session, account_id=account.id, current="", new=PASSPHRASE,
                                confirm=PASSPHRASE, session_id=sid)
    session.refresh(account)
    assert account.temp_password_tries_left is None
    for _ in range(5):
        refused(session, "not it")
    assert portal_auth.sign_in(session=session, user_id=EMAIL, password=PASSPHRASE)


def test_a_staff_made_temporary_password_keeps_the_rolling_lockout_only(session, frozen_clock, staff):
    patient = make_patient(session, enabled=True, first="Ann", email="ann@example.com", chart="P2")
    account = accounts.create_account(session=session, user_id="ann@example.com")
    accounts.connect_chart(session=session, account=account, patient=patient, requested_by="Self")
    accounts.set_password(session=session, account=account, password=PASSPHRASE, must_change=True,
                          temp_password_expires_at=START + timedelta(days=3))
    session.commit()
    assert settings.get(session=session).token_length == 6
    for _ in range(6):
        with pytest.raises(portal_auth.SignInFailed):
            portal_auth.sign_in(session=session, user_id="ann@example.com", password="not it")
    assert portal_auth.sign_in(session=session, user_id="ann@example.com", password=PASSPHRASE)
