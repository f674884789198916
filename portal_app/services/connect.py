"""Connect Patient, "Create and Connect Account": a read-back token creates and connects an account.

Staff send a short numeric token to the patient's email or mobile; the patient reads it back;
staff type it. The account's user ID is that address and its temporary password is the token
(valid `connect_token_days`, changed at first sign-in). An existing account with that user ID
is connected instead, its password untouched.

An existing account that already reaches another person's chart is someone else's: its owner
may be this patient's representative (a mother's address on her son's chart), or the address
was typed wrong. Staff must say which before a token goes there (`OwnerConfirmNeeded`); as a
representative the chart is connected with the relationship staff chose and the areas
representatives get by default, never as `self`.

Short tokens collide between patients, so each row is hashed with its own salt and found by
patient, never by hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from portal_app import routes
from portal_app.models import (
    AccessType,
    AccountStatus,
    OneTimeSecret,
    Patient,
    PortalAccount,
    PortalConnection,
    PracticeSettings,
    SecretPurpose,
    ident,
)
from portal_app.notify import templates, templates_connect
from portal_app.services import accounts, areas, audit, clock, consent, outbox, settings, temporary_passwords, tokens
from portal_app.services.errors import InvalidInput, PortalUnavailable
from portal_app.services.validation import clean_text, normalize_email, normalize_mobile

CHANNELS = ("email", "sms")
MIN_LENGTH, MAX_LENGTH = 4, 8
DEFAULT_LENGTH = 6
MAX_ATTEMPTS = tokens.MAX_ATTEMPTS
# Longer typed input is refused before any work (a token is at most 8 digits plus spaces).
MAX_TYPED = 32

TOO_MANY = "Too many wrong tokens. Send a new token."
ADDRESS_CHANGED = "The address has changed since the token was sent. Send a new token to this address."
# Another request created the account between our check and our insert; a second click finds it.
CREATED_MEANWHILE = "An account with {user_id} was created a moment ago. Click Connect Patient again to connect it."


class OwnerConfirmNeeded(InvalidInput):
    """The address belongs to another person's account: staff confirm representative or error."""

    def __init__(self, message: str, *, self_possible: bool) -> None:
        super().__init__(message, field="owner")
        # The account reaches no other person's chart as their own: it may be this patient's.
        self.self_possible = self_possible


@dataclass(frozen=True)
class AsWhom:
    """How staff confirmed an address that belongs to another person's account."""

    access: AccessType | None = None  # None: not confirmed (only fine for a fresh address)
    relationship: str = ""

    @classmethod
    def of(cls, answer: str, relationship: str) -> AsWhom:
        """From the wizard: "" (nothing asked), "self" or "representative" (+ relationship).

        Raises:
            InvalidInput: field "relationship" for a representative without one.
        """
        if answer == AccessType.SELF.value:
            return cls(AccessType.SELF)
        if answer != AccessType.REPRESENTATIVE.value:
            return cls()
        if relationship not in accounts.RELATIONSHIPS:
            raise InvalidInput("Choose the representative's relationship to the patient.", field="relationship")
        return cls(AccessType.REPRESENTATIVE, relationship)

    @property
    def representative(self) -> bool:
        return self.access == AccessType.REPRESENTATIVE


def _owner_check(session: Session, patient: Patient, destination: str, as_whom: AsWhom) -> None:
    """Refuse, with the question for staff, an address whose account is another person's,
    unless staff answered it. An account that is `self` on another person's chart can only
    be connected as a representative.

    Raises:
        OwnerConfirmNeeded: not answered (or answered Self for another person's own account).
    """
    account = accounts.account_by_user_id(session=session, user_id=destination)
    if account is None or as_whom.representative:
        return
    if not accounts.charts_of_others(session=session, account_id=ident(account), patient=patient,
                                     self_only=False):
        return
    own = accounts.charts_of_others(session=session, account_id=ident(account), patient=patient)
    if not own and as_whom.access == AccessType.SELF:
        return
    whose = "another patient's own portal account" if own else "a portal account that other charts are connected to"
    raise OwnerConfirmNeeded(
        f"{destination} already belongs to {whose}, not to {patient.first_name} {patient.last_name}. "
        "If that person looks after this patient, connect them as an authorized representative; "
        "otherwise the address is wrong: correct it.", self_possible=not own)


@dataclass(frozen=True)
class TokenSent:
    channel: str
    destination: str
    expires: str
    status: str  # sent, failed


@dataclass(frozen=True)
class ConnectResult:
    user_id: str
    created: bool
    welcome_status: str = "sent"  # sent, failed, refused (consent withdrawn since the token)
    representative: bool = False


def token_length(config: PracticeSettings) -> int:
    """The practice's token length, kept within 4..8 whatever the row says."""
    return min(MAX_LENGTH, max(MIN_LENGTH, int(config.token_length or DEFAULT_LENGTH)))


def salted_digest(salt: str, token: str) -> str:
    return hashlib.sha256(f"{salt}:{token}".encode()).hexdigest()


def normalize_token(value: str | None, *, length: int) -> str:
    """ASCII digits of exactly `length`, or '' (whitespace dropped; full-width digits folded).

    "0042" stays "0042": leading zeros count, so "42" is not a 4-digit token.
    """
    raw = value or ""
    if len(raw) > MAX_TYPED:
        return ""
    digits = []
    for char in "".join(raw.split()):
        number = unicodedata.decimal(char, None)  # ０-９, Arabic-Indic, ...; not superscripts
        if number is None:
            return ""
        digits.append(str(number))
    text = "".join(digits)
    return text if len(text) == length else ""


def _destination(channel: str, address: str) -> str:
    if channel == "email":
        return normalize_email(address, field="address")
    if channel == "sms":
        return normalize_mobile(address, field="address")
    raise InvalidInput("Choose Email Address or Phone Number.", field="channel")


def _active_config(session: Session) -> PracticeSettings:
    config = settings.get(session=session)
    if not config.portal_active:
        raise PortalUnavailable()
    return config


def _enabled_patient(session: Session, patient_id: int) -> Patient:
    patient = accounts.get_patient(session=session, patient_id=patient_id)
    if not patient.portal_enabled:
        raise InvalidInput("Portal access is not enabled for this patient. Enable it first.")
    return patient


def _check_self_conflict(session: Session, patient: Patient, destination: str, as_whom: AsWhom) -> None:
    """A chart has one `self` account: connecting another address as self would give two."""
    if as_whom.representative:
        return
    current = accounts.self_account(session=session, patient_id=ident(patient))
    if current is not None and current.user_id != destination:
        raise InvalidInput(
            f"This chart is already connected to the account {current.user_id} as self. "
            "Disconnect it first, or use that address.", field="address")


def send_connect_token(*, session: Session, patient_id: int, channel: str, address: str,
                       requested_by: str, actor: audit.Actor, as_whom: AsWhom | None = None) -> TokenSent:
    """Send a new numeric token to the address; older live connect tokens of the chart die.

    Raises:
        PortalUnavailable: the portal is switched off (nothing is sent).
        OwnerConfirmNeeded: the address is another person's account and `as_whom` does not say
            how to connect it (nothing is sent).
        InvalidInput: access not enabled, bad channel or address (a landline for a text),
            missing Requested By, the chart's own address without its consent for the channel
            (field "channel"), or the chart is connected as self to another account.
    """
    as_whom = as_whom or AsWhom()
    config = _active_config(session)
    patient = _enabled_patient(session, patient_id)
    requested_by = clean_text(requested_by, field="requested_by", label="Requested By",
                              required=True)
    destination = _destination(channel, address)
    consent.require(patient, channel, destination, field="channel")
    _check_self_conflict(session, patient, destination, as_whom)
    _owner_check(session, patient, destination, as_whom)

    voided = tokens.revoke_live(session=session, purpose=SecretPurpose.CONNECT_TOKEN,
                                patient_id=patient.id)
    length = token_length(config)
    token = f"{secrets.randbelow(10 ** length):0{length}d}"
    salt = secrets.token_hex(16)
    now = clock.now()
    row = OneTimeSecret(purpose=SecretPurpose.CONNECT_TOKEN, secret_hash=salted_digest(salt, token),
                        salt=salt, patient_id=patient.id, channel=channel, destination=destination,
                        requested_by=requested_by, created_by_staff_id=actor.staff_user_id,
                        created_at=now, expires_at=now + timedelta(days=config.connect_token_days))
    session.add(row)
    session.flush()
    expires = clock.spelled(row.expires_at, settings.zone(session=session))
    if voided:
        audit.record(session=session, actor=actor, action="token.void", patient_id=patient.id,
                     detail=f"{voided} older connect token(s) replaced by token #{row.id}")
    audit.record(session=session, actor=actor, action="token.issue", patient_id=patient.id,
                 detail=f"connect token #{row.id} by {channel} to {destination}; expires {expires}; "
                        f"requested by {requested_by}")
    rendered = templates.for_channel(channel, email_template=templates_connect.connect_token_email,
                                     sms_template=templates_connect.connect_token_sms, config=config,
                                     token=token, expires=expires)
    message = outbox.send(session=session, channel=channel, kind="connect_token", to=destination,
                          rendered=rendered, patient_id=patient.id, secrets_in_body=(token,))
    status = message.status.value
    audit.record(session=session, actor=actor, action="token.failed" if status == "failed" else "token.sent",
                 patient_id=patient.id, detail=f"connect token #{row.id}; message #{message.id} {status}")
    session.commit()
    return TokenSent(channel=channel, destination=destination, expires=expires,
                     status="failed" if status == "failed" else "sent")


def _newest_token(session: Session, patient_id: int) -> OneTimeSecret | None:
    return session.exec(select(OneTimeSecret).where(
        OneTimeSecret.patient_id == patient_id, OneTimeSecret.purpose == SecretPurpose.CONNECT_TOKEN)
        .order_by(col(OneTimeSecret.id).desc())).first()


def _live_token(session: Session, patient_id: int) -> OneTimeSecret:
    row = _newest_token(session, patient_id)
    if row is None:
        raise InvalidInput("No token has been sent for this patient. Send a token first.", field="token")
    if row.used_at is not None:
        raise InvalidInput("That token has already been used. Send a new token to connect again.",
                           field="token")
    if row.revoked_at is not None:
        raise InvalidInput("That token is no longer valid. Send a new token.", field="token")
    if clock.aware(row.expires_at) <= clock.now():
        raise InvalidInput("That token has expired. Send a new token.", field="token")
    return row


def _check_typed_token(session: Session, row: OneTimeSecret, typed: str, patient: Patient,
                       actor: audit.Actor) -> None:
    """A wrong token counts against the row (the fifth voids it) and is refused on its field."""
    if hmac.compare_digest(salted_digest(row.salt, typed), row.secret_hash):
        return
    if tokens.count_wrong_try(session=session, row=row):
        audit.record(session=session, actor=actor, action="token.void", patient_id=patient.id,
                     detail=f"connect token #{row.id} voided after {row.attempts} wrong tries")
        session.commit()
        raise InvalidInput(TOO_MANY, field="token")
    audit.record(session=session, actor=actor, action="token.redeem_failed", patient_id=patient.id,
                 detail=f"connect token #{row.id}: wrong token (try {row.attempts} of {MAX_ATTEMPTS})")
    session.commit()
    left = MAX_ATTEMPTS - row.attempts
    raise InvalidInput(f"That token is not right. {left} {'try' if left == 1 else 'tries'} left.",
                       field="token")


def _spend(session: Session, row: OneTimeSecret, patient: Patient, destination: str,
           actor: audit.Actor) -> None:
    """Use the token up with a guarded UPDATE: of two simultaneous submits only one wins."""
    spent = session.exec(update(OneTimeSecret).where(
        col(OneTimeSecret.id) == row.id, col(OneTimeSecret.used_at).is_(None),
        col(OneTimeSecret.revoked_at).is_(None)).values(used_at=clock.now()))
    if spent.rowcount != 1:
        session.rollback()
        raise InvalidInput("That token has already been used. Send a new token to connect again.",
                           field="token")
    audit.record(session=session, actor=actor, action="token.redeem", patient_id=patient.id,
                 detail=f"connect token #{row.id} by {row.channel} to {destination}")


def _create_with_token(session: Session, config: PracticeSettings, patient: Patient, destination: str,
                       typed: str, actor: audit.Actor) -> PortalAccount:
    """A new account whose temporary password is the token (reading it back proved the address)."""
    expires = clock.now() + timedelta(days=config.connect_token_days)
    account = accounts.create_account(
        session=session, user_id=destination, password=typed, must_change=True,
        temp_password_expires_at=expires, verified=True, field="address", taken_message=CREATED_MEANWHILE)
    temporary_passwords.start(account)  # a few digits: a few wrong sign-in tries in total
    audit.record(session=session, actor=actor, action="account.create", patient_id=patient.id,
                 account_id=account.id,
                 detail=f"user ID {destination}; temporary password expires "
                        f"{clock.spelled(expires, settings.zone(session=session))}")
    return account


def _connect_account(session: Session, patient: Patient, account: PortalAccount, requested_by: str,
                     actor: audit.Actor, as_whom: AsWhom) -> None:
    """Connect the chart (as `self`, or as staff confirmed) unless this account is connected to it already."""
    live = session.exec(select(PortalConnection).where(
        PortalConnection.account_id == account.id, PortalConnection.patient_id == patient.id,
        col(PortalConnection.revoked_at).is_(None))).first()
    if live is not None:
        # Nothing to connect, but the chart has its account: no invitation may stay live.
        tokens.revoke_live(session=session, purpose=SecretPurpose.INVITATION, patient_id=patient.id)
        audit.record(session=session, actor=actor, action="chart.connect", patient_id=patient.id,
                     account_id=account.id, detail=f"already connected (connection #{live.id})")
        return
    if as_whom.representative:
        connection = accounts.connect_chart(
            session=session, account=account, patient=patient, requested_by=requested_by,
            staff_id=actor.staff_user_id, field="address", access=AccessType.REPRESENTATIVE,
            relationship=as_whom.relationship, permissions=areas.REPRESENTATIVE_DEFAULT_AREAS)
        how = f"as authorized representative ({as_whom.relationship}), confirmed by staff"
    else:
        connection = accounts.connect_chart(session=session, account=account, patient=patient,
                                            requested_by=requested_by, staff_id=actor.staff_user_id,
                                            field="address")
        how = "as self"
    audit.record(session=session, actor=actor, action="chart.connect", patient_id=patient.id,
                 account_id=account.id,
                 detail=f"connection #{connection.id} {how}; requested by {requested_by}")


def _welcome(session: Session, config: PracticeSettings, patient: Patient, account: PortalAccount,
             channel: str, created: bool, actor: audit.Actor) -> str:
    """The welcome (new account) or connected (existing one) message. Returns sent, failed, or
    refused (the chart's consent for the channel was withdrawn after the token went)."""
    destination = account.user_id
    if not consent.allows(patient, channel, destination):
        audit.record(session=session, actor=actor, action="welcome.refused", patient_id=patient.id,
                     account_id=account.id, detail=f"not sent: no {channel} consent on the chart")
        return "refused"
    login_url = routes.portal_url(config.portal_base_url, routes.LOGIN)
    if created:
        rendered = templates.for_channel(channel, email_template=templates_connect.welcome_email,
                                         sms_template=templates_connect.welcome_sms, config=config,
                                         user_id=destination, login_url=login_url, days=config.connect_token_days,
                                         tries=temporary_passwords.TOKEN_PASSWORD_TRIES)
    else:
        rendered = templates.for_channel(channel, email_template=templates_connect.connected_email,
                                         sms_template=templates_connect.connected_sms, config=config,
                                         user_id=destination, login_url=login_url)
    message = outbox.send(session=session, channel=channel, kind="connect_welcome", to=destination,
                          rendered=rendered, patient_id=patient.id)
    status = message.status.value
    audit.record(session=session, actor=actor, action="welcome.failed" if status == "failed" else "welcome.sent",
                 patient_id=patient.id, account_id=account.id,
                 detail=f"message #{message.id} {status}")
    return "failed" if status == "failed" else "sent"


def connect_with_token(*, session: Session, patient_id: int, channel: str, address: str, token: str,
                       actor: audit.Actor, as_whom: AsWhom | None = None) -> ConnectResult:
    """Check the typed token; create (or find) the account and connect the chart as `self`, or
    as staff confirmed for an address that is another person's account.

    Raises:
        PortalUnavailable: the portal is switched off.
        InvalidInput: field "address" (bad or changed address, or an account with it created by
            someone else a moment ago) or "token" (wrong, expired, used, voided, badly formed);
            wrong tokens count, and the fifth voids it.
        OwnerConfirmNeeded: the address is another person's account and staff did not say how.
    """
    as_whom = as_whom or AsWhom()
    config = _active_config(session)
    patient = _enabled_patient(session, patient_id)
    destination = _destination(channel, address)
    row = _live_token(session, ident(patient))
    if row.channel != channel or row.destination != destination:
        raise InvalidInput(ADDRESS_CHANGED, field="address")
    length = token_length(config)
    typed = normalize_token(token, length=length)
    if not typed:
        raise InvalidInput(f"Enter the {length}-digit token the patient reads to you.", field="token")
    _check_typed_token(session, row, typed, patient, actor)

    account = accounts.account_by_user_id(session=session, user_id=destination)
    if account is not None and account.status == AccountStatus.DISABLED:
        raise InvalidInput(f"The portal account {destination} is disabled. Enable it before "
                           "connecting this chart.", field="address")
    _check_self_conflict(session, patient, destination, as_whom)
    _owner_check(session, patient, destination, as_whom)
    if account is not None and not as_whom.representative:
        accounts.check_self_allowed(session=session, account=account, patient=patient, field="owner")
    _spend(session, row, patient, destination, actor)
    created = account is None
    if account is None:
        account = _create_with_token(session, config, patient, destination, typed, actor)
    _connect_account(session, patient, account, row.requested_by, actor, as_whom)
    welcome = _welcome(session, config, patient, account, channel, created, actor)
    session.commit()
    return ConnectResult(user_id=destination, created=created, welcome_status=welcome,
                         representative=as_whom.representative)
