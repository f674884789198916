"""The one-click next step for a stuck chart: resend by the same channel, try the other
channel where consent and contact data allow, print a letter, send a set-up link, unlock.

Every step goes through the service that already does it (so consent, throttles and the
audit of the send stay in one place) and is audited as `adoption.next_step` as well.

A step is refused (never raised) when the chart is no longer stuck, when the step does not fit
why it is stuck, when the chart's consent or contact data do not allow the channel, or when
the same message was just sent; every run, done or refused, is audited.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo

from sqlmodel import Session, col, select

from portal_app.models import AccountStatus, ChartAdoption, OneTimeSecret, Patient, PortalAccount, SecretPurpose, ident
from portal_app.services import (
    accounts,
    audit,
    charts,
    clock,
    consent,
    invitations,
    keys,
    outbox,
    portal_users,
    settings,
)
from portal_app.services.adoption import reasons
from portal_app.services.adoption.labels import Channel, Reason
from portal_app.services.choices import Choice
from portal_app.services.errors import DomainError, PortalUnavailable
from portal_app.services.validation import normalize_mobile


class Step(Choice):
    RESEND_INVITATION = "resend_invitation", "Resend invitation email"
    KEY_EMAIL = "key_email", "Send a connection key by email"
    KEY_TEXT = "key_text", "Send a connection key by text"
    KEY_LETTER = "key_letter", "Print a connection key letter"
    SETUP_LINK = "setup_link", "Send a password set-up link"
    UNLOCK = "unlock", "Unlock the account"


@dataclass(frozen=True)
class Contact:
    """What a step needs to know about the chart (no other PHI)."""

    email: str
    allow_email: bool
    mobile_phone: str
    allow_sms: bool
    has_postal_address: bool


# The step that repeats an attempt by the channel it went by.
_SAME_CHANNEL = {
    Channel.INVITATION_EMAIL.value: Step.RESEND_INVITATION,
    Channel.SELF_SETUP.value: Step.RESEND_INVITATION,
    Channel.KEY_EMAIL.value: Step.KEY_EMAIL,
    Channel.KEY_TEXT.value: Step.KEY_TEXT,
    Channel.KEY_LETTER.value: Step.KEY_LETTER,
}
# When the newest message failed, the other channel comes first.
_OTHER_CHANNEL_FIRST = {
    Reason.EMAIL_FAILED.value: Step.KEY_TEXT,
    Reason.TEXT_FAILED.value: Step.KEY_EMAIL,
}
_NO_ACCOUNT_STEPS = (Step.RESEND_INVITATION, Step.KEY_EMAIL, Step.KEY_TEXT, Step.KEY_LETTER)


def _possible(step: Step, contact: Contact) -> bool:
    """Consent and contact data allow the step (an unlock sends nothing: it is checked when run)."""
    if step in (Step.RESEND_INVITATION, Step.KEY_EMAIL):
        return bool(contact.email) and contact.allow_email
    if step == Step.KEY_TEXT:
        return bool(contact.mobile_phone) and contact.allow_sms
    if step == Step.KEY_LETTER:
        return contact.has_postal_address
    if step == Step.SETUP_LINK:  # by email, else by text
        return _possible(Step.KEY_EMAIL, contact) or _possible(Step.KEY_TEXT, contact)
    return True


def available(*, reason: str, attempt_channel: str, has_account: bool, contact: Contact) -> list[Step]:
    """The steps that make sense for a chart stuck for `reason`, the recommended one first.

    Pure (no queries): the board calls it for each row of a page."""
    if reason == Reason.LOCKED_OUT.value:
        return [Step.UNLOCK]
    if has_account:
        return [Step.SETUP_LINK] if _possible(Step.SETUP_LINK, contact) else []
    same = _SAME_CHANNEL.get(attempt_channel)
    ordered = [_OTHER_CHANNEL_FIRST.get(reason), same, *_NO_ACCOUNT_STEPS]
    steps: list[Step] = []
    for step in ordered:
        if step is None or step in steps or not _possible(step, contact):
            continue
        # Only an invitation is "resent": a chart that never had one gets keys instead.
        if step != Step.RESEND_INVITATION or same == Step.RESEND_INVITATION:
            steps.append(step)
    return steps


@dataclass(frozen=True)
class StepResult:
    patient_id: int
    ok: bool
    message: str  # what staff read: "Connection key texted to (555) 010-0199." or why not
    letter: tuple[str, bytes] | None = None  # (filename, pdf) when a letter was made


@dataclass(frozen=True)
class BulkResult:
    done: int
    skipped: int
    message: str  # "Sent 12; skipped 3 (no mobile number: 2; text not allowed: 1)."




ACTION = "adoption.next_step"
# A bulk run takes at most this many charts (the board selects from one page or a filter).
MAX_BULK = 500
# "Requested By" of the keys and links a next step makes: the practice followed up by itself.
REQUESTED_BY = "Practice (portal adoption follow-up)"
_KEY_CHANNELS = {Step.KEY_EMAIL: "email", Step.KEY_TEXT: "sms", Step.KEY_LETTER: "letter"}
_CHANNEL_LABELS = {channel.value: channel.label for channel in Channel}

# Why a chart was skipped: the words a bulk run counts it under.
NOT_STUCK = "not stuck"
NO_PATIENT = "no such patient"
NO_EMAIL = "no email address"
EMAIL_NOT_ALLOWED = "email not allowed"
NO_MOBILE = "no mobile number"
TEXT_NOT_ALLOWED = "text not allowed"
NO_ADDRESS = "no postal address"
NO_CONTACT = "no email or text allowed"
NO_ACCOUNT = "no account"
NOT_LOCKED = "not locked"
NOT_OFFERED = "step does not fit"
JUST_SENT = "just sent"
SEND_FAILED = "send failed, in the outbox to retry"
PORTAL_OFF = "portal switched off"
NOT_POSSIBLE = "not possible"


class Refused(DomainError):
    """An expected refusal; `skip` is the short reason a bulk run counts it under."""

    def __init__(self, message: str, skip: str) -> None:
        super().__init__(message)
        self.skip = skip


LETTER_MADE = "Connection key letter made: print it now (the outbox keeps no copy; a reprint there makes a new key)."


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    message: str
    skip: str = ""  # when not ok: the short reason (bulk counts)
    letter: tuple[str, bytes] | None = None
    letter_message_id: int = 0  # the letter's outbox message (its PDF is kept until downloaded)


def contact_of(patient: Patient) -> Contact:
    """The chart's contact data and consent, as `available` reads them."""
    return Contact(email=patient.email.strip(), allow_email=patient.allow_email,
                   mobile_phone=patient.mobile_phone.strip(), allow_sms=patient.allow_sms,
                   has_postal_address=keys.postal_address_complete(patient))


# ---- refusals before anything is sent ------------------------------------------------------


def _not_stuck_because(row: ChartAdoption | None, zone: tzinfo) -> str:
    """What happened to a chart that is not (or no longer) stuck, in a few words."""
    if row is None:
        return "nothing has been sent yet"
    if not row.enabled:
        return "portal access is off"
    if row.first_sign_in_at is not None:
        return f"they signed in on {clock.display(row.first_sign_in_at, zone)}"
    if row.attempt_at is None:
        return "nothing has been sent yet"
    if row.attempt_used:
        return "the newest link or key was used"
    what = _CHANNEL_LABELS.get(row.attempt_channel, "invitation or key").lower()
    return f"the newest attempt ({what}, {clock.display(row.attempt_at, zone)}) can still be used"


def _stuck_row(session: Session, patient: Patient) -> tuple[ChartAdoption, Reason]:
    row = session.get(ChartAdoption, ident(patient))
    reason = reasons.reason_of(row, clock.now()) if row is not None else None
    if row is None or reason is None:
        because = _not_stuck_because(row, settings.zone(session=session))
        raise Refused(f"This patient is no longer stuck: {because}.", NOT_STUCK)
    return row, reason


def _require_email(contact: Contact) -> None:
    if not contact.email:
        raise Refused("No email address on file.", NO_EMAIL)
    if not contact.allow_email:
        raise Refused(consent.REFUSED[consent.EMAIL], EMAIL_NOT_ALLOWED)


def _require_mobile(contact: Contact) -> None:
    if not contact.mobile_phone:
        raise Refused("No mobile number on file.", NO_MOBILE)
    if not contact.allow_sms:
        raise Refused(consent.REFUSED[consent.SMS], TEXT_NOT_ALLOWED)


def _check_contact(step: Step, contact: Contact) -> None:
    """The chart's consent and contact data for the step's channel, checked first so that a
    refusal is counted by its reason (the services check consent again, in services/consent.py)."""
    if step in (Step.RESEND_INVITATION, Step.KEY_EMAIL):
        _require_email(contact)
    elif step == Step.KEY_TEXT:
        _require_mobile(contact)
    elif step == Step.KEY_LETTER and not contact.has_postal_address:
        raise Refused("No complete postal address on file for a letter.", NO_ADDRESS)
    elif step == Step.SETUP_LINK and not _possible(step, contact):
        raise Refused("No email address or mobile number on file that the patient allows messages to.",
                      NO_CONTACT)


def _check_offered(step: Step, row: ChartAdoption, reason: Reason, contact: Contact) -> None:
    offered = available(reason=reason.value, attempt_channel=row.attempt_channel,
                        has_account=row.account_at is not None, contact=contact)
    if step not in offered:
        raise Refused(f"\"{step.label}\" is not a next step for a patient stuck at \"{reason.label}\".",
                      NOT_OFFERED)


# ---- the steps ------------------------------------------------------------------------------


def _resend_invitation(session: Session, patient: Patient, step: Step, actor: audit.Actor) -> _Outcome:
    sent = invitations.send_invitation_or_reset(session=session, patient_id=ident(patient), actor=actor)
    skip = {"already_sent": JUST_SENT, "failed": SEND_FAILED}.get(sent.status, "")
    return _Outcome(sent.status == "sent", sent.message, skip)


def _refuse_key_just_sent(session: Session, patient_id: int) -> None:
    """A second click within the resend window would void the key just sent and send another."""
    recent = session.exec(select(OneTimeSecret.destination).where(
        OneTimeSecret.patient_id == patient_id, OneTimeSecret.purpose == SecretPurpose.CONNECTION_KEY,
        col(OneTimeSecret.used_at).is_(None), col(OneTimeSecret.revoked_at).is_(None),
        OneTimeSecret.created_at > clock.now() - keys.RESEND_WINDOW)).first()
    if recent is not None:
        raise Refused(f"A connection key was just sent to {recent}.", JUST_SENT)


def _send_key(session: Session, patient: Patient, step: Step, actor: audit.Actor) -> _Outcome:
    channel = _KEY_CHANNELS[step]
    _refuse_key_just_sent(session, ident(patient))
    address = {"email": patient.email, "sms": patient.mobile_phone}.get(channel, "")
    issued = keys.generate_key(session=session, patient_id=ident(patient), channel=channel, address=address,
                               requested_by=REQUESTED_BY, actor=actor)
    to = charts.phone_label(issued.destination) if channel == "sms" else issued.destination
    if issued.message_status == "failed":
        return _Outcome(False, f"The connection key to {to} could not be sent; it is in the outbox to retry.",
                        SEND_FAILED)
    if issued.letter_pdf is not None:
        return _Outcome(True, LETTER_MADE, letter=(f"connection-key-{patient.chart_number}.pdf", issued.letter_pdf),
                        letter_message_id=issued.message_id)
    verb = "texted" if channel == "sms" else "emailed"
    return _Outcome(True, f"Connection key {verb} to {to}.")


def _chart_account(session: Session, patient: Patient) -> PortalAccount:
    account = accounts.self_account(session=session, patient_id=ident(patient))
    if account is None:
        raise Refused("This patient has no portal account yet.", NO_ACCOUNT)
    return account


def _text_password_link(session: Session, patient: Patient, account: PortalAccount,
                        actor: audit.Actor) -> _Outcome:
    """The password link by text, to the chart's mobile number (the chart allows texts)."""
    if not settings.get(session=session).portal_active:
        raise PortalUnavailable()
    if account.status == AccountStatus.DISABLED:
        raise Refused("This patient's portal account is disabled. Enable it in User Management first.",
                      NOT_POSSIBLE)
    to = normalize_mobile(patient.mobile_phone, field="mobile_phone")
    shown = charts.phone_label(to)
    if accounts.link_just_sent(session=session, account_id=ident(account)):
        return _Outcome(False, f"A link to choose a password was just sent to {shown}.", JUST_SENT)
    # Never chosen a password: the link lives as long as an invitation (the text reads the same).
    sent = accounts.send_password_link(session=session, account=account, patient=patient, to=to, channel="sms",
                                       setup=account.password_hash is None, first_name=patient.first_name,
                                       requested_by=REQUESTED_BY, actor=actor)
    audit.record(session=session, actor=actor, action="reset.send", patient_id=patient.id, account_id=account.id,
                 detail=f"by text message to {to}; message #{sent.message.id} {sent.message.status.value}; "
                        f"link #{sent.secret.id}")
    if sent.failed:
        return _Outcome(False, f"The text to {shown} could not be sent; it is in the outbox to retry.",
                        SEND_FAILED)
    return _Outcome(True, f"Link to choose a password texted to {shown}.")


def _setup_link(session: Session, patient: Patient, step: Step, actor: audit.Actor) -> _Outcome:
    """By email when the chart allows it (the chart's own reset email, throttled and audited
    there), else by text."""
    account = _chart_account(session, patient)
    if _possible(Step.KEY_EMAIL, contact_of(patient)):
        return _resend_invitation(session, patient, step, actor)
    return _text_password_link(session, patient, account, actor)


def _unlock(session: Session, patient: Patient, step: Step, actor: audit.Actor) -> _Outcome:
    account = _chart_account(session, patient)
    locked = clock.aware(account.locked_until)
    if locked is None or locked <= clock.now():
        raise Refused(f"{account.user_id} is not locked.", NOT_LOCKED)
    return _Outcome(True, portal_users.unlock(session=session, account_id=ident(account), actor=actor).message)


_PERFORM: dict[Step, Callable[[Session, Patient, Step, audit.Actor], _Outcome]] = {
    Step.RESEND_INVITATION: _resend_invitation,
    Step.KEY_EMAIL: _send_key,
    Step.KEY_TEXT: _send_key,
    Step.KEY_LETTER: _send_key,
    Step.SETUP_LINK: _setup_link,
    Step.UNLOCK: _unlock,
}


def _perform(session: Session, patient_id: int, step: Step | None, actor: audit.Actor) -> _Outcome:
    """Check, then run the step through its service. Raises DomainError (Refused) when not done."""
    if step is None:
        raise Refused("That is not a next step.", NOT_POSSIBLE)
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise Refused("That patient does not exist.", NO_PATIENT)
    row, reason = _stuck_row(session, patient)
    contact = contact_of(patient)
    _check_contact(step, contact)
    _check_offered(step, row, reason, contact)
    return _PERFORM[step](session, patient, step, actor)


def _skip_of(error: DomainError) -> str:
    if isinstance(error, Refused):
        return error.skip
    return PORTAL_OFF if isinstance(error, PortalUnavailable) else NOT_POSSIBLE


def _run_one(session: Session, patient_id: int, step: Step | None, actor: audit.Actor) -> _Outcome:
    """One chart: perform or refuse, audit the outcome, commit."""
    try:
        outcome = _perform(session, patient_id, step, actor)
    except DomainError as error:
        session.rollback()  # nothing half-done stays
        outcome = _Outcome(False, error.message, _skip_of(error))
    known = session.get(Patient, patient_id) is not None
    done = "done" if outcome.ok else f"not done ({outcome.skip})"
    audit.record(session=session, actor=actor, action=ACTION, patient_id=patient_id if known else None,
                 detail=f"{step.value if step else 'unknown step'}: {done}: {outcome.message}"
                        + ("" if known else f" (patient #{patient_id})"))
    session.commit()
    return outcome


def _step_of(value: str) -> Step | None:
    try:
        return Step(value)
    except ValueError:
        return None


def run(*, session: Session, patient_id: int, step: str, actor: audit.Actor) -> StepResult:
    """Perform one next step (a `Step` value) for one stuck chart.

    Expected refusals (not stuck, the step does not fit, no consent or contact data, just
    sent, a service's own refusal) come back as `ok=False` with the reason, never raised.
    A letter's PDF comes back in `letter` to download at once; the outbox keeps no copy of it
    (a reprint there makes a new key).
    """
    outcome = _run_one(session, patient_id, _step_of(step), actor)
    if outcome.letter_message_id:
        outbox.letter_handed_out(session=session, message_id=outcome.letter_message_id, actor=actor)
        session.commit()
    return StepResult(patient_id=patient_id, ok=outcome.ok, message=outcome.message, letter=outcome.letter)


def _bulk_message(step: Step, done: int, skipped: Counter[str]) -> str:
    if step == Step.KEY_LETTER:
        head = f"Made {done} letter{'s' if done != 1 else ''}, in the outbox to print"
    else:
        head = f"Unlocked {done}" if step == Step.UNLOCK else f"Sent {done}"
    if skipped:
        counts = "; ".join(f"{skip}: {count}" for skip, count in skipped.most_common())
        head += f"; skipped {skipped.total()} ({counts})"
    return head + "."


def run_many(*, session: Session, patient_ids: list[int], step: str, actor: audit.Actor) -> BulkResult:
    """Run the same next step for a selection (at most MAX_BULK charts, duplicates once).

    Charts where it is not possible are skipped and counted by reason; each chart is audited
    and committed on its own. Letters stay in the outbox to print.
    """
    ids = list(dict.fromkeys(patient_ids))
    chosen = _step_of(step)
    refusal = ("That is not a next step." if chosen is None else
               "Select at least one patient." if not ids else
               f"Select at most {MAX_BULK} patients at a time." if len(ids) > MAX_BULK else "")
    if chosen is None or refusal:  # (refusal is never empty when chosen is None)
        audit.record(session=session, actor=actor, action=ACTION,
                     detail=f"{step[:40]} for {len(ids)} patients: not done: {refusal}")
        session.commit()
        return BulkResult(done=0, skipped=len(ids), message=refusal)
    done, skipped = 0, Counter[str]()
    for patient_id in ids:
        outcome = _run_one(session, patient_id, chosen, actor)
        if outcome.ok:
            done += 1
        else:
            skipped[outcome.skip] += 1
    return BulkResult(done=done, skipped=skipped.total(), message=_bulk_message(chosen, done, skipped))
