"""Password hashing (argon2 via libpass) and the password rules used everywhere."""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import datetime, timedelta
from typing import Protocol

from passlib.context import CryptContext
from zxcvbn import zxcvbn

from portal_app.services import throttle
from portal_app.services.errors import InvalidInput

MIN_LENGTH = 10
MAX_LENGTH = 128
# Sign-in lockout, the same for staff users and portal accounts.
MAX_FAILURES = 10
LOCKOUT = timedelta(minutes=15)

# OWASP's argon2id floor: 19 MiB, 2 passes, 1 lane.
_context = CryptContext(
    schemes=["argon2"],
    deprecated="auto",
    argon2__type="ID",
    argon2__memory_cost=19 * 1024,
    argon2__rounds=2,
    argon2__parallelism=1,
)
# Generated passwords are read aloud on the phone and typed from paper: one case only (nobody
# has to say "capital V, small v"), no look-alikes (0/O, 1/I/L), and one member only of the
# worst sound-alike pairs (B/D/P/V/Z, F/S, Q/U, G/J); staff spell the rest as "D for Delta".
# 25 symbols x 20 characters = 92.9 bits, as strong as the 16 mixed-case characters (92.5 bits)
# used before.
GENERATED_ALPHABET = "23456789ACDEFHJKMNPRTUWXY"
GENERATED_GROUPS = 5
GENERATED_GROUP_LENGTH = 4

# Verified against when the account does not exist, so both paths cost the same.
_DUMMY_HASH = _context.hash("not-a-real-password-only-for-timing")


class SignsIn(Protocol):
    failed_logins: int
    locked_until: datetime | None


def count_failure(row: SignsIn, now: datetime) -> None:
    """One more wrong password in a row; the MAX_FAILURES-th locks the sign-in for LOCKOUT."""
    row.failed_logins += 1
    if row.failed_logins >= MAX_FAILURES:
        row.locked_until = now + LOCKOUT
        row.failed_logins = 0


def hash_password(password: str) -> str:
    with throttle.hashing():  # a bounded number of argon2 hashes at once (see throttle.HashGate)
        return _context.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Constant-cost check: an absent hash still pays for one verification."""
    with throttle.hashing():  # a bounded number of argon2 hashes at once (see throttle.HashGate)
        if not password_hash:
            try:
                _context.verify(password, _DUMMY_HASH)
            except (ValueError, TypeError):  # e.g. over-long input: refused before hashing either way
                pass
            return False
        try:
            return _context.verify(password, password_hash)
        except (ValueError, TypeError):
            return False


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password: str, password_hash: str | None) -> bool:
    return await asyncio.to_thread(verify_password, password, password_hash)


def _words(*values: str) -> list[str]:
    words: list[str] = []
    for value in values:
        for word in re.split(r"[^a-z0-9]+", (value or "").lower()):
            if len(word) >= 3:
                words.append(word)
    return words


def check_password(password: str, *, confirm: str | None = None, personal: tuple[str, ...] = (),
                   field: str = "password") -> None:
    """Raise InvalidInput with the reason when `password` may not be used.

    Args:
        password: the new password.
        confirm: the repeated entry, when the form has one.
        personal: the user's names, email, user ID and the practice name; a password
            built from them is refused.
        field: the form field the message belongs to.
    """
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"Use at least {MIN_LENGTH} characters.", field=field)
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"Use at most {MAX_LENGTH} characters.", field=field)
    if "\x00" in password:
        raise InvalidInput("The password contains a character that is not allowed.", field=field)
    lowered = password.lower()
    for word in _words(*personal):
        if len(word) >= 4 and word in lowered:
            raise InvalidInput("Do not build the password from your name, email or the "
                               "practice's name.", field=field)
    # zxcvbn refuses more than 72 characters (ValueError); the first 72 decide the score.
    result = zxcvbn(password[:72], user_inputs=_words(*personal))
    if result["score"] < 3:
        hint = result["feedback"].get("warning") or "It would be easy to guess."
        raise InvalidInput(f"This password is too weak. {hint} Try a longer phrase of "
                           "unrelated words.".replace("..", "."), field=field)
    if confirm is not None and confirm != password:
        raise InvalidInput("The two passwords do not match.", field="confirm")


def generate(personal: tuple[str, ...] = ()) -> str:
    """A random password for staff to hand over once (about 93 bits), e.g. "K7MP-3RXA-HW9E-TC4J-2UYF".

    It always passes `check_password` for these personal words.
    """
    while True:
        plain = "-".join("".join(secrets.choice(GENERATED_ALPHABET) for _ in range(GENERATED_GROUP_LENGTH))
                         for _ in range(GENERATED_GROUPS))
        try:
            check_password(plain, personal=personal)
        except InvalidInput:  # astronomically rare: a name inside the random text
            continue
        return plain
