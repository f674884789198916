"""Every stuck reason from a real history (the services staff and patients use), read both by
`reasons.reason_of` and by the SQL `reasons.reason_case` from the kept `ChartAdoption` rows."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from sqlalchemy import insert, select
from sqlmodel import Session

from portal_app.models import ChartAdoption, OutboxMessage, Patient, SecretPurpose
from portal_app.notify import transports
from portal_app.services import (
    audit,
    connect,
    demo_adoption,
    invitations,
    keys,
    manual_credentials,
    outbox,
    portal_auth,
)
from portal_app.services.adoption import reasons
from portal_app.services.adoption.labels import Channel, Reason, Stage
from portal_app.services.clock import now
from portal_app.services.errors import DomainError
from tests.unit.conftest import START, make_patient

PASSWORD = demo_adoption.PASSWORD
MOBILE = "+15125550142"


@pytest.fixture
def staff(admin) -> audit.Actor:
    return audit.Actor.staff(admin.id)


@pytest.fixture
def chart(session, frozen_clock) -> Patient:
    return make_patient(session, enabled=True, mobile_phone=MOBILE, allow_sms=True, address_line1="12 Elm Street",
                        city="Springfield", region="IL", postal_code="62701")


def row_of(session: Session, patient: Patient) -> ChartAdoption:
    session.expire_all()
    row = session.get(ChartAdoption, patient.id)
    assert row is not None
    return row


def sql_reason(session: Session, patient: Patient) -> str | None:
    return session.execute(select(reasons.reason_case(now())).where(
        ChartAdoption.patient_id == patient.id)).scalar_one()


def assert_stuck(session: Session, patient: Patient, reason: Reason | None) -> ChartAdoption:
    """Python and SQL both give `reason` now; and the cheap candidate filter keeps the row."""
    row = row_of(session, patient)
    assert reasons.reason_of(row, now()) == reason
    assert sql_reason(session, patient) == (reason.value if reason else None)
    if reason is not None:
        assert session.execute(select(ChartAdoption.patient_id).where(
            ChartAdoption.patient_id == patient.id, reasons.candidates(now()))).scalar_one() == patient.id
    return row


class Down:
    name = "down"

    def send(self, message, *, sender):
        raise transports.SendFailed("provider down")


def invite(session, patient, staff):
    return invitations.send_invitation_or_reset(session=session, patient_id=patient.id, actor=staff)


def invitation_token(session, patient) -> str:
    return demo_adoption.link_token(session, kind="invitation", patient_id=patient.id)


# ---- one test per reason --------------------------------------------------------------------


def test_an_invitation_whose_email_fails_is_email_failed_until_a_retry_delivers_it(session, chart, staff, admin):
    transports.use("email", Down())
    assert invite(session, chart, staff).status == "failed"

    row = assert_stuck(session, chart, Reason.EMAIL_FAILED)
    assert (row.stage, row.channel, row.attempt_channel, row.started_by_staff_id, row.delivery_failed) == (
        Stage.SENT, Channel.INVITATION_EMAIL.value, Channel.INVITATION_EMAIL.value, admin.id, "email")

    transports.use("email", None)
    message = session.execute(select(OutboxMessage.id)).scalar_one()
    outbox.retry(session=session, message_id=message, actor_id=admin.id)
    row = assert_stuck(session, chart, None)  # delivered, still live, not opened yet
    assert row.delivery_failed == ""


def test_a_key_texted_through_a_failing_provider_is_text_failed(session, chart, staff):
    transports.use("sms", Down())
    issued = keys.generate_key(session=session, patient_id=chart.id, channel="sms", address=MOBILE,
                               requested_by="patient", actor=staff)
    assert issued.message_status == "failed"
    row = assert_stuck(session, chart, Reason.TEXT_FAILED)
    assert (row.attempt_channel, row.delivery_failed) == (Channel.KEY_TEXT.value, "sms")


def test_an_invitation_left_past_its_expiry_is_link_expired(session, chart, staff, frozen_clock):
    invite(session, chart, staff)
    frozen_clock(START + timedelta(hours=71))
    assert_stuck(session, chart, None)
    frozen_clock(START + timedelta(hours=72, seconds=1))
    row = assert_stuck(session, chart, Reason.LINK_EXPIRED)
    assert row.since_at == START


def test_an_invitation_opened_without_an_account_is_opened_no_account(session, chart, staff, frozen_clock):
    invite(session, chart, staff)
    frozen_clock(START + timedelta(hours=1))
    invitations.inspect_link(session=session, token=invitation_token(session, chart),
                             purpose=SecretPurpose.INVITATION)
    row = assert_stuck(session, chart, Reason.OPENED_NO_ACCOUNT)
    assert (row.stage, row.opened_at, row.attempt_opened_at) == (Stage.OPENED, START + timedelta(hours=1),
                                                                 START + timedelta(hours=1))


def test_a_key_whose_details_fail_five_times_is_details_mismatch(session, chart, staff):
    keys.generate_key(session=session, patient_id=chart.id, channel="email", address=chart.email,
                      requested_by="patient", actor=staff)
    keys.start_create_account(session=session, user_id="maria.new@example.com")
    token = demo_adoption.link_token(session, kind="verification", to="maria.new@example.com")
    key = demo_adoption.sent_key(session, patient_id=chart.id)
    keys.check_key(session=session, token=token, key=key)
    for attempt in range(1, keys.MAX_ATTEMPTS + 1):
        with pytest.raises(DomainError):
            keys.verify_details(session=session, whose="self", token=token, key=key, last_name="Wrong",
                                dob="04/02/1980")
        if attempt < keys.MAX_ATTEMPTS:
            assert_stuck(session, chart, Reason.OPENED_NO_ACCOUNT)
    row = assert_stuck(session, chart, Reason.DETAILS_MISMATCH)
    assert (row.attempt_tries, row.attempt_channel, row.stage) == (5, Channel.KEY_EMAIL.value, Stage.OPENED)


def test_a_key_letter_never_redeemed_for_22_days_is_letter_unredeemed(session, chart, staff, frozen_clock):
    keys.generate_key(session=session, patient_id=chart.id, channel="letter", address="",
                      requested_by="patient", actor=staff)
    frozen_clock(START + timedelta(days=20))
    assert_stuck(session, chart, None)
    frozen_clock(START + timedelta(days=22))
    row = assert_stuck(session, chart, Reason.LETTER_UNREDEEMED)
    assert (row.channel, row.attempt_channel) == (Channel.KEY_LETTER.value, Channel.KEY_LETTER.value)


def test_staff_credentials_never_used_are_never_signed_in_then_temp_password_expired(
        session, chart, staff, admin, frozen_clock):
    demo_adoption.staff_credentials(session, chart, staff)
    row = assert_stuck(session, chart, Reason.NEVER_SIGNED_IN)
    assert (row.stage, row.channel, row.started_by_staff_id, row.account_at, row.since_at) == (
        Stage.ACCOUNT, Channel.STAFF_CREDENTIALS.value, admin.id, START, START)
    assert row.temp_password_expires_at == START + timedelta(days=3)
    frozen_clock(START + timedelta(days=3, seconds=1))
    assert_stuck(session, chart, Reason.TEMP_PASSWORD_EXPIRED)


def test_wrong_passwords_to_lockout_are_locked_out_and_a_sign_in_ends_it(session, chart, staff, frozen_clock):
    account = manual_credentials.set_manually(session=session, patient_id=chart.id, username=chart.email,
                                              password=PASSWORD, force_change=False, actor=staff)
    for _ in range(portal_auth.MAX_FAILURES - 1):
        with pytest.raises(DomainError):
            portal_auth.sign_in(session=session, user_id=account.user_id, password="wrong wrong wrong 1")
    assert_stuck(session, chart, Reason.NEVER_SIGNED_IN)
    with pytest.raises(DomainError):
        portal_auth.sign_in(session=session, user_id=account.user_id, password="wrong wrong wrong 1")
    row = assert_stuck(session, chart, Reason.LOCKED_OUT)
    assert row.locked_until == START + portal_auth.LOCKOUT

    frozen_clock(START + portal_auth.LOCKOUT + timedelta(seconds=1))
    assert_stuck(session, chart, Reason.NEVER_SIGNED_IN)
    portal_auth.sign_in(session=session, user_id=account.user_id, password=PASSWORD)
    row = assert_stuck(session, chart, None)
    assert (row.stage, row.first_sign_in_at, row.last_sign_in_at, row.locked_until) == (
        Stage.SIGNED_IN, START + portal_auth.LOCKOUT + timedelta(seconds=1),
        START + portal_auth.LOCKOUT + timedelta(seconds=1), None)


# ---- charts that made it ---------------------------------------------------------------------


def test_an_invitation_redeemed_signs_in_at_stage_6_with_its_channel(session, chart, staff, admin, frozen_clock):
    invite(session, chart, staff)
    token = invitation_token(session, chart)
    invitations.inspect_link(session=session, token=token, purpose=SecretPurpose.INVITATION)
    frozen_clock(START + timedelta(minutes=5))
    invitations.redeem_invitation(session=session, token=token, user_id=chart.email, password=PASSWORD,
                                  confirm=PASSWORD)
    row = assert_stuck(session, chart, None)
    assert (row.stage, row.channel, row.started_by_staff_id, row.attempt_used) == (
        Stage.SIGNED_IN, Channel.INVITATION_EMAIL.value, admin.id, True)
    assert (row.sent_at, row.opened_at, row.account_at, row.first_sign_in_at) == (
        START, START, START + timedelta(minutes=5), START + timedelta(minutes=5))
    assert row.account_id is not None and row.since_at == START + timedelta(minutes=5)


def test_a_key_redeemed_signs_in_at_stage_6_by_key(session, chart, staff, admin):
    demo_adoption.key_redeemed(session, chart, staff)
    row = assert_stuck(session, chart, None)
    assert (row.stage, row.channel, row.started_by_staff_id) == (Stage.SIGNED_IN, Channel.KEY_EMAIL.value, admin.id)


def test_a_read_back_token_is_never_signed_in_until_the_first_sign_in(session, chart, staff, admin, monkeypatch):
    monkeypatch.setattr(connect.secrets, "randbelow", lambda n: 739146)
    connect.send_connect_token(session=session, patient_id=chart.id, channel="email", address=chart.email,
                               requested_by="Self", actor=staff)
    connect.connect_with_token(session=session, patient_id=chart.id, channel="email", address=chart.email,
                               token="739146", actor=staff)
    row = assert_stuck(session, chart, Reason.NEVER_SIGNED_IN)
    assert (row.stage, row.channel, row.attempt_used) == (Stage.ACCOUNT, Channel.TOKEN.value, True)
    portal_auth.sign_in(session=session, user_id=chart.email, password="739146")
    row = assert_stuck(session, chart, None)
    assert (row.stage, row.channel, row.started_by_staff_id) == (Stage.SIGNED_IN, Channel.TOKEN.value, admin.id)


def test_a_chart_with_access_off_is_never_stuck(session, frozen_clock):
    patient = make_patient(session, enabled=False)
    row = assert_stuck(session, patient, None)
    assert (row.stage, row.enabled, row.enabled_at) == (Stage.CHART, False, None)


# ---- Python and SQL agree --------------------------------------------------------------------


def _random_row(rng: random.Random, patient_id: int) -> ChartAdoption:
    def moment() -> object:
        return rng.choice([None, START - timedelta(days=rng.choice([1, 20, 22, 40])),
                           START + timedelta(minutes=rng.choice([-1, 1, 30]))])

    return ChartAdoption(
        patient_id=patient_id, added_at=START - timedelta(days=60), enabled=rng.random() < 0.85,
        stage=rng.randint(1, 6), account_at=moment(), first_sign_in_at=moment(), locked_until=moment(),
        temp_password_expires_at=moment(), attempt_at=moment(), attempt_expires_at=moment(),
        attempt_opened_at=moment(), attempt_used=rng.random() < 0.3, attempt_tries=rng.choice([0, 2, 5, 6]),
        attempt_channel=rng.choice([c.value for c in Channel] + [Channel.KEY_LETTER.value] * 4 + [""]),
        delivery_failed=rng.choice(["", "", "email", "sms"]))


def test_python_and_sql_agree_over_many_generated_rows(session, frozen_clock):
    session.execute(insert(Patient), [
        {"chart_number": f"R{i:05d}", "first_name": "P", "last_name": f"L{i}", "dob": date(1980, 1, 1),
         "created_at": START, "updated_at": START} for i in range(2000)])
    ids = list(session.execute(select(Patient.id)).scalars())
    rng = random.Random(14)
    rows = [_random_row(rng, pid) for pid in ids]
    session.add_all(rows)
    session.flush()
    by_sql = dict(session.execute(select(ChartAdoption.patient_id, reasons.reason_case(START))).all())
    by_python = {row.patient_id: (reason.value if (reason := reasons.reason_of(row, START)) else None)
                 for row in rows}
    assert by_sql == by_python
    assert set(by_python.values()) == {None, *(r.value for r in Reason)}  # every rule was exercised
    session.rollback()
