"""The one-click next step for a stuck chart: resend by the same channel, try the other
channel where consent and contact data allow, print a letter, send a set-up link, unlock.

Every step goes through the service that already does it (so consent, throttles and the
audit of the send stay in one place) and is audited as `adoption.next_step` as well.

INTERFACE (agreed before the work was split; the bodies are being written).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from portal_app.services import audit
from portal_app.services.adoption.labels import Channel, Reason
from portal_app.services.choices import Choice


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
    """Consent and contact data allow the step (unlock and set-up links are checked when run)."""
    if step in (Step.RESEND_INVITATION, Step.KEY_EMAIL):
        return bool(contact.email) and contact.allow_email
    if step == Step.KEY_TEXT:
        return bool(contact.mobile_phone) and contact.allow_sms
    if step == Step.KEY_LETTER:
        return contact.has_postal_address
    return True


def available(*, reason: str, attempt_channel: str, has_account: bool, contact: Contact) -> list[Step]:
    """The steps that make sense for a chart stuck for `reason`, the recommended one first.

    Pure (no queries): the board calls it for each row of a page."""
    if reason == Reason.LOCKED_OUT.value:
        return [Step.UNLOCK]
    if has_account:
        return [Step.SETUP_LINK]
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


def run(*, session: Session, patient_id: int, step: str, actor: audit.Actor) -> StepResult:
    raise NotImplementedError


def run_many(*, session: Session, patient_ids: list[int], step: str, actor: audit.Actor) -> BulkResult:
    raise NotImplementedError
