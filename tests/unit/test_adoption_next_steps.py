"""Next steps for stuck charts: each step goes through its service; consent, contact data,
throttles and "no longer stuck" refuse; every run is audited; bulk runs count what they skip.

The charts get stuck through the real services (a failing transport, wrong passwords, staff-set
credentials). Their `ChartAdoption` rows are written here as the facts listener would write them,
since that listener is not on this branch.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import col, select

from portal_app.models import (
    AuditEvent,
    ChartAdoption,
    OneTimeSecret,
    OutboxMessage,
    Patient,
    PortalAccount,
    SecretPurpose,
)
from portal_app.notify import transports
from portal_app.services import (
    audit,
    clock,
    consent,
    invitations,
    keys,
    manual_credentials,
    outbox,
    passwords,
    portal_auth,
    settings,
)
from portal_app.services.adoption import next_steps
from portal_app.services.adoption.next_steps import Step
from portal_app.services.errors import SignInFailed
from tests.unit.conftest import START, make_patient

# The histories happen this long before the test's START (no throttle window still open).
EARLIER = START - timedelta(hours=2)
USER_ID = "maria.l@example.net"
PHONE = "+12025550123"
PHONE_SHOWN = "(202) 555-0123"
PASSWORD = "violet harbor engine quietly 7"
KEY = re.compile(r"[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}")

pytestmark = pytest.mark.usefixtures("frozen_clock")


class Failing:
    name = "failing"

    def send(self, message, *, sender):
        raise transports.SendFailed("550 mailbox unavailable")


@pytest.fixture
def staff(admin):
    return audit.Actor.staff(admin.id)


def _chart(session, name="Maria", **extra):
    values = dict(enabled=True, mobile_phone=PHONE, allow_sms=True, address_line1="12 Elm Street",
                  city="Springfield", region="IL", postal_code="62701")
    values.update(extra)
    return make_patient(session, first=name, email=f"{name.lower()}@example.com", chart=f"C-{name}", **values)


def _adopt(session, patient, **values) -> ChartAdoption:
    """Write the chart's ChartAdoption row as the facts listener keeps it."""
    row = session.get(ChartAdoption, patient.id) or ChartAdoption(
        patient_id=patient.id, added_at=START, enabled=True, enabled_at=START, stage=2)
    for name, value in values.items():
        setattr(row, name, value)
    session.add(row)
    session.commit()
    return row


def _newest_secret(session, patient, purpose=None) -> OneTimeSecret:
    query = select(OneTimeSecret).where(OneTimeSecret.patient_id == patient.id)
    if purpose is not None:
        query = query.where(OneTimeSecret.purpose == purpose)
    return session.exec(query.order_by(col(OneTimeSecret.id).desc())).first()


def _attempted(session, patient, channel, failed=""):
    """The row after the chart's newest invitation or key went out (or failed to)."""
    secret = _newest_secret(session, patient)
    return _adopt(session, patient, stage=3, sent_at=secret.created_at, channel=channel,
                  attempt_secret_id=secret.id, attempt_channel=channel, attempt_at=secret.created_at,
                  attempt_expires_at=secret.expires_at, attempt_used=False, delivery_failed=failed,
                  since_at=secret.created_at)


def _email_failed(session, staff, **extra) -> Patient:
    """An invitation that could not be delivered: stuck at "Email failed"."""
    patient = _chart(session, **extra)
    clock.freeze(EARLIER)
    transports.use("email", Failing())
    invitations.send_invitation_or_reset(session=session, patient_id=patient.id, actor=staff)
    transports.use("email", None)
    clock.freeze(START)
    _attempted(session, patient, "invitation_email", failed="email")
    return patient


def _text_failed(session, staff, **extra) -> Patient:
    """A connection key texted to a number that did not take it: stuck at "Text failed"."""
    patient = _chart(session, **extra)
    clock.freeze(EARLIER)
    transports.use("sms", Failing())
    keys.generate_key(session=session, patient_id=patient.id, channel="sms", address=PHONE,
                      requested_by="Maria herself", actor=staff)
    transports.use("sms", None)
    clock.freeze(START)
    _attempted(session, patient, "key_text", failed="sms")
    return patient


def _staff_credentials(session, staff, **extra) -> tuple[Patient, PortalAccount]:
    """Staff set a username and password; nobody has signed in: stuck at "Never signed in"."""
    patient = _chart(session, **extra)
    account = manual_credentials.set_manually(session=session, patient_id=patient.id, username=USER_ID,
                                              password=PASSWORD, force_change=False, actor=staff)
    _adopt(session, patient, stage=5, account_at=account.created_at, account_id=account.id,
           channel="staff_credentials", since_at=account.created_at)
    return patient, account


def _run(session, patient, step, staff):
    return next_steps.run(session=session, patient_id=patient.id, step=step.value, actor=staff)


def _outbox(session, channel=None) -> list[OutboxMessage]:
    session.expire_all()
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if channel:
        query = query.where(OutboxMessage.channel == channel)
    return list(session.exec(query))


def _audit(session, action=next_steps.ACTION) -> list[AuditEvent]:
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


# ---- each step does its job -------------------------------------------------------------------


def test_failed_email_then_a_key_by_text(session, staff):
    patient = _email_failed(session, staff)

    result = _run(session, patient, Step.KEY_TEXT, staff)

    assert result.ok and result.letter is None
    assert result.message == f"Connection key texted to {PHONE_SHOWN}."
    text = _outbox(session, "sms")[-1]
    assert (text.kind, text.to_address, text.patient_id, text.status.value) == ("connection_key", PHONE,
                                                                                patient.id, "sent")
    key = _newest_secret(session, patient, SecretPurpose.CONNECTION_KEY)
    assert (key.channel, key.destination, key.revoked_at) == ("sms", PHONE, None)
    assert key.requested_by == next_steps.REQUESTED_BY
    [event] = _audit(session)
    assert event.patient_id == patient.id and event.staff_user_id == staff.staff_user_id
    assert event.detail.startswith("key_text: done: Connection key texted")
    assert [e.detail.split(";")[0] for e in _audit(session, "key.sent")] == [f"key #{key.id}"]
    plain = KEY.search(text.body_text).group(0)
    assert all(plain not in e.detail for e in session.exec(select(AuditEvent)))
    assert plain not in result.message


def test_resend_invitation_sends_a_fresh_link_by_email(session, staff):
    patient = _email_failed(session, staff)
    first = _newest_secret(session, patient)

    result = _run(session, patient, Step.RESEND_INVITATION, staff)

    assert result.ok and result.message == f"Invitation sent to {patient.email}."
    emails = _outbox(session, "email")
    assert [(m.kind, m.to_address, m.status.value) for m in emails] == [
        ("invitation", patient.email, "failed"), ("invitation", patient.email, "sent")]
    fresh = _newest_secret(session, patient, SecretPurpose.INVITATION)
    assert fresh.id != first.id and fresh.used_at is None
    assert len(_audit(session, "invitation.send")) == 2  # the first attempt and the resend
    assert [e.detail.split(":")[0] for e in _audit(session)] == ["resend_invitation"]


def test_a_second_resend_within_the_window_sends_nothing_and_says_so(session, staff, frozen_clock):
    patient = _email_failed(session, staff)
    transports.use("email", Failing())  # the mailbox still refuses: the chart stays stuck

    first = _run(session, patient, Step.RESEND_INVITATION, staff)
    _attempted(session, patient, "invitation_email", failed="email")
    frozen_clock(START + invitations.RESEND_WINDOW - timedelta(seconds=1))
    second = _run(session, patient, Step.RESEND_INVITATION, staff)

    assert not first.ok and "could not be sent; it is in the outbox to retry" in first.message
    assert not second.ok and second.message == f"Invitation was just sent to {patient.email}."
    assert len(_outbox(session, "email")) == 2  # the failed invitation and the failed resend only
    assert [e.detail.split(": ")[1] for e in _audit(session)] == [
        f"not done ({next_steps.SEND_FAILED})", f"not done ({next_steps.JUST_SENT})"]

    frozen_clock(START + invitations.RESEND_WINDOW + timedelta(seconds=1))
    third = _run(session, patient, Step.RESEND_INVITATION, staff)
    assert len(_outbox(session, "email")) == 3 and not third.ok  # sent again (and failed again)


def test_a_second_key_within_the_window_is_refused(session, staff, frozen_clock):
    patient = _text_failed(session, staff)
    transports.use("sms", Failing())

    first = _run(session, patient, Step.KEY_TEXT, staff)
    _attempted(session, patient, "key_text", failed="sms")
    frozen_clock(START + keys.RESEND_WINDOW - timedelta(seconds=1))
    second = _run(session, patient, Step.KEY_TEXT, staff)

    assert not first.ok and first.message == (f"The connection key to {PHONE_SHOWN} could not be sent; "
                                               "it is in the outbox to retry.")
    assert not second.ok and second.message == f"A connection key was just sent to {PHONE}."
    assert len(_outbox(session, "sms")) == 2


def test_failed_text_then_a_key_by_email(session, staff):
    patient = _text_failed(session, staff)

    result = _run(session, patient, Step.KEY_EMAIL, staff)

    assert result.ok and result.message == f"Connection key emailed to {patient.email}."
    email = _outbox(session, "email")[-1]
    assert (email.kind, email.to_address) == ("connection_key", patient.email)
    live = session.exec(select(OneTimeSecret).where(
        OneTimeSecret.purpose == SecretPurpose.CONNECTION_KEY, col(OneTimeSecret.revoked_at).is_(None))).all()
    assert [(k.channel, k.destination) for k in live] == [("email", patient.email)]  # the texted key is void


def test_a_letter_comes_back_as_a_pdf_and_the_outbox_keeps_no_copy(session, staff):
    patient = _text_failed(session, staff)

    result = _run(session, patient, Step.KEY_LETTER, staff)

    assert result.ok and "print it now" in result.message and "keeps no copy" in result.message
    filename, pdf = result.letter
    assert filename == f"connection-key-{patient.chart_number}.pdf" and pdf.startswith(b"%PDF")
    session.expire_all()
    [letter] = _outbox(session, "letter")
    # Downloaded at once: the stored letter holds no PDF and no key (a reprint makes a new key).
    assert letter.kind == "connection_key" and letter.attachment is None and letter.pending_secrets == ""
    assert letter.body_text == outbox.HANDED_OUT
    assert _newest_secret(session, patient).channel == "letter"
    assert _audit(session, "key.printed") and "done" in _audit(session)[0].detail


def test_setup_link_by_email_for_an_account_never_signed_in(session, staff):
    patient, account = _staff_credentials(session, staff)

    result = _run(session, patient, Step.SETUP_LINK, staff)

    assert result.ok and result.message == f"Password reset email sent to {patient.email}."
    [email] = _outbox(session, "email")
    assert (email.kind, email.to_address) == ("reset", patient.email)
    link = _newest_secret(session, patient, SecretPurpose.PASSWORD_RESET)
    assert link.account_id == account.id and link.channel == "email"
    assert _audit(session, "reset.send") and _audit(session)[0].detail.startswith("setup_link: done")


def test_setup_link_goes_by_text_when_email_is_not_allowed(session, staff):
    patient, account = _staff_credentials(session, staff, allow_email=False)

    result = _run(session, patient, Step.SETUP_LINK, staff)

    assert result.ok and result.message == f"Link to choose a password texted to {PHONE_SHOWN}."
    assert _outbox(session, "email") == []
    [text] = _outbox(session, "sms")
    assert (text.kind, text.to_address) == ("reset", PHONE)
    link = _newest_secret(session, patient, SecretPurpose.PASSWORD_RESET)
    assert (link.account_id, link.channel, link.destination) == (account.id, "sms", PHONE)
    [sent] = _audit(session, "reset.send")
    assert sent.detail.startswith(f"by text message to {PHONE}") and sent.account_id == account.id

    again = _run(session, patient, Step.SETUP_LINK, staff)
    assert not again.ok and again.message == f"A link to choose a password was just sent to {PHONE_SHOWN}."
    assert len(_outbox(session, "sms")) == 1


def test_setup_link_refused_when_neither_email_nor_text_is_allowed(session, staff):
    patient, _account = _staff_credentials(session, staff, allow_email=False, allow_sms=False)

    result = _run(session, patient, Step.SETUP_LINK, staff)

    assert not result.ok and "allows messages to" in result.message
    assert _outbox(session) == [] and _newest_secret(session, patient, SecretPurpose.PASSWORD_RESET) is None


def test_unlock_a_locked_out_account(session, staff):
    patient, account = _staff_credentials(session, staff)
    for _ in range(passwords.MAX_FAILURES):
        with pytest.raises(SignInFailed):
            portal_auth.sign_in(session=session, user_id=USER_ID, password="wrong guess")
    session.refresh(account)
    _adopt(session, patient, locked_until=account.locked_until)

    result = _run(session, patient, Step.UNLOCK, staff)

    assert result.ok and result.message == f"{USER_ID} is unlocked."
    session.refresh(account)
    assert account.locked_until is None
    assert _audit(session, "account.unlock")[0].account_id == account.id
    assert _audit(session)[0].detail == f"unlock: done: {USER_ID} is unlocked."
    assert portal_auth.sign_in(session=session, user_id=USER_ID, password=PASSWORD)


# ---- refusals ---------------------------------------------------------------------------------


def test_text_refused_when_sms_is_not_allowed(session, staff):
    patient = _email_failed(session, staff, allow_sms=False)

    result = _run(session, patient, Step.KEY_TEXT, staff)

    assert not result.ok
    assert result.message == consent.REFUSED[consent.SMS]
    assert _outbox(session, "sms") == [] and _newest_secret(session, patient, SecretPurpose.CONNECTION_KEY) is None
    [event] = _audit(session)
    assert event.detail.startswith(f"key_text: not done ({next_steps.TEXT_NOT_ALLOWED})")


def test_text_refused_without_a_mobile_number(session, staff):
    patient = _email_failed(session, staff, mobile_phone="")

    result = _run(session, patient, Step.KEY_TEXT, staff)

    assert not result.ok and result.message == "No mobile number on file."
    assert _outbox(session, "sms") == []


@pytest.mark.parametrize("step", [Step.KEY_EMAIL, Step.RESEND_INVITATION])
def test_email_refused_when_email_is_not_allowed(session, staff, step):
    patient = _text_failed(session, staff, allow_email=False)

    result = _run(session, patient, step, staff)

    assert not result.ok and result.message == consent.REFUSED[consent.EMAIL]
    assert _outbox(session, "email") == []
    assert _audit(session)[0].detail.startswith(f"{step.value}: not done ({next_steps.EMAIL_NOT_ALLOWED})")


def test_letter_refused_without_a_postal_address(session, staff):
    patient = _text_failed(session, staff, address_line1="")

    result = _run(session, patient, Step.KEY_LETTER, staff)

    assert not result.ok and result.letter is None and "postal address" in result.message
    assert _outbox(session, "letter") == []


@pytest.mark.parametrize("step", [Step.SETUP_LINK, Step.UNLOCK])
def test_a_step_not_offered_for_the_reason_is_refused(session, staff, step):
    patient = _email_failed(session, staff)

    result = _run(session, patient, step, staff)

    assert not result.ok and result.message == f"\"{step.label}\" is not a next step for a patient stuck at " \
                                               "\"Email failed\"."
    assert len(_outbox(session)) == 1  # the failed invitation only


def test_an_invitation_is_not_resent_for_a_chart_that_never_had_one(session, staff):
    patient = _text_failed(session, staff)

    result = _run(session, patient, Step.RESEND_INVITATION, staff)

    assert not result.ok and "is not a next step" in result.message
    assert _outbox(session, "email") == []


def test_a_chart_no_longer_stuck_is_refused_with_what_happened(session, staff):
    patient = _email_failed(session, staff)
    assert _run(session, patient, Step.RESEND_INVITATION, staff).ok
    _attempted(session, patient, "invitation_email")  # delivered: the listener clears the failure

    result = _run(session, patient, Step.RESEND_INVITATION, staff)

    assert not result.ok
    assert result.message == ("This patient is no longer stuck: the newest attempt (email invitation, "
                              "11/23/2026 3:00PM (UTC)) can still be used.")
    assert len(_outbox(session, "email")) == 2
    assert _audit(session)[-1].detail.startswith(f"resend_invitation: not done ({next_steps.NOT_STUCK})")


def test_not_stuck_charts(session, staff):
    fresh = _chart(session, "Nina")  # access on, nothing sent, no row yet
    signed_in, account = _staff_credentials(session, staff)
    portal_auth.sign_in(session=session, user_id=USER_ID, password=PASSWORD)
    _adopt(session, signed_in, stage=6, first_sign_in_at=START)
    off = _email_failed(session, staff, name="Olga")
    _adopt(session, off, enabled=False)

    answers = [_run(session, p, Step.KEY_LETTER, staff) for p in (fresh, signed_in, off)]

    assert [a.message for a in answers] == [
        "This patient is no longer stuck: nothing has been sent yet.",
        "This patient is no longer stuck: they signed in on 11/23/2026 3:00PM (UTC).",
        "This patient is no longer stuck: portal access is off."]
    assert not any(a.ok for a in answers) and _outbox(session, "letter") == []
    assert len(_audit(session)) == 3


def test_a_services_refusal_becomes_the_message(session, staff):
    patient = _email_failed(session, staff)
    config = settings.get(session=session)
    config.portal_active = False
    session.add(config)
    session.commit()

    result = _run(session, patient, Step.KEY_TEXT, staff)

    assert not result.ok and result.message == "The patient portal is not available right now."
    assert _outbox(session, "sms") == [] and _newest_secret(session, patient).purpose == SecretPurpose.INVITATION
    assert _audit(session)[0].detail.startswith(f"key_text: not done ({next_steps.PORTAL_OFF})")


def test_unknown_step_and_unknown_patient(session, staff):
    patient = _email_failed(session, staff)

    unknown_step = next_steps.run(session=session, patient_id=patient.id, step="delete_chart", actor=staff)
    unknown_patient = next_steps.run(session=session, patient_id=patient.id + 99, step="key_text", actor=staff)

    assert (unknown_step.ok, unknown_step.message) == (False, "That is not a next step.")
    assert (unknown_patient.ok, unknown_patient.message) == (False, "That patient does not exist.")
    assert [e.patient_id for e in _audit(session)] == [patient.id, None]


# ---- bulk -------------------------------------------------------------------------------------


def test_run_many_sends_where_it_can_and_counts_what_it_skips(session, staff):
    sendable = [_email_failed(session, staff, name=name) for name in ("Ana", "Ben", "Cara")]
    no_mobile = _email_failed(session, staff, name="Dora", mobile_phone="")
    no_consent = _email_failed(session, staff, name="Eve", allow_sms=False)
    not_stuck = _chart(session, "Finn")
    ids = [p.id for p in (*sendable, no_mobile, no_consent, not_stuck)]

    result = next_steps.run_many(session=session, patient_ids=ids + ids[:2], step=Step.KEY_TEXT.value,
                                 actor=staff)

    assert (result.done, result.skipped) == (3, 3)
    assert result.message == "Sent 3; skipped 3 (no mobile number: 1; text not allowed: 1; not stuck: 1)."
    assert sorted(m.patient_id for m in _outbox(session, "sms")) == sorted(p.id for p in sendable)
    assert [e.patient_id for e in _audit(session)] == ids  # each chart once, duplicates dropped


def test_run_many_letters_stay_in_the_outbox(session, staff):
    charts = [_text_failed(session, staff, name=name) for name in ("Ana", "Ben")]
    homeless = _text_failed(session, staff, name="Cara", address_line1="")

    result = next_steps.run_many(session=session, patient_ids=[p.id for p in (*charts, homeless)],
                                 step=Step.KEY_LETTER.value, actor=staff)

    assert result.message == "Made 2 letters, in the outbox to print; skipped 1 (no postal address: 1)."
    letters = _outbox(session, "letter")
    assert len(letters) == 2 and all(m.attachment.startswith(b"%PDF") for m in letters)


def test_run_many_refuses_more_than_the_limit(session, staff):
    patient = _email_failed(session, staff)
    ids = [patient.id] + list(range(10_000, 10_000 + next_steps.MAX_BULK))

    result = next_steps.run_many(session=session, patient_ids=ids, step=Step.KEY_TEXT.value, actor=staff)

    assert (result.done, result.message) == (0, f"Select at most {next_steps.MAX_BULK} patients at a time.")
    assert _outbox(session, "sms") == []
    [event] = _audit(session)
    assert event.patient_id is None and "not done" in event.detail


# ---- which steps are offered ------------------------------------------------------------------


def _contact(**values):
    defaults = dict(email="maria@example.com", allow_email=True, mobile_phone=PHONE, allow_sms=True,
                    has_postal_address=True)
    return next_steps.Contact(**{**defaults, **values})


def test_a_set_up_link_is_offered_only_where_email_or_text_may_go():
    def offered(**contact):
        return next_steps.available(reason="never_signed_in", attempt_channel="", has_account=True,
                                    contact=_contact(**contact))

    assert offered() == [Step.SETUP_LINK]
    assert offered(allow_email=False) == [Step.SETUP_LINK]  # by text
    assert offered(email="", allow_sms=False) == []  # no way to send it: no one-click step


def test_the_other_channel_comes_first_after_a_failed_email():
    steps = next_steps.available(reason="email_failed", attempt_channel="invitation_email", has_account=False,
                                 contact=_contact())

    assert steps == [Step.KEY_TEXT, Step.RESEND_INVITATION, Step.KEY_EMAIL, Step.KEY_LETTER]
