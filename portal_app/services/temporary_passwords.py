"""A temporary password made from Connect Patient's read-back token, and what a guesser can do.

The token is short (4 to 8 digits) because a person reads it aloud, yet as the new account's
temporary password it lives for days. The sign-in lockout alone (MAX_FAILURES wrong tries, then
LOCKOUT) is a rolling limit: over a 3-day life it lets a guesser try 2,880 tokens, 29% of all
4-digit ones. So a token-made temporary password also dies for good after TOKEN_PASSWORD_TRIES
wrong sign-in tries in total; the patient then uses Forgot password or calls the practice.

The count lives on the account (`temp_password_tries_left`): set when Create and Connect makes
the account, None for every other password (`accounts.set_password` and a password change clear
it), never reset by a sign-in.
"""

from __future__ import annotations

import math
from datetime import timedelta

from portal_app.models import PortalAccount
from portal_app.services.passwords import LOCKOUT, MAX_FAILURES

TOKEN_PASSWORD_TRIES = 5


def start(account: PortalAccount) -> None:
    """The account's password is a read-back token now: it gets TOKEN_PASSWORD_TRIES wrong tries."""
    account.temp_password_tries_left = TOKEN_PASSWORD_TRIES


def clear(account: PortalAccount) -> None:
    """The account has another password now: no total limit (the rolling lockout still holds)."""
    account.temp_password_tries_left = None


def spent(account: PortalAccount) -> bool:
    """Whether the account's token-made temporary password has used up its wrong tries."""
    return account.temp_password_tries_left is not None and account.temp_password_tries_left <= 0


def count_wrong_try(account: PortalAccount) -> str:
    """Count one wrong sign-in try against a token-made temporary password (the caller adds the
    row and commits). Returns a note for the audit detail: "" for any other password."""
    left = account.temp_password_tries_left
    if left is None:
        return ""
    left = max(0, left - 1)
    account.temp_password_tries_left = left
    if left == 0:
        return f"; temporary password void after {TOKEN_PASSWORD_TRIES} wrong tries"
    return f"; temporary password try {TOKEN_PASSWORD_TRIES - left} of {TOKEN_PASSWORD_TRIES}"


def guesses_over_life(*, days: int, total_tries: int | None = TOKEN_PASSWORD_TRIES) -> int:
    """The most sign-in guesses one account's token-made password takes over its life.

    The lockout lets MAX_FAILURES wrong tries through per LOCKOUT (a guesser waits out each
    lockout and goes on); `total_tries` (None: no total limit) caps them for good.
    """
    windows = math.ceil(timedelta(days=days) / LOCKOUT)
    rolling = windows * MAX_FAILURES
    return rolling if total_tries is None else min(rolling, total_tries)


def attacker_odds(*, token_length: int, days: int, total_tries: int | None = TOKEN_PASSWORD_TRIES) -> float:
    """The best guesser's chance to sign in to one such account: they know the user ID, guess
    distinct tokens (uniformly random, `token_length` digits) and use every try the rules allow."""
    return min(1.0, guesses_over_life(days=days, total_tries=total_tries) / 10 ** token_length)


def one_in(token_length: int) -> str:
    """"2,000" for 4 digits: a guesser using every try gets into about one such account in this many
    (the total limit, not the lifetime, decides: it is reached within the first hour)."""
    return f"{10 ** token_length // TOKEN_PASSWORD_TRIES:,}"


def risk_hint() -> str:
    """What the token length means for safety, in plain words (beside the setting)."""
    return (f"Digits in the Connect Patient read-back token: 4 to 8 (default 6). The token is the new "
            f"account's temporary password, and it stops working after {TOKEN_PASSWORD_TRIES} wrong "
            f"sign-in tries. With 6 digits someone guessing gets into about 1 such account in "
            f"{one_in(6)}; with 4 digits about 1 in {one_in(4)}, so across many patients a guessed "
            "account becomes likely. Choose 4 only if reading 6 digits aloud is a real problem.")
