"""Connection keys: staff generate one for a chart; the patient creates an account with it.

A key is 12 characters from an alphabet without look-alikes (0/O, 1/I/L), shown grouped as
XXXX-XXXX-XXXX, typed in any case with or without dashes and spaces. Only the SHA-256 of its
normalized form is stored. The patient's path is `/setup?p=createAccount` -> a verification
link to the chosen user ID -> key -> last name and date of birth -> password -> signed in.
"""

from __future__ import annotations

import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import Session, col, func, select

from portal_app import routes
from portal_app.models import (
    AccessType,
    AccountStatus,
    AuditEvent,
    OneTimeSecret,
    OutboxMessage,
    Patient,
    PortalAccount,
    PortalConnection,
    SecretPurpose,
    SessionKind,
    ident,
)
from portal_app.notify import letters, templates, templates_keys
from portal_app.services import (
    accounts,
    areas,
    audit,
    clock,
    consent,
    invitations,
    outbox,
    passwords,
    sessions,
    settings,
    tokens,
)
from portal_app.services.errors import DomainError, Forbidden, InvalidInput, NotFound, PortalUnavailable
from portal_app.services.validation import clean_text, normalize_email, normalize_mobile, normalize_user_id, parse_dob

KEY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
KEY_LENGTH = 12
CHANNELS = ("email", "sms", "letter")
MAX_ATTEMPTS = tokens.MAX_ATTEMPTS
# A second "Create Account" for the same user ID within this window re-uses the link just sent.
RESEND_WINDOW = accounts.RESEND_WINDOW
# Wrong keys a signed-in account may try per hour ("Connect another chart").
MAX_WRONG_KEYS_PER_HOUR = 10

KEY_INVALID = "That key is not valid or has expired."
DETAILS_MISMATCH = "Those details do not match our records."
# Another request created the user ID, or connected the chart, between our check and our insert.
CREATED_MEANWHILE = ("An account with {user_id} was created in the meantime. Sign in with it, or use "
                     "\"Forgot password\".")
ALREADY_CONNECTED = "That chart is already connected to your account."
KEY_VOIDED = ("This key can no longer be used after too many tries. Please call the practice "
              "for a new one.")


class KeyInvalid(InvalidInput):
    def __init__(self, message: str = KEY_INVALID) -> None:
        super().__init__(message, field="key")


class DetailsMismatch(InvalidInput):
    """The details did not match; `tries_left` more wrong ones are allowed before the key dies."""

    def __init__(self, tries_left: int | None = None) -> None:
        message = DETAILS_MISMATCH
        if tries_left is not None:
            message += (f" {tries_left} {'try' if tries_left == 1 else 'tries'} left before this key "
                        "stops working.")
        super().__init__(message, field="details")
        self.tries_left = tries_left


# Whose chart the key is for, as the person redeeming it says.
WHOSE_SELF = "self"
WHOSE_CARED_FOR = "representative"
WHOSE_MISSING = "Say whether this is your own chart or the chart of someone you care for."
RELATIONSHIP_MISSING = "Choose your relationship to the patient."


@dataclass(frozen=True)
class Whose:
    """Whose chart: `access` and, for someone the person cares for, the relationship."""

    access: AccessType
    relationship: str = ""

    @property
    def permissions(self) -> str:
        return areas.ALL_AREAS if self.access == AccessType.SELF else areas.REPRESENTATIVE_DEFAULT_AREAS

    @property
    def label(self) -> str:
        return "self" if self.access == AccessType.SELF else f"authorized representative ({self.relationship})"


def whose_chart(whose: str | None, relationship: str | None) -> Whose:
    """The answer to "Whose chart is this?", checked.

    Raises:
        InvalidInput: field "whose" (no answer) or "relationship" (someone cared for, no relationship).
    """
    if whose == WHOSE_SELF:
        return Whose(AccessType.SELF)
    if whose != WHOSE_CARED_FOR:
        raise InvalidInput(WHOSE_MISSING, field="whose")
    if relationship not in accounts.RELATIONSHIPS:
        raise InvalidInput(RELATIONSHIP_MISSING, field="relationship")
    return Whose(AccessType.REPRESENTATIVE, relationship or "")


@dataclass(frozen=True)
class KeyIssued:
    key: str
    channel: str
    destination: str
    expires: str
    letter_pdf: bytes | None
    message_status: str
    message_id: int = 0


# --- the key itself ----------------------------------------------------------------------

def new_key() -> str:
    """A fresh key, grouped for reading: XXXX-XXXX-XXXX (about 59 random bits)."""
    raw = "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, KEY_LENGTH, 4))


def normalize_key(value: str | None) -> str:
    """Upper case, no dashes or whitespace, full-width folded; '' when it cannot be a key."""
    text = unicodedata.normalize("NFKC", (value or "")[:64]).upper()
    text = re.sub(r"[\s\-\u2010-\u2015]", "", text)
    if len(text) != KEY_LENGTH or any(c not in KEY_ALPHABET for c in text):
        return ""
    return text


def key_digest(value: str) -> str:
    return tokens.digest(normalize_key(value))


def _format_date(when) -> str:
    return f"{when:%B} {when.day}, {when.year}"


def _postal_lines(patient: Patient) -> list[str]:
    city_line = " ".join(p for p in (f"{patient.city}," if patient.city else "", patient.region,
                                      patient.postal_code) if p).strip().rstrip(",")
    return [line for line in (patient.address_line1.strip(), city_line) if line]


# --- staff: generate and send ------------------------------------------------------------

def postal_address_complete(patient: Patient) -> bool:
    """A key letter can be printed for the chart: a street line and a city/region/postal line."""
    return bool(patient.address_line1.strip()) and len(_postal_lines(patient)) >= 2


def _destination(patient: Patient, channel: str, address: str) -> str:
    if channel == "email":
        return normalize_email(address, field="address")
    if channel == "sms":
        return normalize_mobile(address, field="address")
    if not postal_address_complete(patient):
        raise InvalidInput("No complete postal address on file for a letter.", field="address")
    return ", ".join(_postal_lines(patient))[:254]


def _new_key_row(session: Session, patient: Patient, channel: str, destination: str, requested_by: str,
                 days: int, actor: audit.Actor) -> tuple[str, OneTimeSecret]:
    """A fresh key for the chart (older live ones voided), audited. Returns (plain key, row)."""
    voided = tokens.revoke_live(session=session, purpose=SecretPurpose.CONNECTION_KEY,
                                patient_id=patient.id)
    key = new_key()
    while session.exec(select(OneTimeSecret.id).where(
            OneTimeSecret.secret_hash == key_digest(key))).first() is not None:
        key = new_key()  # a collision is astronomically unlikely, but the column is unique
    now = clock.now()
    row = OneTimeSecret(purpose=SecretPurpose.CONNECTION_KEY, secret_hash=key_digest(key),
                        patient_id=patient.id, channel=channel, destination=destination,
                        requested_by=requested_by, created_by_staff_id=actor.staff_user_id,
                        created_at=now, expires_at=now + timedelta(days=days))
    session.add(row)
    session.flush()
    audit.record(session=session, actor=actor, action="key.generate", patient_id=patient.id,
                 detail=f"key #{row.id} by {channel} to {destination}; expires {_format_date(row.expires_at)}; "
                        f"requested by {requested_by}; older keys voided={voided}")
    if voided:
        audit.record(session=session, actor=actor, action="key.void", patient_id=patient.id,
                     detail=f"{voided} older key(s) replaced by key #{row.id}")
    return key, row


def _key_message(config, patient: Patient, channel: str, key: str,
                 expires: str, letter_date: str) -> tuple[templates.Rendered, bytes | None]:
    """What carries the key: a printed letter (PDF), an email or a text message."""
    link = routes.setup_url(config.portal_base_url, routes.SetupStep.CREATE_ACCOUNT)
    if channel == "letter":
        letter_pdf = letters.connection_key_letter(
            practice=config.practice_name, phone=config.practice_phone,
            letter_date=letter_date, patient_name=f"{patient.first_name} {patient.last_name}",
            address_lines=_postal_lines(patient), key=key, link=link, expires=expires)
        return templates.Rendered(
            subject=f"Connection key letter for {patient.first_name} {patient.last_name}",
            text="A printed connection-key letter (PDF attached).", html=""), letter_pdf
    if channel == "email":
        return templates_keys.connection_key_email(
            practice=config.practice_name, phone=config.practice_phone,
            first_name=patient.first_name, key=key, link=link, expires=expires), None
    return templates_keys.connection_key_sms(practice=config.practice_name, key=key,
                                             link=link, expires=expires), None


def generate_key(*, session: Session, patient_id: int, channel: str, address: str,
                 requested_by: str, actor: audit.Actor, download_now: bool = False) -> KeyIssued:
    """Make a connection key for a chart and send it (email, text) or print it (letter).

    Older live keys of the chart are voided. The plain key is returned once (to show staff)
    and never stored. A letter's PDF is kept in the outbox until its one download; with
    `download_now` the caller hands it over at once and the outbox keeps no copy.

    Raises:
        PortalUnavailable: the portal is switched off (nothing is sent).
        InvalidInput: access not enabled, bad channel or address, missing Requested By, the
            chart's own email or mobile without its consent for the channel (field "channel").
    """
    config = settings.get(session=session)
    if not config.portal_active:
        raise PortalUnavailable()
    patient = accounts.get_patient(session=session, patient_id=patient_id)
    if not patient.portal_enabled:
        raise InvalidInput("Portal access is not enabled for this patient. Enable it first.")
    if channel not in CHANNELS:
        raise InvalidInput("Choose email, text message or letter.", field="channel")
    requested_by = clean_text(requested_by, field="requested_by", label="Requested By",
                              required=True)
    destination = _destination(patient, channel, address)
    consent.require(patient, channel, destination, field="channel")
    days = config.letter_key_days if channel == "letter" else config.key_days
    key, row = _new_key_row(session, patient, channel, destination, requested_by, days, actor)
    zone = settings.zone(session=session)
    expires = clock.spelled(row.expires_at, zone)
    rendered, letter_pdf = _key_message(config, patient, channel, key, expires,
                                        clock.spelled(clock.now(), zone, with_time=False))
    # A letter's key is in its PDF only (never in `pending_secrets`): the PDF goes at its download.
    message = outbox.send(session=session, channel=channel, kind="connection_key",
                          to=destination, rendered=rendered, patient_id=patient.id,
                          secrets_in_body=() if channel == "letter" else (key,))
    if letter_pdf is not None:
        message.attachment = letter_pdf
    session.add(message)
    if letter_pdf is not None and download_now:
        session.flush()
        outbox.letter_handed_out(session=session, message_id=ident(message), actor=actor)
    status = message.status.value
    action = "key.printed" if channel == "letter" else (
        "key.failed" if status == "failed" else "key.sent")
    audit.record(session=session, actor=actor, action=action, patient_id=patient.id,
                 detail=f"key #{row.id}; message #{message.id} {status}")
    session.commit()
    return KeyIssued(key=key, channel=channel, destination=destination, expires=expires,
                     letter_pdf=letter_pdf, message_status=status, message_id=ident(message))


NOT_A_KEY_LETTER = "That message is not a connection key letter."


def reprint_letter(*, session: Session, message_id: int, actor: audit.Actor) -> tuple[str, bytes]:
    """A key letter printed again: a new key (the old one is voided), its PDF handed over at
    once and not kept. Needs Outbox Secrets (the caller's handler checks key issuing).

    Returns:
        (file name, PDF bytes).

    Raises:
        NotFound: not a connection key letter of a chart.
        Forbidden: without Outbox Secrets.
        InvalidInput, PortalUnavailable: as `generate_key` (access off, no postal address).
    """
    message = session.get(OutboxMessage, message_id)
    if message is None or message.channel != "letter" or message.kind != "connection_key" \
            or message.patient_id is None:
        raise NotFound(NOT_A_KEY_LETTER)
    if not outbox.may_see_secrets(session=session, staff_user_id=actor.staff_user_id):
        raise Forbidden(outbox.SECRETS_NEEDED)
    asked = session.exec(select(OneTimeSecret.requested_by).where(
        OneTimeSecret.patient_id == message.patient_id, OneTimeSecret.purpose == SecretPurpose.CONNECTION_KEY,
        OneTimeSecret.channel == "letter").order_by(col(OneTimeSecret.id).desc())).first()
    audit.record(session=session, actor=actor, action="key.reprint", patient_id=message.patient_id,
                 detail=f"letter message #{message.id} printed again with a new key; the old key is void")
    issued = generate_key(session=session, patient_id=message.patient_id, channel="letter", address="",
                          requested_by=asked or "Reprint from the outbox", actor=actor, download_now=True)
    chart = session.get(Patient, message.patient_id)
    return f"connection-key-{chart.chart_number if chart else message.patient_id}.pdf", issued.letter_pdf or b""


# --- patient: create an account with a key --------------------------------------------------

def _require_portal(session: Session):
    config = settings.get(session=session)
    if not config.portal_active:
        raise PortalUnavailable()
    return config


def contact_user_id(value: str | None) -> str:
    """A user ID we can send to: an email address, or a number that can receive texts.

    Raises:
        InvalidInput: with field "user_id".
    """
    user_id = normalize_user_id(value, field="user_id")
    if "@" not in user_id:
        user_id = normalize_mobile(user_id, field="user_id")
    return user_id


def _refused_by_a_chart(session: Session, user_id: str, channel: str) -> bool:
    """Whether `user_id` is the own email or mobile of a chart that has not agreed to that
    channel. The page answers the same either way (it must not tell whether a chart exists)."""
    column = Patient.email_lower if channel == "email" else Patient.mobile_phone
    charts = session.exec(select(Patient).where(column == user_id).limit(20))
    return any(not consent.allows(chart, channel, user_id) for chart in charts)


def _notice_account_exists(session: Session, config, account: PortalAccount, channel: str,
                           actor: audit.Actor) -> None:
    """The user ID has an account: offer sign-in and password reset instead of a new one."""
    if _refused_by_a_chart(session, account.user_id, channel):
        audit.record(session=session, actor=actor, action="account.create_requested", account_id=account.id,
                     detail=f"account exists: no notice sent (a chart with this {channel} does not allow it)")
        return
    rendered = templates.for_channel(
        channel, email_template=templates_keys.account_exists_email,
        sms_template=templates_keys.account_exists_sms, config=config,
        sign_in_link=routes.portal_url(config.portal_base_url, routes.LOGIN),
        forgot_link=routes.portal_url(config.portal_base_url, routes.FORGOT))
    message = outbox.send(session=session, channel=channel, kind="account_exists",
                          to=account.user_id, rendered=rendered)
    audit.record(session=session, actor=actor, action="account.create_requested",
                 account_id=account.id,
                 detail=f"account exists: notice message #{message.id} {message.status.value}")


def _send_verification(session: Session, config, user_id: str, channel: str, voided: int,
                       actor: audit.Actor) -> None:
    """A link proving the user ID reaches the person (the first step of creating an account)."""
    if _refused_by_a_chart(session, user_id, channel):
        audit.record(session=session, actor=actor, action="account.create_requested",
                     detail=f"no verification sent: a chart with this {channel} does not allow it")
        return
    lifetime = timedelta(minutes=config.verification_minutes)
    plain, secret = tokens.issue(session=session, purpose=SecretPurpose.CONTACT_VERIFICATION,
                                 lifetime=lifetime, channel=channel, destination=user_id)
    link = routes.setup_url(config.portal_base_url, routes.SetupStep.VERIFY, token=plain)
    valid_for = templates.describe_lifetime(lifetime.total_seconds() / 3600)
    rendered = templates.for_channel(channel, email_template=templates_keys.verification_email,
                                     sms_template=templates_keys.verification_sms, config=config,
                                     link=link, valid_for=valid_for)
    message = outbox.send(session=session, channel=channel, kind="verification", to=user_id,
                          rendered=rendered, secrets_in_body=(plain,))
    audit.record(session=session, actor=actor, action="account.create_requested",
                 detail=f"verification link #{secret.id} by {channel}: message #{message.id} "
                        f"{message.status.value}; older links voided={voided}")


def start_create_account(*, session: Session, user_id: str, ip: str = "") -> str:
    """"Create Account": send a verification link to the user ID (or, when an account with it
    exists, a note offering sign-in and password reset). The caller shows the same answer in
    both cases.

    Returns:
        The normalized user ID (to show: "We sent a message to ...").

    Raises:
        InvalidInput: the user ID is not an email address or a mobile number (field user_id).
        PortalUnavailable: the portal is switched off.
    """
    user_id = contact_user_id(user_id)
    channel = "email" if "@" in user_id else "sms"
    config = _require_portal(session)
    actor = audit.Actor.anonymous(user_id, ip)
    live = select(OneTimeSecret).where(
        OneTimeSecret.purpose == SecretPurpose.CONTACT_VERIFICATION,
        OneTimeSecret.destination == user_id,
        col(OneTimeSecret.used_at).is_(None), col(OneTimeSecret.revoked_at).is_(None))
    if session.exec(live.where(OneTimeSecret.created_at > clock.now() - RESEND_WINDOW)).first():
        return user_id  # a double click: the message just sent is the answer
    existing = accounts.account_by_user_id(session=session, user_id=user_id)
    if existing is not None:
        _notice_account_exists(session, config, existing, channel, actor)
    else:
        voided = 0
        for row in session.exec(live):
            row.revoked_at = clock.now()
            session.add(row)
            voided += 1
        _send_verification(session, config, user_id, channel, voided, actor)
    session.commit()
    return user_id


def verification_minutes(*, session: Session) -> int:
    """How long a verification link works (for the page's "within N minutes")."""
    return settings.get(session=session).verification_minutes


def _live_verification(session: Session, token: str | None) -> OneTimeSecret:
    row = tokens.find_live(session=session, plain=token,
                           purposes=(SecretPurpose.CONTACT_VERIFICATION,))
    if row is None or row.attempts >= MAX_ATTEMPTS:
        raise invitations.LinkInvalid()
    return row


def inspect_verification(*, session: Session, token: str | None) -> str:
    """The user ID a live verification link was sent to. Raises LinkInvalid otherwise."""
    _require_portal(session)
    return _live_verification(session, token).destination


def _live_key(session: Session, key: str | None) -> tuple[OneTimeSecret, Patient] | None:
    normalized = normalize_key(key)
    if not normalized:
        return None
    row = tokens.find_live(session=session, plain=normalized,
                           purposes=(SecretPurpose.CONNECTION_KEY,))
    if row is None or row.patient_id is None or row.attempts >= MAX_ATTEMPTS:
        return None
    if not hmac.compare_digest(row.secret_hash, key_digest(normalized)):
        return None
    patient = session.get(Patient, row.patient_id)
    if patient is None or not patient.portal_enabled:
        return None
    return row, patient


def check_key(*, session: Session, token: str | None, key: str, ip: str = "") -> None:
    """The "Connection key" step: is the key live? Wrong keys count against the link.

    Raises:
        LinkInvalid: the verification link is dead (or died with this fifth wrong key).
        KeyInvalid: the key is wrong, used, voided or expired.
    """
    _require_portal(session)
    link = _live_verification(session, token)
    found = _live_key(session, key)
    if found is not None:
        if found[0].opened_at is None:
            invitations.record_opened(session=session, row=found[0],
                                      actor=audit.Actor.anonymous(link.destination, ip))
            session.commit()
        return
    voided = tokens.count_wrong_try(session=session, row=link)
    detail = f"wrong key on verification link #{link.id} ({link.attempts} of {MAX_ATTEMPTS})"
    if voided:
        detail += "; link voided"
    audit.record(session=session, actor=audit.Actor.anonymous(link.destination, ip),
                 action="key.failed", detail=detail)
    session.commit()
    if voided:
        raise invitations.LinkInvalid()
    raise KeyInvalid()


def _names_match(a: str, b: str) -> bool:
    def fold(value: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", value or "").split()).casefold()
    return hmac.compare_digest(fold(a).encode(), fold(b).encode())


def _check_details(session: Session, row: OneTimeSecret, patient: Patient, *, last_name: str,
                   dob: str, actor: audit.Actor) -> None:
    """Last name and date of birth against the key's chart; a mismatch counts on the key."""
    errors: dict[str, str] = {}
    last = (last_name or "").strip()
    if not last:
        errors["last_name"] = "Enter your last name."
    birth: date | None = None
    try:
        birth = parse_dob(dob, field="dob")
    except InvalidInput as exc:
        errors["dob"] = exc.message
    if errors:  # a typing slip, not a guess: no attempt counted
        field, message = next(iter(errors.items()))
        raise InvalidInput(message, field=field)
    if _names_match(last, patient.last_name) and birth == patient.dob:
        return
    voided = tokens.count_wrong_try(session=session, row=row)
    detail = f"details did not match for key #{row.id} ({row.attempts} of {MAX_ATTEMPTS})"
    if voided:
        detail += "; key voided"
    audit.record(session=session, actor=actor, action="key.details_failed",
                 patient_id=patient.id, detail=detail)
    if voided:
        audit.record(session=session, actor=actor, action="key.void", patient_id=patient.id,
                     detail=f"key #{row.id}: too many wrong details")
    session.commit()
    if voided:
        raise KeyInvalid(KEY_VOIDED)
    raise DetailsMismatch(tries_left=max(0, MAX_ATTEMPTS - row.attempts))


def verify_details(*, session: Session, token: str | None, key: str, last_name: str, dob: str,
                   whose: str = "", relationship: str = "", ip: str = "") -> None:
    """The "Verify your details" step: the chart's details, and whose chart it is.

    Raises:
        LinkInvalid, KeyInvalid, DetailsMismatch; InvalidInput (field whose or relationship).
    """
    _require_portal(session)
    link = _live_verification(session, token)
    found = _live_key(session, key)
    if found is None:
        raise KeyInvalid()
    row, patient = found
    whose_chart(whose, relationship)
    _check_details(session, row, patient, last_name=last_name, dob=dob,
                   actor=audit.Actor.anonymous(link.destination, ip))


def _refuse_second_self(session: Session, patient_id: int, whose: Whose) -> None:
    """A chart has one `self` account. (Asked only after key and details matched.)"""
    if whose.access != AccessType.SELF:
        return
    if accounts.self_account(session=session, patient_id=patient_id) is not None:
        raise InvalidInput("This chart already has its own portal account. Sign in with it, or use "
                           "\"Forgot password\" on the sign-in page.", field="key")


def finish_create_account(*, session: Session, token: str | None, key: str, last_name: str,
                          dob: str, password: str, confirm: str, whose: str = "", relationship: str = "",
                          ip: str = "") -> str:
    """"Finish": re-check link, key and details; create the account, connect the chart as
    `self` or, for someone the person cares for, as their representative (with the areas
    representatives get by default), use up the key and link, and sign in. One transaction.

    Returns:
        The new portal session id.
    """
    config = _require_portal(session)
    link = _live_verification(session, token)
    found = _live_key(session, key)
    if found is None:
        raise KeyInvalid()
    row, patient = found
    user_id = link.destination
    chosen = whose_chart(whose, relationship)
    _check_details(session, row, patient, last_name=last_name, dob=dob,
                   actor=audit.Actor.anonymous(user_id, ip))
    _refuse_second_self(session, ident(patient), chosen)
    if accounts.account_by_user_id(session=session, user_id=user_id) is not None:
        raise InvalidInput(CREATED_MEANWHILE.format(user_id=user_id), field="form")
    passwords.check_password(password, confirm=confirm, personal=(
        patient.first_name, patient.last_name, patient.email_lower, user_id,
        config.practice_name))
    account = accounts.create_account(session=session, user_id=user_id, password=password, verified=True,
                                      signed_in=True, field="form", taken_message=CREATED_MEANWHILE)
    connection = accounts.connect_chart(session=session, account=account, patient=patient,
                                        requested_by=row.requested_by or "patient (connection key)",
                                        access=chosen.access, relationship=chosen.relationship,
                                        permissions=chosen.permissions, field="form")
    tokens.consume(session=session, row=row)
    tokens.consume(session=session, row=link)
    actor = audit.Actor.portal(ident(account), ip)
    audit.record(session=session, actor=actor, action="key.redeem", patient_id=patient.id,
                 account_id=account.id, detail=f"key #{row.id}")
    audit.record(session=session, actor=actor, action="account.create", patient_id=patient.id,
                 account_id=account.id,
                 detail=f"user ID {user_id} (verified by link #{link.id}); with key #{row.id}")
    audit.record(session=session, actor=actor, action="chart.connect", patient_id=patient.id,
                 account_id=account.id, detail=f"connection #{connection.id} as {chosen.label}")
    plain = sessions.start(session=session, kind=SessionKind.PORTAL, portal_account_id=account.id,
                           ip=ip)
    audit.record(session=session, actor=actor, action="portal.sign_in", patient_id=patient.id,
                 account_id=account.id)
    session.commit()
    return plain


def request_fresh_verification(*, session: Session, token: str | None, ip: str = "") -> None:
    """From a dead verification link: a fresh one to the same user ID, if that is possible."""
    row = tokens.find_any(session=session, plain=token)
    if row is None or row.purpose != SecretPurpose.CONTACT_VERIFICATION or not row.destination:
        return
    try:
        start_create_account(session=session, user_id=row.destination, ip=ip)
    except DomainError:
        session.rollback()


# --- a signed-in patient connects another chart ----------------------------------------------

def connect_another_chart(*, session: Session, account_id: int, key: str, last_name: str,
                          dob: str, whose: str = "", relationship: str = "", ip: str = "") -> str:
    """Connect the key's chart to a signed-in account: as `self`, or as the representative of
    someone the person cares for (with the areas representatives get by default). A child's
    chart is never `self` on an adult's account whose own chart is another person.

    Returns:
        The connected chart's name, for the confirmation.

    Raises:
        KeyInvalid, DetailsMismatch, InvalidInput (already connected, too many tries).
    """
    _require_portal(session)
    account = session.get(PortalAccount, account_id)
    if account is None or account.status != AccountStatus.ACTIVE:
        raise InvalidInput("Please sign in again.", field="form")
    actor = audit.Actor.portal(ident(account), ip)
    since = clock.now() - timedelta(hours=1)
    wrong = session.exec(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.portal_account_id == account.id, AuditEvent.action == "key.failed",
        AuditEvent.at > since)).one()
    if wrong >= MAX_WRONG_KEYS_PER_HOUR:
        raise KeyInvalid("Too many keys were tried. Please wait an hour, or call the practice.")
    chosen = whose_chart(whose, relationship)
    found = _live_key(session, key)
    if found is None:
        audit.record(session=session, actor=actor, action="key.failed", account_id=account.id,
                     detail="wrong key (connect another chart)")
        session.commit()
        raise KeyInvalid()
    row, patient = found
    _check_details(session, row, patient, last_name=last_name, dob=dob, actor=actor)
    already = session.exec(select(PortalConnection.id).where(
        PortalConnection.account_id == account.id, PortalConnection.patient_id == patient.id,
        col(PortalConnection.revoked_at).is_(None))).first()
    if already is not None:
        raise InvalidInput(ALREADY_CONNECTED, field="key")
    _refuse_second_self(session, ident(patient), chosen)
    if chosen.access == AccessType.SELF:
        accounts.check_self_allowed(session=session, account=account, patient=patient, field="whose")
    connection = accounts.connect_chart(session=session, account=account, patient=patient,
                                        requested_by=row.requested_by or "patient (connection key)",
                                        access=chosen.access, relationship=chosen.relationship,
                                        permissions=chosen.permissions, field="key",
                                        taken_message=ALREADY_CONNECTED)
    tokens.consume(session=session, row=row)
    audit.record(session=session, actor=actor, action="key.redeem", patient_id=patient.id,
                 account_id=account.id, detail=f"key #{row.id}")
    audit.record(session=session, actor=actor, action="chart.connect", patient_id=patient.id,
                 account_id=account.id, detail=f"connection #{connection.id} as {chosen.label}")
    session.commit()
    return f"{patient.first_name} {patient.last_name}"
