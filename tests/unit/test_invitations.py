"""Invitation and reset links: sending, double clicks, lifetimes, redeeming, self-service."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import String, Text
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, col, select

from portal_app.models import (
    AccessType,
    AccountStatus,
    AuditEvent,
    ChartAccountState,
    OneTimeSecret,
    OutboxMessage,
    Patient,
    PortalAccount,
    PortalConnection,
    SecretPurpose,
)
from portal_app.services import (
    accounts,
    audit,
    invitations,
    manual_credentials,
    onboarding,
    portal_auth,
    settings,
    tokens,
)
from portal_app.services.errors import FormInvalid, InvalidInput, PortalUnavailable
from portal_app.services.invitations import LinkInvalid, SendKind
from tests.unit.conftest import START, make_patient
from tests.unit.races import rival_account

PASSWORD = "quiet lantern orbit 73 meadow"
NEW_PASSWORD = "amber falcon drifts 19 north"


def _actor(admin):
    return audit.Actor.staff(admin.id)


def _enabled(session, **kw):
    return make_patient(session, enabled=True, **kw)


def _messages(session):
    return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


def _token_of(message):
    return re.search(r"token=([\w-]+)", message.body_text).group(1)


def _send(session, patient, admin):
    result = invitations.send_invitation_or_reset(session=session, patient_id=patient.id,
                                                  actor=_actor(admin))
    return result, _token_of(_messages(session)[-1])


def _live_links(session):
    return list(session.exec(select(OneTimeSecret).where(col(OneTimeSecret.used_at).is_(None),
                                                         col(OneTimeSecret.revoked_at).is_(None))))


def _accept(session, token, user_id="maria.lopez@example.com", password=PASSWORD, confirm=None):
    return invitations.redeem_invitation(session=session, token=token, user_id=user_id,
                                         password=password, confirm=password if confirm is None else confirm)


def _signed_up(session, admin, **kw):
    """An enabled chart whose patient accepted the invitation; returns (patient, session id)."""
    patient = _enabled(session, **kw)
    _result, token = _send(session, patient, admin)
    return patient, _accept(session, token, user_id=patient.email)


# --- sending -----------------------------------------------------------------------------------

def test_invitation_goes_to_the_email_on_file_with_a_link_from_settings(session, admin, frozen_clock):
    config = settings.get(session=session)
    config.portal_base_url = "https://portal.riverside.example"
    session.add(config)
    session.commit()
    patient = _enabled(session)
    result, token = _send(session, patient, admin)
    assert (result.kind, result.status, result.to) == (SendKind.INVITATION, "sent", patient.email)
    assert result.message == f"Invitation sent to {patient.email}."
    message = _messages(session)[0]
    assert message.kind == "invitation" and message.to_address == patient.email
    assert f"https://portal.riverside.example/setup?p=invite&token={token}" in message.body_text
    assert "expires in 3 days" in message.body_text
    link = session.exec(select(OneTimeSecret)).one()
    assert link.purpose == SecretPurpose.INVITATION
    assert link.expires_at == START + timedelta(hours=72)
    session.expire_all()
    assert session.get(Patient, patient.id).account_state == ChartAccountState.INVITED
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "invitation.send")).one().patient_id == patient.id


def test_reset_email_when_an_account_exists(session, admin, frozen_clock):
    patient, _sid = _signed_up(session, admin)
    frozen_clock(START + timedelta(minutes=5))
    result, token = _send(session, patient, admin)
    assert (result.kind, result.status) == (SendKind.RESET, "sent")
    assert result.message.startswith("Password reset email sent to")
    assert f"/setup?p=reset&token={token}" in _messages(session)[-1].body_text
    link = session.exec(select(OneTimeSecret).where(
        OneTimeSecret.purpose == SecretPurpose.PASSWORD_RESET)).one()
    assert link.expires_at == START + timedelta(minutes=65)
    assert link.account_id == accounts.self_account(session=session, patient_id=patient.id).id


def test_lifetimes_follow_the_settings(session, admin, frozen_clock):
    settings.update(session=session, actor_id=admin.id, portal_active=True,
                    practice_name="Riverside Family Practice", practice_phone="(555) 010-0100",
                    portal_base_url="http://localhost:3000", sender_address="portal@example.org",
                    invitation_hours=24, reset_minutes=15)
    patient = _enabled(session)
    _result, token = _send(session, patient, admin)
    assert "expires in 24 hours" in _messages(session)[-1].body_text
    frozen_clock(START + timedelta(hours=23, minutes=59))
    assert invitations.inspect_link(session=session, token=token, purpose=SecretPurpose.INVITATION)
    frozen_clock(START + timedelta(hours=24))
    with pytest.raises(LinkInvalid):
        invitations.inspect_link(session=session, token=token, purpose=SecretPurpose.INVITATION)
    frozen_clock(START)
    _accept(session, _send(session, patient, admin)[1], user_id=patient.email)
    _result, reset = _send(session, patient, admin)
    assert "expires in 15 minutes" in _messages(session)[-1].body_text
    frozen_clock(START + timedelta(minutes=15))
    with pytest.raises(LinkInvalid):
        invitations.redeem_reset(session=session, token=reset, password=NEW_PASSWORD, confirm=NEW_PASSWORD)


def test_default_reset_link_lives_60_minutes(session, admin, frozen_clock):
    patient, _sid = _signed_up(session, admin)
    _result, reset = _send(session, patient, admin)
    frozen_clock(START + timedelta(minutes=59, seconds=59))
    assert invitations.inspect_link(session=session, token=reset, purpose=SecretPurpose.PASSWORD_RESET)
    frozen_clock(START + timedelta(minutes=60))
    with pytest.raises(LinkInvalid):
        invitations.redeem_reset(session=session, token=reset, password=NEW_PASSWORD, confirm=NEW_PASSWORD)


def test_double_click_within_the_window_sends_one_email(session, admin, frozen_clock):
    patient = _enabled(session)
    first, token = _send(session, patient, admin)
    frozen_clock(START + timedelta(seconds=30))
    second = invitations.send_invitation_or_reset(session=session, patient_id=patient.id, actor=_actor(admin))
    assert second.status == "already_sent"
    assert second.message == f"Invitation was just sent to {patient.email}."
    assert len(_messages(session)) == 1
    assert invitations.inspect_link(session=session, token=token, purpose=SecretPurpose.INVITATION)


def test_resending_after_the_window_voids_the_older_link(session, admin, frozen_clock):
    patient = _enabled(session)
    _first, old = _send(session, patient, admin)
    frozen_clock(START + timedelta(seconds=61))
    _second, new = _send(session, patient, admin)
    assert len(_messages(session)) == 2 and old != new
    with pytest.raises(LinkInvalid):
        invitations.inspect_link(session=session, token=old, purpose=SecretPurpose.INVITATION)
    assert invitations.inspect_link(session=session, token=new, purpose=SecretPurpose.INVITATION)
    assert len(_live_links(session)) == 1


def test_cannot_send_when_not_enabled_no_email_email_not_allowed_or_disabled(session, admin):
    red = make_patient(session, chart="R1")
    with pytest.raises(InvalidInput, match="not enabled"):
        invitations.send_invitation_or_reset(session=session, patient_id=red.id, actor=_actor(admin))
    no_email = _enabled(session, chart="R2", email="")
    with pytest.raises(InvalidInput, match="No email on file") as info:
        invitations.send_invitation_or_reset(session=session, patient_id=no_email.id, actor=_actor(admin))
    assert info.value.field == "email"
    refused = _enabled(session, chart="R3", email="no.mail@example.com", allow_email=False)
    with pytest.raises(InvalidInput, match="Allow email is off"):
        invitations.send_invitation_or_reset(session=session, patient_id=refused.id, actor=_actor(admin))
    assert _messages(session) == [] and _live_links(session) == []


def test_disabled_account_gets_no_reset(session, admin):
    patient, _sid = _signed_up(session, admin)
    account = accounts.self_account(session=session, patient_id=patient.id)
    account.status = AccountStatus.DISABLED
    session.add(account)
    session.commit()
    with pytest.raises(InvalidInput, match="disabled"):
        invitations.send_invitation_or_reset(session=session, patient_id=patient.id, actor=_actor(admin))


def test_portal_switched_off_sends_nothing(session, admin):
    patient = _enabled(session)
    config = settings.get(session=session)
    config.portal_active = False
    session.add(config)
    session.commit()
    with pytest.raises(PortalUnavailable):
        invitations.send_invitation_or_reset(session=session, patient_id=patient.id, actor=_actor(admin))
    with pytest.raises(PortalUnavailable):
        invitations.request_by_email_and_dob(session=session, email=patient.email, dob="04/02/1980")
    assert _messages(session) == []


def test_plain_link_token_is_stored_only_hashed(session, admin):
    patient = _enabled(session)
    _result, token = _send(session, patient, admin)
    assert session.exec(select(OneTimeSecret)).one().secret_hash == tokens.digest(token)
    found = []
    for table in SQLModel.metadata.sorted_tables:
        for column in table.columns:
            if not isinstance(column.type, (String, Text)):
                continue
            # The message itself carries the link by design (the outbox is how it is read
            # without an email provider); every other column must not.
            if table.name == "outboxmessage" and column.name in ("body_text", "body_html"):
                continue
            found += [f"{table.name}.{column.name}" for (value,) in session.execute(sa_select(column))
                      if value and token in value]
    assert found == []


# --- redeeming an invitation ---------------------------------------------------------------------

def test_inspect_link_shows_first_name_and_suggests_the_email(session, admin):
    patient = _enabled(session)
    _result, token = _send(session, patient, admin)
    info = invitations.inspect_link(session=session, token=token, purpose=SecretPurpose.INVITATION)
    assert (info.purpose, info.first_name, info.suggested_user_id) == ("invitation", "Maria",
                                                                       "maria.lopez@example.com")
    with pytest.raises(LinkInvalid):
        invitations.inspect_link(session=session, token=token, purpose=SecretPurpose.PASSWORD_RESET)


def test_redeem_creates_account_connected_as_self_and_signs_in(session, admin, frozen_clock):
    patient = _enabled(session)
    _result, token = _send(session, patient, admin)
    sid = _accept(session, token, user_id=" Maria.Lopez@Example.com ")
    principal = portal_auth.principal_for(session=session, session_id=sid)
    assert principal.user_id == "maria.lopez@example.com"
    assert [c.patient_id for c in principal.charts] == [patient.id]
    account = session.exec(select(PortalAccount)).one()
    assert account.status == AccountStatus.ACTIVE and account.verified_at == START
    assert account.password_hash.startswith("$argon2id$")
    connection = session.exec(select(PortalConnection)).one()
    assert (connection.account_id, connection.patient_id, connection.access_type) == (
        account.id, patient.id, AccessType.SELF)
    actions = [e.action for e in session.exec(select(AuditEvent))]
    assert "account.create" in actions and "portal.sign_in" in actions
    assert portal_auth.sign_in(session=session, user_id="maria.lopez@example.com", password=PASSWORD)


def test_redeem_with_a_phone_number_as_user_id_is_not_marked_verified(session, admin):
    patient = _enabled(session)
    _result, token = _send(session, patient, admin)
    _accept(session, token, user_id="(201) 555-0123")
    account = session.exec(select(PortalAccount)).one()
    assert account.user_id == "+12015550123" and account.verified_at is None


def test_invitation_is_single_use(session, admin):
    patient = _enabled(session)
    _result, token = _send(session, patient, admin)
    _accept(session, token)
    with pytest.raises(LinkInvalid):
        invitations.inspect_link(session=session, token=token, purpose=SecretPurpose.INVITATION)
    with pytest.raises(LinkInvalid):
        _accept(session, token, user_id="other@example.com")
    assert len(session.exec(select(PortalAccount)).all()) == 1
    assert session.exec(select(OneTimeSecret)).one().used_at is not None


@pytest.mark.parametrize("token", ["", None, "garbage", "x" * (1024 * 1024)])
def test_unknown_or_huge_token_is_refused(session, admin, token):
    _enabled(session)
    with pytest.raises(LinkInvalid):
        _accept(session, token)


def test_tampered_token_is_refused(session, admin):
    patient = _enabled(session)
    _result, token = _send(session, patient, admin)
    with pytest.raises(LinkInvalid):
        _accept(session, token[:-2] + ("aa" if token[-2:] != "aa" else "bb"))


def test_expired_invitation_is_refused_at_72_hours(session, admin, frozen_clock):
    patient = _enabled(session)
    _result, token = _send(session, patient, admin)
    frozen_clock(START + timedelta(hours=72))
    with pytest.raises(LinkInvalid):
        _accept(session, token)


def test_username_taken_goes_to_the_user_id_field_and_keeps_the_link(session, admin):
    _other, _sid = _signed_up(session, admin, first="Ann", last="Other", email="ann@example.com", chart="X1")
    patient = _enabled(session)
    _result, token = _send(session, patient, admin)
    with pytest.raises(InvalidInput, match="already in use") as info:
        _accept(session, token, user_id="ANN@example.com")
    assert info.value.field == "user_id"
    assert _accept(session, token)  # the link still works after the refusal


@pytest.mark.parametrize("password, confirm, field", [
    ("short", "short", "password"),
    ("password123", "password123", "password"),
    ("maria lopez forever 99", "maria lopez forever 99", "password"),
    ("riverside family clinic 88", "riverside family clinic 88", "password"),
    (PASSWORD, PASSWORD + "!", "confirm"),
])
def test_bad_password_is_refused_on_its_field_and_keeps_the_link(session, admin, password, confirm, field):
    patient = _enabled(session)
    _result, token = _send(session, patient, admin)
    with pytest.raises(InvalidInput) as info:
        _accept(session, token, password=password, confirm=confirm)
    assert info.value.field == field
    assert session.exec(select(PortalAccount)).all() == []
    assert _accept(session, token)


def test_invitation_dies_when_access_is_disabled(session, admin):
    patient = _enabled(session)
    _result, token = _send(session, patient, admin)
    onboarding.disable_access(session=session, patient_id=patient.id, actor=_actor(admin))
    onboarding.enable_access(session=session, patient_id=patient.id, actor=_actor(admin))
    with pytest.raises(LinkInvalid):
        _accept(session, token)


def test_redeem_when_portal_is_off(session, admin):
    patient = _enabled(session)
    _result, token = _send(session, patient, admin)
    config = settings.get(session=session)
    config.portal_active = False
    session.add(config)
    session.commit()
    with pytest.raises(PortalUnavailable):
        _accept(session, token)


def test_invitation_dies_when_staff_set_up_the_account_by_hand(session, admin):
    patient = _enabled(session)
    _result, token = _send(session, patient, admin)
    manual_credentials.set_manually(session=session, patient_id=patient.id, username=patient.email,
                          password=PASSWORD, force_change=False, actor=_actor(admin))
    with pytest.raises(LinkInvalid):
        invitations.inspect_link(session=session, token=token, purpose=SecretPurpose.INVITATION)
    with pytest.raises(LinkInvalid):
        _accept(session, token, user_id="someone.else@example.com")


# --- reset ----------------------------------------------------------------------------------------

def test_reset_sets_the_password_and_ends_every_other_session(session, admin, frozen_clock):
    patient, first_sid = _signed_up(session, admin)
    second_sid = portal_auth.sign_in(session=session, user_id=patient.email, password=PASSWORD)
    _result, reset = _send(session, patient, admin)
    new_sid = invitations.redeem_reset(session=session, token=reset, password=NEW_PASSWORD,
                                       confirm=NEW_PASSWORD)
    assert portal_auth.principal_for(session=session, session_id=first_sid) is None
    assert portal_auth.principal_for(session=session, session_id=second_sid) is None
    assert portal_auth.principal_for(session=session, session_id=new_sid) is not None
    with pytest.raises(portal_auth.SignInFailed):
        portal_auth.sign_in(session=session, user_id=patient.email, password=PASSWORD)
    assert portal_auth.sign_in(session=session, user_id=patient.email, password=NEW_PASSWORD)
    with pytest.raises(LinkInvalid):
        invitations.redeem_reset(session=session, token=reset, password="third password here 77x",
                                 confirm="third password here 77x")
    detail = session.exec(select(AuditEvent).where(AuditEvent.action == "account.password_reset")).one().detail
    assert "other sessions ended=2" in detail


def test_reset_refuses_the_current_password_and_weak_ones(session, admin):
    patient, _sid = _signed_up(session, admin)
    _result, reset = _send(session, patient, admin)
    with pytest.raises(InvalidInput, match="different") as info:
        invitations.redeem_reset(session=session, token=reset, password=PASSWORD, confirm=PASSWORD)
    assert info.value.field == "password"
    with pytest.raises(InvalidInput) as info:
        invitations.redeem_reset(session=session, token=reset, password=NEW_PASSWORD, confirm="nope")
    assert info.value.field == "confirm"
    assert invitations.redeem_reset(session=session, token=reset, password=NEW_PASSWORD, confirm=NEW_PASSWORD)


def test_reset_link_dies_when_the_password_changes(session, admin):
    patient, sid = _signed_up(session, admin)
    _result, reset = _send(session, patient, admin)
    account = accounts.self_account(session=session, patient_id=patient.id)
    portal_auth.change_password(session=session, account_id=account.id, current=PASSWORD,
                                new=NEW_PASSWORD, confirm=NEW_PASSWORD, session_id=sid)
    with pytest.raises(LinkInvalid):
        invitations.redeem_reset(session=session, token=reset, password="third password here 77x",
                                 confirm="third password here 77x")


def test_reset_link_dies_when_access_is_disabled(session, admin):
    patient, _sid = _signed_up(session, admin)
    _result, reset = _send(session, patient, admin)
    onboarding.disable_access(session=session, patient_id=patient.id, actor=_actor(admin))
    onboarding.enable_access(session=session, patient_id=patient.id, actor=_actor(admin))
    with pytest.raises(LinkInvalid):
        invitations.redeem_reset(session=session, token=reset, password=NEW_PASSWORD, confirm=NEW_PASSWORD)


def test_an_invitation_token_is_not_a_reset_token(session, admin):
    patient = _enabled(session)
    _result, token = _send(session, patient, admin)
    with pytest.raises(LinkInvalid):
        invitations.redeem_reset(session=session, token=token, password=NEW_PASSWORD, confirm=NEW_PASSWORD)


def test_reset_activates_a_pending_account_set_up_without_password(session, admin):
    patient = _enabled(session)
    manual_credentials.set_manually(session=session, patient_id=patient.id, username=patient.email, password=None,
                          force_change=False, actor=_actor(admin))
    result, reset = _send(session, patient, admin)
    assert result.kind == SendKind.RESET
    sid = invitations.redeem_reset(session=session, token=reset, password=PASSWORD, confirm=PASSWORD)
    assert portal_auth.principal_for(session=session, session_id=sid) is not None
    session.expire_all()
    assert session.get(Patient, patient.id).account_state == ChartAccountState.ACTIVE


# --- self-service from the sign-in screen ---------------------------------------------------------

def test_forgot_sends_an_invitation_for_an_enabled_chart_without_account(session):
    patient = _enabled(session)
    invitations.request_by_email_and_dob(session=session, email="MARIA.LOPEZ@example.com",
                                         dob="04/02/1980", ip="10.1.1.1")
    [message] = _messages(session)
    assert message.kind == "invitation" and message.to_address == patient.email
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "portal.self_service_request")).one()
    assert event.detail == "charts matched=1; account matched=0" and event.ip == "10.1.1.1"


def test_forgot_sends_a_reset_when_an_account_exists(session, admin):
    patient, _sid = _signed_up(session, admin)
    invitations.request_by_email_and_dob(session=session, email=patient.email, dob="1980-04-02")
    assert _messages(session)[-1].kind == "reset"


@pytest.mark.parametrize("email, dob, enabled", [
    ("nobody@example.com", "04/02/1980", True),       # unknown email
    ("maria.lopez@example.com", "04/03/1980", True),  # wrong date of birth
    ("maria.lopez@example.com", "04/02/1980", False), # chart not enabled
])
def test_forgot_answers_the_same_and_sends_nothing_otherwise(session, email, dob, enabled):
    make_patient(session, enabled=enabled)
    assert invitations.request_by_email_and_dob(session=session, email=email, dob=dob) is None
    assert _messages(session) == []
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "portal.self_service_request")).one()
    assert event.detail == "charts matched=0; account matched=0"


def test_forgot_with_a_disabled_account_or_no_email_permission_is_silent(session, admin):
    patient, _sid = _signed_up(session, admin)
    account = accounts.self_account(session=session, patient_id=patient.id)
    account.status = AccountStatus.DISABLED
    session.add(account)
    session.commit()
    count = len(_messages(session))
    assert invitations.request_by_email_and_dob(session=session, email=patient.email, dob="04/02/1980") is None
    assert len(_messages(session)) == count
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "portal.self_service_request")).one()


def test_forgot_format_errors_are_per_field(session):
    with pytest.raises(FormInvalid) as info:
        invitations.request_by_email_and_dob(session=session, email="a@b.com\r\nBcc: x@y.com", dob="31/31/1980")
    assert set(info.value.errors) == {"email", "dob"}


def test_forgot_double_submit_sends_one_email(session):
    _enabled(session)
    for _ in range(2):
        invitations.request_by_email_and_dob(session=session, email="maria.lopez@example.com", dob="04/02/1980")
    assert len(_messages(session)) == 1


def test_fresh_link_for_an_expired_invitation(session, admin, frozen_clock):
    patient = _enabled(session)
    _result, old = _send(session, patient, admin)
    frozen_clock(START + timedelta(hours=73))
    invitations.request_fresh_link(session=session, token=old)
    assert len(_messages(session)) == 2
    new = _token_of(_messages(session)[-1])
    assert new != old and _accept(session, new)


def test_fresh_link_for_a_used_reset_link_sends_a_new_reset(session, admin, frozen_clock):
    patient, _sid = _signed_up(session, admin)
    _result, reset = _send(session, patient, admin)
    invitations.redeem_reset(session=session, token=reset, password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    frozen_clock(START + timedelta(minutes=2))
    invitations.request_fresh_link(session=session, token=reset)
    assert _messages(session)[-1].kind == "reset"
    assert len([m for m in _messages(session) if m.kind == "reset"]) == 2


@pytest.mark.parametrize("token", [None, "", "unknown-token", "x" * 5000])
def test_fresh_link_for_an_unknown_token_does_nothing(session, token):
    _enabled(session)
    assert invitations.request_fresh_link(session=session, token=token) is None
    assert _messages(session) == []


def test_fresh_link_when_access_was_disabled_sends_nothing_and_does_not_raise(session, admin):
    patient = _enabled(session)
    _result, old = _send(session, patient, admin)
    onboarding.disable_access(session=session, patient_id=patient.id, actor=_actor(admin))
    assert invitations.request_fresh_link(session=session, token=old) is None
    assert len(_messages(session)) == 1


def test_no_password_is_ever_in_an_email(session, admin, frozen_clock):
    patient, sid = _signed_up(session, admin)
    _result, reset = _send(session, patient, admin)
    invitations.redeem_reset(session=session, token=reset, password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    other = _enabled(session, first="Ann", last="Other", email="ann@example.com", chart="X2")
    manual_credentials.set_manually(session=session, patient_id=other.id, username="ann@example.com",
                          password="hidden pebble lagoon 88", force_change=True, actor=_actor(admin))
    frozen_clock(START + timedelta(minutes=5))
    _send(session, other, admin)
    invitations.request_by_email_and_dob(session=session, email=patient.email, dob="04/02/1980")
    messages = _messages(session)
    assert len(messages) >= 4
    for message in messages:
        for secret in (PASSWORD, NEW_PASSWORD, "hidden pebble lagoon 88"):
            assert secret not in message.body_text and secret not in message.body_html
            assert secret not in message.subject


def test_a_user_id_taken_at_the_same_moment_goes_to_the_user_id_field(session, admin):
    patient = _enabled(session)
    _result, token = _send(session, patient, admin)
    with rival_account() as rivals, pytest.raises(InvalidInput) as caught:
        _accept(session, token)
    assert rivals, "the race was not simulated"
    assert (caught.value.field, caught.value.message) == (
        "user_id", "That username is already in use. Choose another.")
    assert session.exec(select(PortalConnection)).first() is None


def test_a_reset_link_does_not_skip_two_step_verification(session, admin, frozen_clock):
    from portal_app.services import second_factor
    from tests.unit.two_step import code_for, factor_of

    patient, sid = _signed_up(session, admin)
    account_id = portal_auth.principal_for(session=session, session_id=sid).account_id
    second_factor.start_for_account(session=session, account_id=account_id)
    second_factor.confirm_for_account(session=session, account_id=account_id,
                                      code=code_for(factor_of(session, account_id=account_id)))
    _result, reset = _send(session, patient, admin)
    assert invitations.redeem_reset(session=session, token=reset, password=NEW_PASSWORD, confirm=NEW_PASSWORD) == ""
    with pytest.raises(second_factor.SecondStepNeeded):
        portal_auth.sign_in(session=session, user_id=patient.email, password=NEW_PASSWORD)
