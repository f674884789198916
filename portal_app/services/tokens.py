"""One-time secrets: random, stored as SHA-256, expiring, single-use, attempt-limited."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlmodel import Session, col, select

from portal_app.models import OneTimeSecret, SecretPurpose
from portal_app.services import clock

MAX_ATTEMPTS = 5


def new_session_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    # The secrets are long and random, so a plain SHA-256 is enough (no salt or stretch).
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(*, session: Session, purpose: SecretPurpose, lifetime: timedelta,
          patient_id: int | None = None, account_id: int | None = None,
          channel: str = "email", destination: str = "", staff_id: int | None = None,
          requested_by: str = "") -> tuple[str, OneTimeSecret]:
    """Create a link secret (128+ bits) and void older live ones of the same purpose.

    Returns:
        The plain secret (to send once, never stored) and its row.
    """
    revoke_live(session=session, purpose=purpose, patient_id=patient_id, account_id=account_id)
    plain = secrets.token_urlsafe(24)
    row = OneTimeSecret(
        purpose=purpose, secret_hash=digest(plain), patient_id=patient_id,
        account_id=account_id, channel=channel, destination=destination,
        created_by_staff_id=staff_id, requested_by=requested_by,
        created_at=clock.now(), expires_at=clock.now() + lifetime,
    )
    session.add(row)
    session.flush()
    return plain, row


def revoke_live(*, session: Session, purpose: SecretPurpose | None = None,
                patient_id: int | None = None, account_id: int | None = None) -> int:
    """Void outstanding secrets of a patient and/or account. Returns how many."""
    if patient_id is None and account_id is None:
        return 0
    query = select(OneTimeSecret).where(col(OneTimeSecret.used_at).is_(None),
                                        col(OneTimeSecret.revoked_at).is_(None))
    if purpose is not None:
        query = query.where(OneTimeSecret.purpose == purpose)
    if patient_id is not None:
        query = query.where(OneTimeSecret.patient_id == patient_id)
    if account_id is not None:
        query = query.where(OneTimeSecret.account_id == account_id)
    count = 0
    for row in session.exec(query):
        row.revoked_at = clock.now()
        session.add(row)
        count += 1
    return count


def find_live(*, session: Session, plain: str | None,
              purposes: tuple[SecretPurpose, ...]) -> OneTimeSecret | None:
    """The usable secret matching `plain`, or None (unknown, used, revoked, expired)."""
    if not plain or len(plain) > 200:
        return None
    row = session.exec(select(OneTimeSecret).where(
        OneTimeSecret.secret_hash == digest(plain.strip()))).first()
    if row is None or row.purpose not in purposes:
        return None
    if not hmac.compare_digest(row.secret_hash, digest(plain.strip())):
        return None
    if row.used_at or row.revoked_at or clock.aware(row.expires_at) <= clock.now():
        return None
    return row


def find_any(*, session: Session, plain: str | None) -> OneTimeSecret | None:
    """The row for `plain` whatever its state (to offer a fresh link for a dead one)."""
    if not plain or len(plain) > 200:
        return None
    return session.exec(select(OneTimeSecret).where(
        OneTimeSecret.secret_hash == digest(plain.strip()))).first()


def count_wrong_try(*, session: Session, row: OneTimeSecret) -> bool:
    """Count one wrong try against a secret; at MAX_ATTEMPTS it is void. Returns whether it
    is void now. (The caller audits and commits.)"""
    row.attempts += 1
    if row.attempts >= MAX_ATTEMPTS and row.revoked_at is None:
        row.revoked_at = clock.now()
    session.add(row)
    return row.revoked_at is not None


def consume(*, session: Session, row: OneTimeSecret) -> None:
    row.used_at = clock.now()
    session.add(row)
