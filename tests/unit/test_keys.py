"""Connection keys: generating and sending, and creating an account with one."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import String, Text
from sqlmodel import SQLModel, col, func, select

from portal_app.models import (
    AccessType,
    AccountStatus,
    AuditEvent,
    OneTimeSecret,
    OutboxMessage,
    Patient,
    PortalAccount,
    PortalConnection,
    PracticeSettings,
    SecretPurpose,
)
from portal_app.notify import transports
from portal_app.services import accounts, areas, audit, invitations, keys, passwords, portal_auth, settings
from portal_app.services import outbox as notify_outbox
from portal_app.services.errors import InvalidInput, PortalUnavailable
from tests.unit.conftest import START, make_patient
from tests.unit.races import rival_account, rival_connection

PASSWORD = "violet harbor engine quietly 7"
STAFF = audit.Actor.system("test")


@pytest.fixture
def chart(session):
    return make_patient(session, enabled=True, address_line1="12 Elm Street", city="Springfield",
                        region="IL", postal_code="62701")


def generate(session, patient, channel="email", address="maria.lopez@example.com"):
    return keys.generate_key(session=session, patient_id=patient.id, channel=channel,
                             address=address, requested_by="Maria herself", actor=STAFF)


def outbox(session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


def verification_token(session) -> str:
    body = outbox(session)[-1].body_text
    link = re.search(r"https?://\S+/setup\?\S+", body).group(0)
    assert parse_qs(urlsplit(link).query)["p"] == ["verify"]
    return parse_qs(urlsplit(link).query)["token"][0]


def start(session, user_id="new.user@example.com") -> str:
    keys.start_create_account(session=session, user_id=user_id, ip="1.2.3.4")
    return verification_token(session)


def key_row(session, plain: str) -> OneTimeSecret:
    session.expire_all()
    return session.exec(select(OneTimeSecret).where(
        OneTimeSecret.secret_hash == keys.key_digest(plain))).one()


def actions(session) -> list[str]:
    return [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.id))]


def portal(session, active: bool) -> None:
    row = session.get(PracticeSettings, 1) or PracticeSettings(id=1)
    row.portal_active = active
    session.add(row)
    session.commit()


# --- the key --------------------------------------------------------------------------------

def test_key_format_alphabet_and_grouping():
    seen = set()
    for _ in range(300):
        key = keys.new_key()
        assert re.fullmatch(r"[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}(-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}){2}",
                            key), key
        assert not set(key) & set("01OIL")
        seen.add(key)
    assert len(seen) == 300


@pytest.mark.parametrize("typed", ["abcd-efgh-jkmn", " ABCD EFGH JKMN ", "abcdefghjkmn",
                                   "ＡＢＣＤ－ＥＦＧＨ－ＪＫＭＮ", "ABCD\u2013EFGH-JKMN\n"])
def test_normalize_key_tolerates_case_spaces_dashes_fullwidth(typed):
    assert keys.normalize_key(typed) == "ABCDEFGHJKMN"


@pytest.mark.parametrize("typed", ["", "ABCD-EFGH-JKM", "ABCD-EFGH-JKMNP", "ABCD-EFGH-JKM0",
                                   "OBCD-EFGH-JKMN", "x" * 500, None])
def test_normalize_key_refuses_what_cannot_be_a_key(typed):
    assert keys.normalize_key(typed) == ""


# --- generating ------------------------------------------------------------------------------

def test_generate_by_email_stores_only_a_hash_and_sends_key_and_link(session, chart, frozen_clock):
    issued = generate(session, chart)
    assert issued.channel == "email" and issued.destination == "maria.lopez@example.com"
    assert issued.letter_pdf is None and issued.message_status == "sent"
    row = key_row(session, issued.key)
    assert row.purpose == SecretPurpose.CONNECTION_KEY and row.patient_id == chart.id
    assert row.secret_hash == keys.key_digest(issued.key.lower())
    assert row.requested_by == "Maria herself" and row.channel == "email"
    message = outbox(session)[-1]
    assert issued.key in message.body_text
    assert "http://localhost:3000/setup?p=createAccount" in message.body_text
    assert message.channel == "email" and message.to_address == "maria.lopez@example.com"
    assert actions(session)[-2:] == ["key.generate", "key.sent"]


def test_plain_key_is_stored_nowhere_but_the_outgoing_message(session, chart):
    issued = generate(session, chart, channel="sms", address="(202) 555-0123")
    needles = {issued.key, keys.normalize_key(issued.key)}
    for table in SQLModel.metadata.sorted_tables:
        text_columns = [c.name for c in table.columns if isinstance(c.type, (String, Text))]
        if not text_columns:
            continue
        # execute (not exec): rows stay tuples even for a table with one text column.
        for values in session.execute(select(*[table.c[name] for name in text_columns])):
            for name, value in zip(text_columns, values, strict=True):
                if table.name == "outboxmessage" and name in ("body_text", "body_html"):
                    continue
                assert not any(n in str(value) for n in needles), (table.name, name)


def test_lifetimes_three_days_for_email_and_sms_twenty_one_for_letter(session, chart, frozen_clock):
    for channel, address, days in (("email", "maria.lopez@example.com", 3),
                                   ("sms", "+12025550123", 3), ("letter", "", 21)):
        issued = generate(session, chart, channel=channel, address=address)
        row = key_row(session, issued.key)
        assert row.expires_at.replace(tzinfo=START.tzinfo) == START + timedelta(days=days)


def test_letter_is_kept_in_the_outbox_with_its_pdf(session, chart):
    issued = generate(session, chart, channel="letter", address="")
    assert issued.letter_pdf.startswith(b"%PDF")
    message = outbox(session)[-1]
    assert message.channel == "letter" and message.attachment == issued.letter_pdf
    assert message.to_address == "12 Elm Street, Springfield, IL 62701"
    assert issued.key.encode() in issued.letter_pdf
    assert actions(session)[-1] == "key.printed"


def test_letter_needs_a_postal_address(session):
    patient = make_patient(session, enabled=True)
    with pytest.raises(InvalidInput) as caught:
        generate(session, patient, channel="letter", address="")
    assert caught.value.field == "address"


def test_new_key_voids_the_older_one(session, chart):
    first = generate(session, chart)
    second = generate(session, chart)
    assert key_row(session, first.key).revoked_at is not None
    assert key_row(session, second.key).revoked_at is None
    assert "key.void" in actions(session)


@pytest.mark.parametrize("channel,address,field", [
    ("email", "not-an-email", "address"), ("sms", "12", "address"),
    ("pigeon", "x", "channel")])
def test_bad_address_or_channel_is_refused_and_nothing_sent(session, chart, channel, address, field):
    with pytest.raises(InvalidInput) as caught:
        generate(session, chart, channel=channel, address=address)
    assert caught.value.field == field
    assert outbox(session) == []


def test_portal_off_or_access_not_enabled_sends_nothing(session, chart):
    portal(session, False)
    with pytest.raises(PortalUnavailable):
        generate(session, chart)
    portal(session, True)
    disabled = make_patient(session, first="Ann", last="Lee", email="ann@example.com")
    with pytest.raises(InvalidInput):
        generate(session, disabled, address="ann@example.com")
    assert outbox(session) == []
    assert session.exec(select(func.count()).select_from(OneTimeSecret)).one() == 0


def test_requested_by_is_required(session, chart):
    with pytest.raises(InvalidInput) as caught:
        keys.generate_key(session=session, patient_id=chart.id, channel="email",
                          address="maria.lopez@example.com", requested_by="  ", actor=STAFF)
    assert caught.value.field == "requested_by"


# --- create account: verification ---------------------------------------------------------

def test_same_answer_and_no_link_when_the_user_id_has_an_account(session, chart):
    session.add(PortalAccount(user_id="taken@example.com", status=AccountStatus.ACTIVE))
    session.commit()
    assert keys.start_create_account(session=session, user_id=" Taken@Example.com ") == \
        "taken@example.com"
    message = outbox(session)[-1]
    assert message.to_address == "taken@example.com" and "already exists" in message.body_text
    assert "token=" not in message.body_text and "/forgot" in message.body_text
    assert session.exec(select(func.count()).select_from(OneTimeSecret)).one() == 0


def test_phone_user_id_gets_a_text_with_the_link(session):
    assert keys.start_create_account(session=session, user_id="(202) 555-0123") == "+12025550123"
    message = outbox(session)[-1]
    assert message.channel == "sms" and "/setup?p=verify&token=" in message.body_text


def test_verification_link_lasts_thirty_minutes(session, frozen_clock):
    token = start(session)
    assert keys.inspect_verification(session=session, token=token) == "new.user@example.com"
    frozen_clock(START + timedelta(minutes=30, seconds=1))
    with pytest.raises(invitations.LinkInvalid):
        keys.inspect_verification(session=session, token=token)


def test_asking_again_voids_the_older_link(session, frozen_clock):
    first = start(session)
    frozen_clock(START + timedelta(minutes=2))
    second = start(session)
    assert first != second
    with pytest.raises(invitations.LinkInvalid):
        keys.inspect_verification(session=session, token=first)
    assert keys.inspect_verification(session=session, token=second) == "new.user@example.com"


def test_double_click_sends_one_message(session, frozen_clock):
    start(session)
    keys.start_create_account(session=session, user_id="new.user@example.com")
    assert len(outbox(session)) == 1


# --- create account: key, details, password ------------------------------------------------

def finish(session, token, key, *, last="Lopez", dob="1980-04-02", password=PASSWORD):
    return keys.finish_create_account(session=session, whose="self", token=token, key=key, last_name=last,
                                      dob=dob, password=password, confirm=password, ip="1.2.3.4")


def test_whole_flow_creates_connects_and_signs_in(session, chart, frozen_clock):
    issued = generate(session, chart)
    token = start(session)
    typed = " " + issued.key.lower().replace("-", " ") + " "
    keys.check_key(session=session, token=token, key=typed)
    keys.verify_details(session=session, whose="self", token=token, key=typed, last_name="  lopez ",
                        dob="04/02/1980")
    sid = finish(session, token, typed, last=" LOPEZ")
    session.expire_all()
    account = session.exec(select(PortalAccount).where(
        PortalAccount.user_id == "new.user@example.com")).one()
    assert account.status == AccountStatus.ACTIVE and account.verified_at is not None
    assert passwords.verify_password(PASSWORD, account.password_hash)
    connection = session.exec(select(PortalConnection).where(
        PortalConnection.account_id == account.id)).one()
    assert connection.patient_id == chart.id and connection.access_type == AccessType.SELF
    assert connection.permissions == areas.ALL_AREAS
    assert connection.requested_by == "Maria herself"
    principal = portal_auth.principal_for(session=session, session_id=sid)
    assert principal.account_id == account.id
    assert session.get(Patient, chart.id).account_state.value == "active"
    assert key_row(session, issued.key).used_at is not None
    for action in ("key.redeem", "account.create", "chart.connect", "portal.sign_in"):
        assert action in actions(session)
    # Single use: neither the key nor the link works again.
    with pytest.raises(invitations.LinkInvalid):
        keys.inspect_verification(session=session, token=token)
    other = start(session, "second@example.com")
    with pytest.raises(keys.KeyInvalid):
        keys.check_key(session=session, token=other, key=issued.key)


def test_expired_key_is_refused(session, chart, frozen_clock):
    issued = generate(session, chart)
    frozen_clock(START + timedelta(days=3, seconds=1))
    token = start(session)
    with pytest.raises(keys.KeyInvalid):
        keys.check_key(session=session, token=token, key=issued.key)


def test_letter_key_still_works_after_a_week(session, chart, frozen_clock):
    issued = generate(session, chart, channel="letter", address="")
    frozen_clock(START + timedelta(days=7))
    token = start(session)
    keys.check_key(session=session, token=token, key=issued.key)


def test_five_wrong_keys_void_the_verification_link(session, chart):
    issued = generate(session, chart)
    token = start(session)
    for _ in range(4):
        with pytest.raises(keys.KeyInvalid) as caught:
            keys.check_key(session=session, token=token, key="ABCD-EFGH-JKMN")
        assert caught.value.message == keys.KEY_INVALID
    with pytest.raises(invitations.LinkInvalid):
        keys.check_key(session=session, token=token, key="ABCD-EFGH-JKMN")
    with pytest.raises(invitations.LinkInvalid):
        keys.check_key(session=session, token=token, key=issued.key)
    assert actions(session).count("key.failed") == 5
    assert key_row(session, issued.key).revoked_at is None  # the key itself is still good


def test_five_wrong_details_void_the_key(session, chart):
    issued = generate(session, chart)
    token = start(session)
    keys.check_key(session=session, token=token, key=issued.key)
    for left in (4, 3, 2, 1):
        with pytest.raises(keys.DetailsMismatch) as caught:
            keys.verify_details(session=session, whose="self", token=token, key=issued.key, last_name="Smith",
                                dob="1980-04-02")
        # The person sees how many tries the key has left before it dies (issue 15, item 16).
        tries = "try" if left == 1 else "tries"
        assert caught.value.message == (f"Those details do not match our records. {left} {tries} left before "
                                        "this key stops working.")
        assert caught.value.tries_left == left
        assert "Lopez" not in caught.value.message
    with pytest.raises(keys.KeyInvalid):
        keys.verify_details(session=session, whose="self", token=token, key=issued.key, last_name="Lopez",
                            dob="1980-04-03")
    assert key_row(session, issued.key).revoked_at is not None
    with pytest.raises(keys.KeyInvalid):
        finish(session, token, issued.key)
    assert session.exec(select(func.count()).select_from(PortalAccount)).one() == 0


def test_a_badly_typed_date_is_not_counted_as_a_try(session, chart):
    issued = generate(session, chart)
    token = start(session)
    with pytest.raises(InvalidInput) as caught:
        keys.verify_details(session=session, whose="self", token=token, key=issued.key, last_name="Lopez",
                            dob="yesterday")
    assert caught.value.field == "dob"
    assert key_row(session, issued.key).attempts == 0


def test_another_charts_key_with_this_patients_details_fails(session, chart):
    other = make_patient(session, first="Ann", last="Lee", email="ann@example.com",
                         dob=date(1990, 1, 1), enabled=True)
    issued = generate(session, other, address="ann@example.com")
    token = start(session)
    keys.check_key(session=session, token=token, key=issued.key)
    with pytest.raises(keys.DetailsMismatch):
        finish(session, token, issued.key, last="Lopez", dob="1980-04-02")
    assert session.exec(select(func.count()).select_from(PortalConnection)).one() == 0


def test_finish_refuses_a_weak_password_and_a_taken_user_id(session, chart):
    issued = generate(session, chart)
    token = start(session)
    with pytest.raises(InvalidInput) as caught:
        finish(session, token, issued.key, password="lopez12345")
    assert caught.value.field == "password"
    session.add(PortalAccount(user_id="new.user@example.com", status=AccountStatus.ACTIVE))
    session.commit()
    with pytest.raises(InvalidInput) as caught:
        finish(session, token, issued.key)
    assert caught.value.field == "form" and "meantime" in caught.value.message
    assert key_row(session, issued.key).used_at is None


def test_portal_off_stops_every_step(session, chart):
    issued = generate(session, chart)
    token = start(session)
    portal(session, False)
    with pytest.raises(PortalUnavailable):
        keys.start_create_account(session=session, user_id="x@example.com")
    with pytest.raises(PortalUnavailable):
        keys.check_key(session=session, token=token, key=issued.key)
    with pytest.raises(PortalUnavailable):
        finish(session, token, issued.key)


def test_fresh_verification_goes_to_the_same_user_id(session, frozen_clock):
    token = start(session)
    frozen_clock(START + timedelta(minutes=31))
    keys.request_fresh_verification(session=session, token=token)
    assert outbox(session)[-1].to_address == "new.user@example.com"
    fresh = verification_token(session)
    assert keys.inspect_verification(session=session, token=fresh) == "new.user@example.com"
    keys.request_fresh_verification(session=session, token="nonsense")  # no error, no message
    assert len(outbox(session)) == 2


# --- connect another chart ------------------------------------------------------------------

def signed_up(session, chart) -> PortalAccount:
    issued = generate(session, chart)
    token = start(session)
    finish(session, token, issued.key)
    session.expire_all()
    return session.exec(select(PortalAccount)).one()


def test_connect_another_chart(session, chart):
    account = signed_up(session, chart)
    second = make_patient(session, first="Maria", last="Lopez-Diaz", email="m2@example.com",
                          dob=date(1980, 4, 2), enabled=True, chart="C2")
    issued = generate(session, second, address="m2@example.com")
    name = keys.connect_another_chart(session=session, whose="self", account_id=account.id, key=issued.key,
                                      last_name="lopez-diaz", dob="1980-04-02")
    assert name == "Maria Lopez-Diaz"
    session.expire_all()
    assert session.exec(select(func.count()).select_from(PortalConnection).where(
        PortalConnection.account_id == account.id)).one() == 2
    assert key_row(session, issued.key).used_at is not None


def test_connect_another_chart_already_connected_and_wrong_details(session, chart):
    account = signed_up(session, chart)
    issued = generate(session, chart)
    with pytest.raises(InvalidInput) as caught:
        keys.connect_another_chart(session=session, whose="self", account_id=account.id, key=issued.key,
                                   last_name="Lopez", dob="1980-04-02")
    assert "already connected" in caught.value.message
    for _ in range(4):
        with pytest.raises(keys.DetailsMismatch):
            keys.connect_another_chart(session=session, whose="self", account_id=account.id, key=issued.key,
                                       last_name="Nope", dob="1980-04-02")
    with pytest.raises(keys.KeyInvalid):
        keys.connect_another_chart(session=session, whose="self", account_id=account.id, key=issued.key,
                                   last_name="Nope", dob="1980-04-02")
    assert key_row(session, issued.key).revoked_at is not None


def test_connect_another_chart_limits_wrong_keys(session, chart):
    account = signed_up(session, chart)
    for _ in range(keys.MAX_WRONG_KEYS_PER_HOUR):
        with pytest.raises(keys.KeyInvalid):
            keys.connect_another_chart(session=session, whose="self", account_id=account.id,
                                       key="ABCD-EFGH-JKMN", last_name="x", dob="1980-04-02")
    with pytest.raises(keys.KeyInvalid) as caught:
        keys.connect_another_chart(session=session, whose="self", account_id=account.id,
                                   key="ABCD-EFGH-JKMN", last_name="x", dob="1980-04-02")
    assert "Too many" in caught.value.message


def test_key_leaves_the_outbox_once_another_transport_delivered_it(session, chart):
    class Delivered:
        name = "fake"

        def send(self, message, *, sender):
            return "fake-1"

    transports.use("email", Delivered())
    issued = generate(session, chart)
    message = outbox(session)[-1]
    assert message.status.value == "sent"
    assert issued.key not in message.body_text + message.body_html
    assert notify_outbox.REDACTED in message.body_text


def test_failed_send_is_kept_for_retry_and_audited(session, chart):
    class Broken:
        name = "broken"

        def send(self, message, *, sender):
            raise transports.SendFailed("no route")

    transports.use("email", Broken())
    issued = generate(session, chart)
    assert issued.message_status == "failed"
    assert outbox(session)[-1].status.value == "failed"
    assert issued.key in outbox(session)[-1].body_text  # a retry must still carry it
    assert actions(session)[-1] == "key.failed"


def test_a_chart_never_gets_a_second_self_account(session, chart):
    """Sign-up and "connect another chart" both refuse a chart that has its own account."""
    first_owner = signed_up(session, chart)

    issued = generate(session, chart)
    token = start(session, user_id="someone.else@example.com")
    with pytest.raises(InvalidInput, match="already has its own portal account"):
        finish(session, token, issued.key)

    other = make_patient(session, first="Ana", last="Ruiz", email="ana@example.com",
                         dob=date(1975, 1, 9), enabled=True, chart="C9")
    other_key = generate(session, other, address="ana@example.com")
    finish(session, start(session, user_id="ana@example.com"), other_key.key, last="Ruiz",
           dob="1975-01-09")
    ana = session.exec(select(PortalAccount).where(PortalAccount.user_id == "ana@example.com")).one()
    issued = generate(session, chart)
    with pytest.raises(InvalidInput, match="already has its own portal account"):
        keys.connect_another_chart(session=session, whose="self", account_id=ana.id, key=issued.key,
                                   last_name="Lopez", dob="1980-04-02")

    session.expire_all()
    selves = session.exec(select(PortalConnection).where(
        PortalConnection.patient_id == chart.id, PortalConnection.access_type == AccessType.SELF,
        col(PortalConnection.revoked_at).is_(None))).all()
    assert [c.account_id for c in selves] == [first_owner.id]


def test_finish_when_the_user_id_is_taken_at_the_same_moment(session, chart):
    issued = generate(session, chart)
    token = start(session)
    with rival_account() as rivals, pytest.raises(InvalidInput) as caught:
        finish(session, token, issued.key)
    assert rivals, "the race was not simulated"
    assert (caught.value.field, caught.value.message) == (
        "form", "An account with new.user@example.com was created in the meantime. Sign in with it, "
                "or use \"Forgot password\".")
    assert session.exec(select(PortalConnection)).first() is None


def test_connect_another_chart_twice_at_the_same_moment(session, chart):
    account = signed_up(session, chart)
    second = make_patient(session, first="Maria", last="Lopez-Diaz", email="m2@example.com",
                          dob=date(1980, 4, 2), enabled=True, chart="C2")
    issued = generate(session, second, address="m2@example.com")
    with rival_connection() as rivals, pytest.raises(InvalidInput) as caught:
        keys.connect_another_chart(session=session, whose="self", account_id=account.id, key=issued.key,
                                   last_name="Lopez-Diaz", dob="1980-04-02")
    assert rivals, "the race was not simulated"
    assert (caught.value.field, caught.value.message) == (
        "key", "That chart is already connected to your account.")


def test_keys_and_letters_give_dates_in_the_practices_zone(session, chart, frozen_clock):
    from tests.unit.test_letters import extracted_text

    row = settings.get(session=session)
    row.time_zone = "America/Chicago"
    session.add(row)
    session.commit()
    frozen_clock(datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc))  # still November 30 in Chicago
    issued = generate(session, chart, channel="letter", address="")
    text = " ".join(extracted_text(issued.letter_pdf).split())
    assert "November 30, 2026" in text and "(CST)" in text and "UTC" not in text
    assert issued.expires.endswith("(CST)")

# --- whose chart: the person's own, or someone they care for (issue 15, item 3) ----------------


def test_redeeming_a_key_asks_whose_chart_it_is(session, chart):
    issued = generate(session, chart)
    token = start(session)
    keys.check_key(session=session, token=token, key=issued.key)
    with pytest.raises(InvalidInput) as no_answer:
        keys.verify_details(session=session, token=token, key=issued.key, last_name="Lopez", dob="1980-04-02")
    assert no_answer.value.field == "whose"
    with pytest.raises(InvalidInput) as no_relationship:
        keys.verify_details(session=session, whose="representative", token=token, key=issued.key,
                            last_name="Lopez", dob="1980-04-02")
    assert no_relationship.value.field == "relationship"
    assert key_row(session, issued.key).attempts == 0  # not a guess: nothing counted


def test_a_mother_redeeming_her_sons_key_becomes_his_representative(session):
    son = make_patient(session, first="Leo", dob=date(2016, 5, 5), email="", enabled=True)
    issued = generate(session, son, address="ana@example.com")
    token = start(session, "ana@example.com")
    keys.check_key(session=session, token=token, key=issued.key)
    keys.verify_details(session=session, whose="representative", relationship="parent", token=token,
                        key=issued.key, last_name="Lopez", dob="2016-05-05")
    keys.finish_create_account(session=session, whose="representative", relationship="parent", token=token,
                               key=issued.key, last_name="Lopez", dob="2016-05-05", password=PASSWORD,
                               confirm=PASSWORD)
    session.expire_all()
    connection = session.exec(select(PortalConnection)).one()
    assert connection.access_type == AccessType.REPRESENTATIVE and connection.relationship == "parent"
    assert connection.permissions == areas.REPRESENTATIVE_DEFAULT_AREAS
    assert "billing" not in connection.permissions
    son_row = session.get(Patient, son.id)
    assert son_row.account_state.value == "none"  # the son has no account of his own yet
    assert any("as authorized representative (parent)" in (e.detail or "")
               for e in session.exec(select(AuditEvent).where(AuditEvent.action == "chart.connect")))


def test_a_childs_chart_is_never_self_on_an_adults_account_with_her_own_chart(session, chart):
    mother = signed_up(session, chart)  # Maria Lopez, born 1980: her own chart, as self
    son = make_patient(session, first="Leo", dob=date(2016, 5, 5), email="", enabled=True, chart="C3")
    issued = generate(session, son, address="maria.lopez@example.com")
    with pytest.raises(InvalidInput, match="under 18") as refused:
        keys.connect_another_chart(session=session, whose="self", account_id=mother.id, key=issued.key,
                                   last_name="Lopez", dob="2016-05-05")
    assert refused.value.field == "whose"
    assert key_row(session, issued.key).used_at is None  # the key still works, as a representative
    name = keys.connect_another_chart(session=session, whose="representative", relationship="parent",
                                      account_id=mother.id, key=issued.key, last_name="Lopez", dob="2016-05-05")
    assert name == "Leo Lopez"
    session.expire_all()
    connection = session.exec(select(PortalConnection).where(PortalConnection.patient_id == son.id)).one()
    assert connection.access_type == AccessType.REPRESENTATIVE


def test_the_minor_rule_holds_for_every_path_that_connects(session, chart):
    """accounts.connect_chart itself refuses: no journey can make the child Self on her account."""
    mother = signed_up(session, chart)
    son = make_patient(session, first="Leo", dob=date(2016, 5, 5), email="", enabled=True, chart="C3")
    with pytest.raises(InvalidInput, match="under 18"):
        accounts.connect_chart(session=session, account=mother, patient=son, requested_by="test")
    # Nor the other way round: the mother's chart as self on the child's own account.
    own = accounts.create_account(session=session, user_id="leo@example.com")
    accounts.connect_chart(session=session, account=own, patient=son, requested_by="test")
    with pytest.raises(InvalidInput, match="a child's own account"):
        accounts.connect_chart(session=session, account=own, patient=chart, requested_by="test")
    # A duplicate chart of the adult herself is fine.
    duplicate = make_patient(session, email="dup@example.com", enabled=True, chart="C4")
    accounts.connect_chart(session=session, account=mother, patient=duplicate, requested_by="test")
