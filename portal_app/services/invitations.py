"""Invitation and password-reset links: sending, redeeming, and asking for a fresh one."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import Session, col, select

from portal_app import routes
from portal_app.models import (
    AccountStatus,
    ChartAccountState,
    OneTimeSecret,
    OutboxMessage,
    Patient,
    PortalAccount,
    PracticeSettings,
    SecretPurpose,
    SessionKind,
    ident,
)
from portal_app.notify import templates
from portal_app.services import (
    accounts,
    audit,
    clock,
    consent,
    link_checks,
    outbox,
    passwords,
    sessions,
    settings,
    tokens,
)
from portal_app.services.errors import DomainError, FormInvalid, InvalidInput, PortalUnavailable
from portal_app.services.second_factor import enrolled as has_second_factor
from portal_app.services.validation import normalize_email, normalize_user_id, parse_dob

RESEND_WINDOW = accounts.RESEND_WINDOW
LINK_PURPOSES = (SecretPurpose.INVITATION, SecretPurpose.PASSWORD_RESET)
USER_ID_IN_USE = link_checks.USER_ID_IN_USE


class LinkInvalid(DomainError):
    def __init__(self) -> None:
        super().__init__("This link has expired or has already been used.")


class SendKind(str, enum.Enum):
    INVITATION = "invitation"
    RESET = "reset"


@dataclass(frozen=True)
class SendResult:
    kind: SendKind
    to: str
    status: str  # sent, failed, already_sent
    message: str


def _patient_for_link(session: Session, patient_id: int) -> Patient:
    patient = accounts.get_patient(session=session, patient_id=patient_id)
    if not patient.portal_enabled:
        raise InvalidInput("Portal access is not enabled for this patient. Enable it first.")
    if not patient.email:
        raise InvalidInput("No email on file.", field="email")
    consent.require(patient, consent.EMAIL, field="email")
    return patient


def send_invitation_or_reset(*, session: Session, patient_id: int, actor: audit.Actor) -> SendResult:
    """Send an invitation (no account yet) or a reset link (account exists) to the email on file.

    Raises:
        PortalUnavailable: the practice has switched the portal off.
        InvalidInput: access not enabled, no email, email not allowed, account disabled.
    """
    config = settings.get(session=session)
    if not config.portal_active:
        raise PortalUnavailable()
    patient = _patient_for_link(session, patient_id)
    account = accounts.self_account(session=session, patient_id=ident(patient))
    if account is not None and account.status == AccountStatus.DISABLED:
        raise InvalidInput("This patient's portal account is disabled.")
    kind = SendKind.RESET if account is not None else SendKind.INVITATION
    purpose = SecretPurpose.PASSWORD_RESET if account else SecretPurpose.INVITATION
    recent = session.exec(select(OneTimeSecret).where(
        OneTimeSecret.patient_id == patient.id, OneTimeSecret.purpose == purpose,
        col(OneTimeSecret.used_at).is_(None), col(OneTimeSecret.revoked_at).is_(None),
        OneTimeSecret.created_at > clock.now() - RESEND_WINDOW)).first()
    label = "Invitation" if kind == SendKind.INVITATION else "Password reset email"
    if recent is not None:
        return SendResult(kind, patient.email, "already_sent",
                          f"{label} was just sent to {patient.email}.")
    if account is None:
        message, secret = _send_invitation(session, config, patient, actor)
    else:
        sent = accounts.send_password_link(session=session, account=account, patient=patient,
                                           to=patient.email, destination=patient.email_lower,
                                           first_name=patient.first_name, setup=False, actor=actor)
        message, secret = sent.message, sent.secret
    if kind == SendKind.INVITATION and patient.account_state == ChartAccountState.NONE:
        patient.account_state = ChartAccountState.INVITED
        session.add(patient)
    audit.record(session=session, actor=actor, action=f"{kind.value}.send", patient_id=patient.id,
                 account_id=account.id if account else None,
                 detail=f"message #{message.id} {message.status.value}; link #{secret.id}")
    session.commit()
    if message.status.value == "failed":
        return SendResult(kind, patient.email, "failed",
                          f"{label} to {patient.email} could not be sent; it is in the outbox to retry.")
    return SendResult(kind, patient.email, "sent", f"{label} sent to {patient.email}.")


def _send_invitation(session: Session, config: PracticeSettings, patient: Patient,
                     actor: audit.Actor) -> tuple[OutboxMessage, OneTimeSecret]:
    """An invitation (the chart has no account yet) to the chart's email."""
    consent.require(patient, consent.EMAIL, field="email")
    lifetime = timedelta(hours=config.invitation_hours)
    plain, secret = tokens.issue(session=session, purpose=SecretPurpose.INVITATION, lifetime=lifetime,
                                 patient_id=patient.id, destination=patient.email_lower,
                                 staff_id=actor.staff_user_id)
    rendered = templates.invitation(
        practice=config.practice_name, phone=config.practice_phone, first_name=patient.first_name,
        link=routes.setup_url(config.portal_base_url, routes.SetupStep.INVITE, token=plain),
        valid_for=templates.describe_lifetime(lifetime.total_seconds() / 3600))
    message = outbox.send(session=session, channel="email", kind=SendKind.INVITATION.value,
                          to=patient.email, rendered=rendered, patient_id=patient.id,
                          secrets_in_body=(plain,))
    return message, secret


@dataclass(frozen=True)
class LinkInfo:
    purpose: str  # invitation or reset
    first_name: str
    suggested_user_id: str
    # A reset-purpose link for an account that never had a password (a representative's set-up
    # link): the page asks for "your password", not a "new" one.
    first_password: bool = False


def record_opened(*, session: Session, row: OneTimeSecret, actor: audit.Actor) -> None:
    """The patient opened this link (or typed this key and it matched). The first time sets
    the secret's `opened_at` and audits "link.opened" (the adoption board's "link opened");
    later visits change nothing. The caller commits."""
    if row.opened_at is not None:
        return
    row.opened_at = clock.now()
    session.add(row)
    audit.record(session=session, actor=actor, action="link.opened", patient_id=row.patient_id,
                 account_id=row.account_id, detail=f"link #{row.id}: {row.purpose.value} by {row.channel}")


def inspect_link(*, session: Session, token: str | None, purpose: SecretPurpose, ip: str = "") -> LinkInfo:
    """What the form of a live invitation or reset link shows; its first opening is recorded.

    Raises:
        LinkInvalid: unknown, used, voided or expired, or the chart's access is off.
    """
    row = tokens.find_live(session=session, plain=token, purposes=(purpose,))
    if row is None or row.patient_id is None:
        raise LinkInvalid()
    patient = session.get(Patient, row.patient_id)
    if patient is None or not patient.portal_enabled:
        raise LinkInvalid()
    account = session.get(PortalAccount, row.account_id) if row.account_id else None
    info = LinkInfo(purpose=purpose.value, first_name=account.first_name if account and account.first_name
                    else patient.first_name,
                    suggested_user_id=account.user_id if account else patient.email_lower,
                    first_password=account is not None and account.password_hash is None)
    if row.opened_at is None:
        record_opened(session=session, row=row, actor=audit.Actor.anonymous(f"{purpose.value} link", ip))
        session.commit()
    return info


def _personal(patient: Patient, practice: str, *extra: str) -> tuple[str, ...]:
    return (patient.first_name, patient.last_name, patient.email_lower, practice, *extra)


def redeem_invitation(*, session: Session, token: str | None, user_id: str, password: str,
                      confirm: str, ip: str = "") -> str:
    """Create the account from an invitation, connect it as `self`, and sign it in.

    Returns:
        The new portal session id.
    """
    config = settings.get(session=session)
    if not config.portal_active:
        raise PortalUnavailable()
    row = tokens.find_live(session=session, plain=token, purposes=(SecretPurpose.INVITATION,))
    patient = session.get(Patient, row.patient_id) if row and row.patient_id else None
    if row is None or patient is None or not patient.portal_enabled:
        raise LinkInvalid()
    if accounts.self_account(session=session, patient_id=ident(patient)) is not None:
        raise LinkInvalid()
    user_id = normalize_user_id(user_id)
    # "In use" says someone has an account here: counted against the link, and limited.
    link_checks.check_free(session=session, row=row, user_id=user_id, phone=config.practice_phone, ip=ip)
    passwords.check_password(password, confirm=confirm,
                             personal=_personal(patient, config.practice_name, user_id))
    account = accounts.create_account(session=session, user_id=user_id, password=password,
                                      verified=user_id == patient.email_lower, signed_in=True,
                                      taken_message=USER_ID_IN_USE)
    tokens.consume(session=session, row=row)  # used, before connecting voids the chart's live invitations
    accounts.connect_chart(session=session, account=account, patient=patient,
                           requested_by="patient (invitation)", field="user_id")
    actor = audit.Actor.portal(ident(account), ip)
    audit.record(session=session, actor=actor, action="account.create", patient_id=patient.id,
                 account_id=account.id, detail=f"user ID {user_id}; from invitation link #{row.id}")
    plain = sessions.start(session=session, kind=SessionKind.PORTAL, portal_account_id=account.id, ip=ip)
    audit.record(session=session, actor=actor, action="portal.sign_in", patient_id=patient.id,
                 account_id=account.id)
    session.commit()
    return plain


def redeem_reset(*, session: Session, token: str | None, password: str, confirm: str,
                 ip: str = "") -> str:
    """Set a new password from a reset link; every other session of the account ends.

    Returns the new session id, or "" for an account with two-step verification (no session:
    they sign in with the new password and their code)."""
    config = settings.get(session=session)
    if not config.portal_active:
        raise PortalUnavailable()
    row = tokens.find_live(session=session, plain=token, purposes=(SecretPurpose.PASSWORD_RESET,))
    account = session.get(PortalAccount, row.account_id) if row and row.account_id else None
    patient = session.get(Patient, row.patient_id) if row and row.patient_id else None
    if row is None or account is None or account.status == AccountStatus.DISABLED or (
            patient is not None and not patient.portal_enabled):
        raise LinkInvalid()
    personal = _personal(patient, config.practice_name, account.user_id) if patient else (account.user_id,)
    passwords.check_password(password, confirm=confirm, personal=personal)
    if passwords.verify_password(password, account.password_hash):
        raise InvalidInput("Choose a password different from your current one.", field="password")
    accounts.set_password(session=session, account=account, password=password)
    account.last_sign_in_at = clock.now()  # signed in just below
    tokens.consume(session=session, row=row)
    tokens.revoke_live(session=session, account_id=account.id)
    ended = sessions.end_all(session=session, portal_account_id=account.id)
    actor = audit.Actor.portal(ident(account), ip)
    audit.record(session=session, actor=actor, action="account.password_reset",
                 patient_id=row.patient_id, account_id=account.id,
                 detail=f"reset link #{row.id}; other sessions ended={ended}")
    if has_second_factor(session=session, portal_account_id=ident(account)):
        # The link proves the mailbox, not the phone: sign in with the new password and the code.
        session.commit()
        return ""
    plain = sessions.start(session=session, kind=SessionKind.PORTAL, portal_account_id=account.id, ip=ip)
    audit.record(session=session, actor=actor, action="portal.sign_in", patient_id=row.patient_id,
                 account_id=account.id)
    session.commit()
    return plain


def _check_form(value: str, dob: str, *, field: str, normalize) -> tuple[str, date]:
    errors: dict[str, str] = {}
    normalized, birth = "", date.min
    try:
        normalized = normalize(value, field=field)
    except InvalidInput as exc:
        errors[field] = exc.message
    try:
        birth = parse_dob(dob, field="dob")
    except InvalidInput as exc:
        errors["dob"] = exc.message
    if errors:
        raise FormInvalid(errors)
    return normalized, birth


def check_self_service_request(*, user_id: str, dob: str) -> tuple[str, date]:
    """Format checks for the self-service form: an email or a mobile number, and a date of birth
    (they reveal nothing about accounts).

    Returns:
        The normalized user ID (lower-case email or E.164 phone) and the date of birth.

    Raises:
        FormInvalid: with a message per field ("user_id", "dob").
    """
    return _check_form(user_id, dob, field="user_id", normalize=normalize_user_id)


def request_link(*, session: Session, user_id: str, dob: str, ip: str = "") -> None:
    """"Forgot password" / "Set up or reset my account" with an email or a mobile number: an
    email goes the way of `request_by_email_and_dob`, a phone number the way of
    `request_by_phone_and_dob`. Callers answer the user before this runs."""
    normalized, _birth = check_self_service_request(user_id=user_id, dob=dob)
    if "@" in normalized:
        request_by_email_and_dob(session=session, email=normalized, dob=dob, ip=ip)
    else:
        request_by_phone_and_dob(session=session, phone=normalized, dob=dob, ip=ip)


def request_by_email_and_dob(*, session: Session, email: str, dob: str, ip: str = "") -> None:
    """"Forgot password" / "Set up or reset my account": same outcome on screen in every case.

    Sends an invitation or reset to the address on file when a chart with portal access
    enabled has that email and date of birth. Callers answer the user before this runs,
    so its duration tells nothing either.
    """
    email, birth = _check_form(email, dob, field="email", normalize=normalize_email)
    if not settings.get(session=session).portal_active:
        raise PortalUnavailable()
    matches = list(session.exec(select(Patient).where(
        Patient.email_lower == email, Patient.dob == birth,
        col(Patient.portal_enabled).is_(True)).limit(5)))
    actor = audit.Actor.anonymous(email, ip)
    for patient in matches:
        try:
            send_invitation_or_reset(session=session, patient_id=ident(patient), actor=actor)
        except DomainError:
            session.rollback()
    # An account whose user ID is this email but not the chart's email (a representative's own).
    by_account = _link_to_user_id(session, email, birth, actor)
    audit.record(session=session, actor=actor, action="portal.self_service_request",
                 detail=f"charts matched={len(matches)}; {by_account}")
    session.commit()


def _account_chart(session: Session, user_id: str, birth: date) -> tuple[PortalAccount, Patient] | None:
    """The account with this user ID, and one of its charts (portal access on) with this date of
    birth; None when there is no such pair or the account is disabled."""
    account = accounts.account_by_user_id(session=session, user_id=user_id)
    if account is None or account.status == AccountStatus.DISABLED or account.deleted_at is not None:
        return None
    for connection in accounts.live_connections_of(session=session, account_id=ident(account)):
        patient = session.get(Patient, connection.patient_id)
        if patient is not None and patient.portal_enabled and patient.dob == birth:
            return account, patient
    return None


def _link_to_user_id(session: Session, user_id: str, birth: date, actor: audit.Actor) -> str:
    """A link to choose a password, sent to the user ID itself (a text to a phone number, an email
    to an email address) when the account has a chart with portal access and that date of birth,
    the chart agreed to that channel at that address (its own email or mobile; another address
    is the account holder's own), and no link went to the account within the last minute.

    Returns:
        What happened, for the audit record (never shown).
    """
    found = _account_chart(session, user_id, birth)
    if found is None:
        return "account matched=0"
    account, patient = found
    channel = consent.EMAIL if "@" in user_id else consent.SMS
    if not consent.allows(patient, channel, user_id):
        return f"account matched=1; no consent to {channel}"
    if accounts.link_just_sent(session=session, account_id=ident(account)):
        return "account matched=1; link just sent"
    sent = accounts.send_password_link(session=session, account=account, patient=patient, to=user_id,
                                       channel=channel, setup=account.password_hash is None, actor=actor)
    audit.record(session=session, actor=actor, action=f"{SendKind.RESET.value}.send",
                 patient_id=patient.id, account_id=account.id,
                 detail=f"message #{sent.message.id} {sent.message.status.value}; "
                        f"link #{sent.secret.id} by {channel}")
    return "account matched=1"


def request_by_phone_and_dob(*, session: Session, phone: str, dob: str, ip: str = "") -> None:
    """The same request for an account whose user ID is a mobile number: the link goes by text
    message to that number (see `_link_to_user_id`); the same outcome on screen in every case."""
    phone, birth = _check_form(phone, dob, field="user_id", normalize=normalize_user_id)
    if not settings.get(session=session).portal_active:
        raise PortalUnavailable()
    actor = audit.Actor.anonymous(phone, ip)
    detail = _link_to_user_id(session, phone, birth, actor)
    audit.record(session=session, actor=actor, action="portal.self_service_request", detail=detail)
    session.commit()


def request_fresh_link(*, session: Session, token: str | None, ip: str = "") -> None:
    """From a dead link's page: send a fresh one to the contact on file, if that is possible."""
    row = tokens.find_any(session=session, plain=token)
    if row is None or row.patient_id is None or row.purpose not in LINK_PURPOSES:
        return
    actor = audit.Actor.anonymous("expired link", ip)
    try:
        if _resend_as_sent(session, row):
            accounts.resend_password_link(session=session, row=row, actor=actor)
        else:
            send_invitation_or_reset(session=session, patient_id=row.patient_id, actor=actor)
    except DomainError:
        session.rollback()


def _resend_as_sent(session: Session, row: OneTimeSecret) -> bool:
    """Whether a dead link's fresh one goes the way the first went (a text to a phone user ID, a
    representative's own address) rather than to the chart's email on file."""
    if row.purpose != SecretPurpose.PASSWORD_RESET or row.account_id is None:
        return False
    patient = session.get(Patient, row.patient_id)
    return row.channel != consent.EMAIL or patient is None or row.destination != patient.email_lower

