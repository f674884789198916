"""One-time secrets: 128+ bits, only SHA-256 stored, single-use, expiring, revocable."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

from sqlalchemy import String, Text
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, select

from portal_app.models import OneTimeSecret, SecretPurpose
from portal_app.services import tokens
from tests.unit.conftest import START

INVITE = (SecretPurpose.INVITATION,)


def _text_values(session):
    """Every text value in every table (to prove a secret is not stored in the clear)."""
    for table in SQLModel.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, (String, Text))]
        if not columns:
            continue
        for row in session.execute(sa_select(*columns)):
            for value in row:
                if value:
                    yield f"{table.name}.{value}"


def _issue(session, patient, *, purpose=SecretPurpose.INVITATION, lifetime=timedelta(hours=72)):
    plain, row = tokens.issue(session=session, purpose=purpose, lifetime=lifetime,
                              patient_id=patient.id, destination=patient.email_lower)
    session.commit()
    return plain, row


def test_link_secret_has_at_least_128_random_bits(session, patient):
    plain, _row = _issue(session, patient)
    raw = base64.urlsafe_b64decode(plain + "=" * (-len(plain) % 4))
    assert len(raw) * 8 >= 128
    assert plain != _issue(session, patient)[0]


def test_session_token_has_256_bits():
    plain = tokens.new_session_token()
    assert len(base64.urlsafe_b64decode(plain + "=" * (-len(plain) % 4))) * 8 == 256


def test_only_the_sha256_is_stored(session, patient):
    plain, row = _issue(session, patient)
    assert row.secret_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert not any(plain in value for value in _text_values(session))


def test_find_live_returns_the_row_for_the_right_purpose(session, patient, frozen_clock):
    plain, row = _issue(session, patient)
    assert tokens.find_live(session=session, plain=plain, purposes=INVITE).id == row.id
    assert tokens.find_live(session=session, plain=f"  {plain} ", purposes=INVITE).id == row.id
    assert tokens.find_live(session=session, plain=plain,
                            purposes=(SecretPurpose.PASSWORD_RESET,)) is None


def test_unknown_tampered_empty_or_huge_token_finds_nothing(session, patient):
    plain, _row = _issue(session, patient)
    tampered = plain[:-1] + ("A" if plain[-1] != "A" else "B")
    for value in (tampered, "", None, "x" * (1024 * 1024), plain + "\x00"):
        assert tokens.find_live(session=session, plain=value, purposes=INVITE) is None


def test_secret_is_single_use(session, patient):
    plain, row = _issue(session, patient)
    tokens.consume(session=session, row=row)
    session.commit()
    assert tokens.find_live(session=session, plain=plain, purposes=INVITE) is None
    # The row is still there for "this link was used; send a fresh one?".
    assert tokens.find_any(session=session, plain=plain).id == row.id


def test_secret_expires_at_its_lifetime(session, patient, frozen_clock):
    plain, _row = _issue(session, patient, lifetime=timedelta(minutes=60))
    frozen_clock(START + timedelta(minutes=59, seconds=59))
    assert tokens.find_live(session=session, plain=plain, purposes=INVITE) is not None
    frozen_clock(START + timedelta(minutes=60))
    assert tokens.find_live(session=session, plain=plain, purposes=INVITE) is None


def test_issuing_again_voids_the_older_secret_of_that_purpose(session, patient):
    first, first_row = _issue(session, patient)
    reset, _ = _issue(session, patient, purpose=SecretPurpose.PASSWORD_RESET)
    second, _ = _issue(session, patient)
    assert tokens.find_live(session=session, plain=first, purposes=INVITE) is None
    assert tokens.find_live(session=session, plain=second, purposes=INVITE) is not None
    # A different purpose is left alone.
    assert tokens.find_live(session=session, plain=reset,
                            purposes=(SecretPurpose.PASSWORD_RESET,)) is not None
    session.refresh(first_row)
    assert first_row.revoked_at is not None


def test_revoke_live_counts_and_needs_an_owner(session, patient):
    _issue(session, patient)
    _issue(session, patient, purpose=SecretPurpose.PASSWORD_RESET)
    assert tokens.revoke_live(session=session) == 0
    assert tokens.revoke_live(session=session, patient_id=patient.id) == 2
    session.commit()
    live = session.exec(select(OneTimeSecret).where(OneTimeSecret.revoked_at.is_(None))).all()
    assert live == []


def test_wrong_tries_void_a_secret_at_the_limit(session, frozen_clock):
    _, row = tokens.issue(session=session, purpose=SecretPurpose.INVITATION,
                          lifetime=timedelta(hours=1), patient_id=None, account_id=None)
    results = [tokens.count_wrong_try(session=session, row=row) for _ in range(tokens.MAX_ATTEMPTS)]
    assert results == [False] * (tokens.MAX_ATTEMPTS - 1) + [True]
    assert row.attempts == tokens.MAX_ATTEMPTS and row.revoked_at is not None
