"""Create and Connect Account: the read-back token (services/connect.py)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlmodel import select

from portal_app import db
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
)
from portal_app.notify import transports
from portal_app.services import audit, connect, manual_credentials, passwords, portal_auth, settings, tokens
from portal_app.services.areas import ALL_AREAS, REPRESENTATIVE_DEFAULT_AREAS
from portal_app.services.errors import InvalidInput, PortalUnavailable
from tests.unit.conftest import START, make_patient
from tests.unit.races import rival_account

EMAIL = "maria.lopez@example.com"
MOBILE = "+12015550123"      # a US number phonenumbers calls fixed-line-or-mobile
LANDLINE = "+448001234567"   # a UK toll-free number: cannot receive texts
PASSPHRASE = "violet tractor umbrella canyon 77"


@pytest.fixture
def staff(admin):
    return audit.Actor.staff(admin.id)


@pytest.fixture
def fixed_token(monkeypatch):
    """A token that cannot appear by chance in dates, ids or the practice's phone number."""
    monkeypatch.setattr(connect.secrets, "randbelow", lambda n: 739146)
    return "739146"


@pytest.fixture
def chart(session):
    return make_patient(session, enabled=True, mobile_phone=MOBILE)


def send(session, patient, actor, *, channel="email", address=EMAIL, requested_by="Self"):
    return connect.send_connect_token(session=session, patient_id=patient.id, channel=channel,
                                      address=address, requested_by=requested_by, actor=actor)


def sent_token(session, address=EMAIL) -> str:
    """The token in the newest message to `address` (what the patient reads back)."""
    message = session.exec(select(OutboxMessage).where(OutboxMessage.to_address == address,
                                                       OutboxMessage.kind == "connect_token")
                           .order_by(OutboxMessage.id.desc())).first()
    return re.search(r"portal token is (\d+)", message.body_text).group(1)


def redeem(session, patient, actor, token, *, channel="email", address=EMAIL):
    return connect.connect_with_token(session=session, patient_id=patient.id, channel=channel,
                                      address=address, token=token, actor=actor)


def live_tokens(session, patient) -> list[OneTimeSecret]:
    session.expire_all()
    return list(session.exec(select(OneTimeSecret).where(
        OneTimeSecret.patient_id == patient.id, OneTimeSecret.purpose == SecretPurpose.CONNECT_TOKEN,
        OneTimeSecret.used_at.is_(None), OneTimeSecret.revoked_at.is_(None))))


def wrong(token: str) -> str:
    return f"{(int(token) + 1) % 10 ** len(token):0{len(token)}d}"


def actions(session) -> list[str]:
    return [event.action for event in session.exec(select(AuditEvent).order_by(AuditEvent.id))]


# --- sending ------------------------------------------------------------------------------

def test_send_stores_a_salted_hash_and_sends_the_token(session, frozen_clock, staff, chart):
    result = send(session, chart, staff, requested_by="Mother - Jane Doe")
    assert result == connect.TokenSent(channel="email", destination=EMAIL,
                                       expires="Thursday, November 26, 2026 at 3:00 PM (UTC)", status="sent")
    token = sent_token(session)
    assert re.fullmatch(r"\d{6}", token)  # the default length
    [row] = live_tokens(session, chart)
    assert len(row.salt) == 32
    assert row.secret_hash == connect.salted_digest(row.salt, token)
    assert row.secret_hash != tokens.digest(token)
    assert row.requested_by == "Mother - Jane Doe" and row.created_by_staff_id == staff.staff_user_id
    assert row.channel == "email" and row.destination == EMAIL
    assert row.expires_at.replace(tzinfo=START.tzinfo) == START + timedelta(days=3)
    message = session.exec(select(OutboxMessage)).one()
    assert "Read it to the staff member helping you" in message.body_text
    assert "Riverside Family Practice" in message.body_text
    assert actions(session)[-2:] == ["token.issue", "token.sent"]


def test_equal_tokens_of_two_patients_do_not_collide(session, frozen_clock, staff, chart, monkeypatch):
    other = make_patient(session, first="Ana", email="ana@example.com", enabled=True)
    monkeypatch.setattr(connect.secrets, "randbelow", lambda n: 123456)
    send(session, chart, staff)
    send(session, other, staff, address="ana@example.com")
    first, second = live_tokens(session, chart)[0], live_tokens(session, other)[0]
    assert first.secret_hash != second.secret_hash
    assert redeem(session, other, staff, "123456", address="ana@example.com").created


def test_token_length_follows_the_setting_within_4_to_8(session, frozen_clock, staff, chart):
    config = settings.get(session=session)
    for configured, expected in ((6, 6), (8, 8), (2, 4), (12, 8)):
        config.token_length = configured
        session.add(config)
        session.commit()
        send(session, chart, staff)
        assert len(sent_token(session)) == expected


def test_resend_voids_the_older_token(session, frozen_clock, staff, chart):
    send(session, chart, staff)
    old = sent_token(session)
    send(session, chart, staff)
    new = sent_token(session)
    assert len(live_tokens(session, chart)) == 1
    assert "token.void" in actions(session)
    if old != new:
        with pytest.raises(InvalidInput):
            redeem(session, chart, staff, old)
    assert redeem(session, chart, staff, new).created


def test_portal_off_sends_nothing(session, frozen_clock, staff, chart):
    config = settings.get(session=session)
    config.portal_active = False
    session.add(config)
    session.commit()
    with pytest.raises(PortalUnavailable):
        send(session, chart, staff)
    assert session.exec(select(OutboxMessage)).all() == []
    assert live_tokens(session, chart) == []


def test_access_not_enabled_is_refused(session, frozen_clock, staff):
    patient = make_patient(session, enabled=False)
    with pytest.raises(InvalidInput, match="not enabled"):
        send(session, patient, staff)
    assert session.exec(select(OutboxMessage)).all() == []


def test_bad_addresses_and_missing_requested_by_name_their_field(session, frozen_clock, staff, chart):
    with pytest.raises(InvalidInput) as landline:
        send(session, chart, staff, channel="sms", address=LANDLINE)
    assert landline.value.field == "address" and "cannot receive text messages" in landline.value.message
    with pytest.raises(InvalidInput) as email:
        send(session, chart, staff, address="not an email")
    assert email.value.field == "address"
    with pytest.raises(InvalidInput) as who:
        send(session, chart, staff, requested_by="   ")
    assert who.value.field == "requested_by"
    with pytest.raises(InvalidInput) as channel:
        send(session, chart, staff, channel="fax")
    assert channel.value.field == "channel"
    assert session.exec(select(OutboxMessage)).all() == []


def test_sms_goes_to_the_normalized_mobile(session, frozen_clock, staff, chart, fixed_token):
    chart.allow_sms = True
    session.add(chart)
    session.commit()
    result = send(session, chart, staff, channel="sms", address="(201) 555-0123")
    assert result.destination == MOBILE
    message = session.exec(select(OutboxMessage)).one()
    assert message.channel == "sms" and message.to_address == MOBILE
    assert redeem(session, chart, staff, sent_token(session, MOBILE), channel="sms",
                  address="201-555-0123").user_id == MOBILE
    welcome = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "connect_welcome")).one()
    assert welcome.channel == "sms" and welcome.to_address == MOBILE
    assert "http://localhost:3000/login" in welcome.body_text and MOBILE in welcome.body_text
    assert fixed_token not in welcome.body_text


def test_a_provider_delivered_token_is_not_kept_in_the_outbox(session, frozen_clock, staff, chart,
                                                               fixed_token):
    class Provider:
        name = "provider"

        def send(self, message, *, sender):
            if message.kind == "connect_token":
                assert fixed_token in message.body_text  # the patient does get it
            return "p-1"

    transports.use("email", Provider())
    send(session, chart, staff)
    message = session.exec(select(OutboxMessage)).one()
    assert message.status.value == "sent"
    assert fixed_token not in message.body_text and fixed_token not in message.body_html
    assert redeem(session, chart, staff, fixed_token).created


def test_a_simultaneous_second_submit_creates_nothing(session, frozen_clock, staff, chart,
                                                      fixed_token, monkeypatch):
    send(session, chart, staff)
    [stale] = live_tokens(session, chart)
    # Another request spends the token after this one has read it as live.
    with db.session_scope() as other:
        other.get(OneTimeSecret, stale.id).used_at = START
        other.commit()
    monkeypatch.setattr(connect, "_live_token", lambda session, patient_id: stale)
    with pytest.raises(InvalidInput, match="already been used"):
        redeem(session, chart, staff, fixed_token)
    assert session.exec(select(PortalAccount)).all() == []
    assert session.exec(select(PortalConnection)).all() == []


def test_a_failed_send_is_reported_and_kept(session, frozen_clock, staff, chart):
    class Down:
        name = "down"

        def send(self, message, *, sender):
            raise transports.SendFailed("provider down")

    transports.use("email", Down())
    result = send(session, chart, staff)
    assert result.status == "failed"
    assert session.exec(select(OutboxMessage)).one().status.value == "failed"
    assert actions(session)[-1] == "token.failed"


# --- connecting -------------------------------------------------------------------------

def test_right_token_creates_and_connects_the_account(session, frozen_clock, staff, chart, fixed_token):
    send(session, chart, staff, requested_by="Mother - Jane Doe")
    token = sent_token(session)
    result = redeem(session, chart, staff, f"  {token} ")
    assert result == connect.ConnectResult(user_id=EMAIL, created=True, welcome_status="sent")
    account = session.exec(select(PortalAccount)).one()
    assert account.status == AccountStatus.ACTIVE and account.must_change_password
    assert passwords.verify_password(token, account.password_hash)
    assert account.temp_password_expires_at.replace(tzinfo=START.tzinfo) == START + timedelta(days=3)
    connection = session.exec(select(PortalConnection)).one()
    assert connection.access_type == AccessType.SELF and connection.permissions == ALL_AREAS
    assert connection.requested_by == "Mother - Jane Doe"
    assert connection.connected_by_staff_id == staff.staff_user_id
    assert session.get(Patient, chart.id).account_state.value == "active"
    welcome = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "connect_welcome")).one()
    assert "http://localhost:3000/login" in welcome.body_text and EMAIL in welcome.body_text
    assert "Forgot password" in welcome.body_text and "3 days" in welcome.body_text
    assert token not in welcome.body_text and token not in welcome.body_html
    assert actions(session)[-4:] == ["token.redeem", "account.create", "chart.connect", "welcome.sent"]


def test_sign_in_with_the_token_forces_a_new_password_and_expires(session, frozen_clock, staff, chart):
    send(session, chart, staff)
    token = sent_token(session)
    redeem(session, chart, staff, token)
    sid = portal_auth.sign_in(session=session, user_id=EMAIL, password=token)
    principal = portal_auth.principal_for(session=session, session_id=sid)
    assert principal.must_change_password
    frozen_clock(START + timedelta(days=3, seconds=1))
    with pytest.raises(portal_auth.SignInFailed):
        portal_auth.sign_in(session=session, user_id=EMAIL, password=token)


def four_digits(session) -> None:
    """The practice chose 4-digit tokens (allowed, with the risk explained beside the setting)."""
    config = settings.get(session=session)
    config.token_length = 4
    session.add(config)
    session.commit()


def test_typed_token_forms(session, frozen_clock, staff, chart, monkeypatch):
    four_digits(session)
    monkeypatch.setattr(connect.secrets, "randbelow", lambda n: 42)
    send(session, chart, staff)
    assert sent_token(session) == "0042"
    for bad in ("42", "042", "00042", "0042x", "", "\u00b2042", "0" * 200):
        with pytest.raises(InvalidInput, match="4-digit token") as error:
            redeem(session, chart, staff, bad)
        assert error.value.field == "token"
    # Badly formed input is not a guess: it does not count against the five tries.
    assert live_tokens(session, chart)[0].attempts == 0
    assert connect.normalize_token("\uff10\uff10\uff14\uff12", length=4) == "0042"
    assert connect.normalize_token("00 42\t", length=4) == "0042"
    assert redeem(session, chart, staff, "\uff10\uff10\uff14\uff12").created


def test_full_width_digits_work(session, frozen_clock, staff, chart, monkeypatch):
    monkeypatch.setattr(connect.secrets, "randbelow", lambda n: 123456)
    send(session, chart, staff)
    assert redeem(session, chart, staff, "\uff11\uff12\uff13\uff14\uff15\uff16").created


def test_five_wrong_tokens_void_it(session, frozen_clock, staff, chart):
    send(session, chart, staff)
    token = sent_token(session)
    for attempt in range(1, 5):
        with pytest.raises(InvalidInput, match=f"{5 - attempt} tr") as error:
            redeem(session, chart, staff, wrong(token))
        assert error.value.field == "token"
    with pytest.raises(InvalidInput, match="Too many wrong tokens. Send a new token."):
        redeem(session, chart, staff, wrong(token))
    assert live_tokens(session, chart) == []
    with pytest.raises(InvalidInput, match="no longer valid"):
        redeem(session, chart, staff, token)
    assert session.exec(select(PortalAccount)).all() == []
    assert actions(session).count("token.redeem_failed") == 4 and actions(session)[-1] == "token.void"


def test_expired_token_is_refused(session, frozen_clock, staff, chart):
    send(session, chart, staff)
    token = sent_token(session)
    frozen_clock(START + timedelta(days=3))
    with pytest.raises(InvalidInput, match="expired"):
        redeem(session, chart, staff, token)
    assert session.exec(select(PortalAccount)).all() == []


def test_reused_token_and_double_submit(session, frozen_clock, staff, chart):
    send(session, chart, staff)
    token = sent_token(session)
    redeem(session, chart, staff, token)
    with pytest.raises(InvalidInput, match="already been used"):
        redeem(session, chart, staff, token)
    assert len(session.exec(select(PortalAccount)).all()) == 1
    assert len(session.exec(select(PortalConnection)).all()) == 1


def test_no_token_sent_yet(session, frozen_clock, staff, chart):
    with pytest.raises(InvalidInput, match="Send a token first"):
        redeem(session, chart, staff, "1234")


def test_voided_token_is_refused(session, frozen_clock, staff, chart):
    send(session, chart, staff)
    token = sent_token(session)
    tokens.revoke_live(session=session, patient_id=chart.id)
    session.commit()
    with pytest.raises(InvalidInput, match="no longer valid"):
        redeem(session, chart, staff, token)


def test_address_changed_mid_flow_is_refused(session, frozen_clock, staff, chart):
    send(session, chart, staff)
    token = sent_token(session)
    with pytest.raises(InvalidInput, match="Send a new token to this address") as error:
        redeem(session, chart, staff, token, address="someone.else@example.com")
    assert error.value.field == "address"
    with pytest.raises(InvalidInput, match="Send a new token to this address"):
        redeem(session, chart, staff, token, channel="sms", address=MOBILE)
    # Case and spaces are not a change: the address is compared normalized.
    assert redeem(session, chart, staff, token, address=f" {EMAIL.upper()} ").created


def test_existing_account_is_connected_not_recreated(session, frozen_clock, staff, chart):
    # The account is the patient's own, on a duplicate chart of hers (same names and birth date).
    sibling = make_patient(session, email="teo@example.com", enabled=True)
    manual_credentials.set_manually(session=session, patient_id=sibling.id, username=EMAIL,
                          password=PASSPHRASE, force_change=False, actor=staff)
    before = session.exec(select(PortalAccount)).one()
    old_hash = before.password_hash
    send(session, chart, staff, requested_by="Father")
    result = redeem(session, chart, staff, sent_token(session))
    assert result.user_id == EMAIL and result.created is False
    session.expire_all()
    account = session.exec(select(PortalAccount)).one()
    assert account.password_hash == old_hash and not account.must_change_password
    connections = session.exec(select(PortalConnection).where(PortalConnection.patient_id == chart.id)).all()
    assert len(connections) == 1 and connections[0].account_id == account.id
    assert connections[0].requested_by == "Father"
    welcome = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "connect_welcome")).one()
    assert "usual password" in welcome.body_text
    assert "account.create" not in actions(session)[-4:]

    # Connecting again (a second token) does not add a duplicate live connection.
    send(session, chart, staff)
    assert redeem(session, chart, staff, sent_token(session)).created is False
    assert len(session.exec(select(PortalConnection).where(
        PortalConnection.patient_id == chart.id)).all()) == 1


def test_chart_connected_to_another_self_account_is_refused(session, frozen_clock, staff, chart):
    manual_credentials.set_manually(session=session, patient_id=chart.id, username="old@example.com",
                          password=None, force_change=False, actor=staff)
    with pytest.raises(InvalidInput, match="already connected to the account old@example.com"):
        send(session, chart, staff)


def test_no_token_value_in_the_audit_log(session, frozen_clock, staff, chart, fixed_token):
    send(session, chart, staff)
    token = sent_token(session)
    with pytest.raises(InvalidInput):
        redeem(session, chart, staff, wrong(token))
    redeem(session, chart, staff, token)
    events = session.exec(select(AuditEvent)).all()
    assert len(events) >= 6
    for event in events:
        assert token not in event.detail and wrong(token) not in event.detail


def test_an_account_created_at_the_same_moment_is_reported_not_a_crash(session, staff, chart, fixed_token):
    send(session, chart, staff)
    with rival_account() as rivals, pytest.raises(InvalidInput) as caught:
        redeem(session, chart, staff, fixed_token)
    assert rivals, "the race was not simulated"
    assert (caught.value.field, caught.value.message) == (
        "address", f"An account with {EMAIL} was created a moment ago. Click Connect Patient again "
                   "to connect it.")
    assert session.exec(select(PortalConnection)).first() is None


def in_chicago(session):
    row = settings.get(session=session)
    row.time_zone = "America/Chicago"
    session.add(row)
    session.commit()


def test_the_patient_reads_the_expiry_in_the_practices_zone(session, frozen_clock, staff, chart):
    in_chicago(session)
    result = send(session, chart, staff)
    assert result.expires == "Thursday, November 26, 2026 at 9:00 AM (CST)"
    message = session.exec(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
    assert "November 26, 2026 at 9:00 AM (CST)" in message.body_text and "UTC" not in message.body_text

# ---- an address that is another person's account ---------------------------------------------


def _mothers_account(session, staff):
    """Ana Lopez (an adult) has her own account at EMAIL, connected to her own chart as self."""
    mother = make_patient(session, first="Ana", dob=date(1979, 3, 1), email="ana@example.com", enabled=True)
    manual_credentials.set_manually(session=session, patient_id=mother.id, username=EMAIL,
                                    password=PASSPHRASE, force_change=False, actor=staff)
    return mother


def test_an_address_of_another_patients_account_is_never_connected_as_self_silently(session, staff):
    _mothers_account(session, staff)
    son = make_patient(session, first="Leo", dob=date(2016, 5, 5), email="", enabled=True)
    with pytest.raises(connect.OwnerConfirmNeeded, match="another patient's own portal account") as asked:
        send(session, son, staff)
    assert asked.value.field == "owner" and asked.value.self_possible is False
    assert session.exec(select(OutboxMessage).where(OutboxMessage.kind == "connect_token")).first() is None
    # "Self" is no answer for another patient's own account.
    with pytest.raises(connect.OwnerConfirmNeeded):
        connect.send_connect_token(session=session, patient_id=son.id, channel="email", address=EMAIL,
                                   requested_by="Mother", actor=staff, as_whom=connect.AsWhom.of("self", ""))
    with pytest.raises(InvalidInput) as no_relationship:
        connect.AsWhom.of("representative", "")
    assert no_relationship.value.field == "relationship"

    as_parent = connect.AsWhom.of("representative", "parent")
    connect.send_connect_token(session=session, patient_id=son.id, channel="email", address=EMAIL,
                               requested_by="Mother", actor=staff, as_whom=as_parent)
    token = sent_token(session)
    with pytest.raises(connect.OwnerConfirmNeeded):  # the server asks again without the answer
        redeem(session, son, staff, token)
    result = connect.connect_with_token(session=session, patient_id=son.id, channel="email", address=EMAIL,
                                        token=token, actor=staff, as_whom=as_parent)
    assert result.representative and not result.created
    connection = session.exec(select(PortalConnection).where(PortalConnection.patient_id == son.id)).one()
    assert connection.access_type == AccessType.REPRESENTATIVE and connection.relationship == "parent"
    assert connection.permissions == REPRESENTATIVE_DEFAULT_AREAS
    assert any("authorized representative (parent), confirmed by staff" in (e.detail or "")
               for e in session.exec(select(AuditEvent)))


def test_a_representative_only_account_may_be_confirmed_as_the_patients_own(session, staff):
    mother = make_patient(session, first="Ana", dob=date(1979, 3, 1), email="ana@example.com", enabled=True)
    son = make_patient(session, first="Leo", dob=date(2016, 5, 5), email="", enabled=True)
    account = PortalAccount(user_id=EMAIL)
    session.add(account)
    session.commit()
    session.add(PortalConnection(account_id=account.id, patient_id=son.id,
                                 access_type=AccessType.REPRESENTATIVE, permissions="messages"))
    session.commit()
    with pytest.raises(connect.OwnerConfirmNeeded, match="other charts are connected to") as asked:
        send(session, mother, staff)
    assert asked.value.self_possible is True
    connect.send_connect_token(session=session, patient_id=mother.id, channel="email", address=EMAIL,
                               requested_by="Self", actor=staff, as_whom=connect.AsWhom.of("self", ""))
