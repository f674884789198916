"""Every path that sends asks the chart's consent (services/consent.py) for its own email and
mobile; a representative's own address is not the chart's to refuse. The chart shows and
changes both consents, audited."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import func, select

from portal_app.models import AuditEvent, OneTimeSecret, OutboxMessage, Patient, PortalAccount, SecretPurpose
from portal_app.notify import transports
from portal_app.services import (
    accounts,
    audit,
    bulk,
    charts,
    connect,
    connections,
    consent,
    keys,
    messages,
    outbox,
    portal_accounts,
    portal_users,
    staff_auth,
)
from portal_app.services.errors import InvalidInput
from portal_app.services.invitations import send_invitation_or_reset
from portal_app.services.portal_auth import ChartView
from tests.unit.conftest import ADMIN_PASSWORD, make_patient
from tests.unit.test_outbox import Failing
from tests.unit.test_state_patient import make_account
from tests.unit.two_step import staff_sign_in

EMAIL = "maria.lopez@example.com"
MOBILE = "+12015550123"
ACTOR = audit.Actor.system("test")


def _sent(session) -> int:
    return session.exec(select(func.count()).select_from(OutboxMessage)).one()


def _no_consent(session, patient: Patient) -> Patient:
    patient.allow_email, patient.allow_sms, patient.mobile_phone = False, False, MOBILE
    session.add(patient)
    session.commit()
    session.refresh(patient)
    return patient


def _chart(session) -> Patient:
    return _no_consent(session, make_patient(session, enabled=True))


def _with_account(session) -> tuple[Patient, PortalAccount]:
    patient, account = make_account(session)
    return _no_consent(session, patient), account


# ---- one case per sending path: (what it needs, the send) --------------------------------

def _token(channel: str, address: str) -> Callable:
    def send(session):
        patient = _chart(session)
        connect.send_connect_token(session=session, patient_id=patient.id, channel=channel, address=address,
                                   requested_by="Self", actor=ACTOR)
    return send


def _key(channel: str, address: str) -> Callable:
    def send(session):
        patient = _chart(session)
        keys.generate_key(session=session, patient_id=patient.id, channel=channel, address=address,
                          requested_by="Self", actor=ACTOR)
    return send


def _invitation(session):
    send_invitation_or_reset(session=session, patient_id=_chart(session).id, actor=ACTOR)


def _reset(session):
    patient, _ = _with_account(session)
    send_invitation_or_reset(session=session, patient_id=patient.id, actor=ACTOR)


def _password_link(session):
    patient, account = _with_account(session)
    accounts.send_password_link(session=session, account=account, patient=patient, to=EMAIL, setup=False,
                                actor=ACTOR)


def _user_management_reset(session):
    _, account = _with_account(session)
    portal_users.send_reset_link(session=session, account_id=account.id, actor=ACTOR)


def _account_setup_reset(session):
    patient, account = _with_account(session)
    connection = accounts.live_connections_of(session=session, account_id=account.id)[0]
    portal_accounts.send_reset_link(session=session, patient_id=patient.id, connection_id=connection.id,
                                    actor=ACTOR)


def _resend_button(session):
    patient, account = make_account(session)
    accounts.send_password_link(session=session, account=account, patient=patient, to=EMAIL, setup=False,
                                actor=ACTOR)
    session.commit()
    row = session.exec(select(OneTimeSecret).where(OneTimeSecret.purpose == SecretPurpose.PASSWORD_RESET)).one()
    _no_consent(session, patient)
    before = _sent(session)
    try:
        connections.resend(session=session, patient_id=patient.id, secret_id=row.id, actor=ACTOR)
    finally:
        assert _sent(session) == before


SEND_PATHS = {
    "connect token by email": _token("email", EMAIL),
    "connect token by text": _token("sms", MOBILE),
    "connection key by email": _key("email", EMAIL),
    "connection key by text": _key("sms", "(201) 555-0123"),
    "invitation": _invitation,
    "password reset from the chart": _reset,
    "password link": _password_link,
    "User Management reset": _user_management_reset,
    "Portal Account Setup reset": _account_setup_reset,
    "resend button": _resend_button,
}


@pytest.mark.parametrize("send", SEND_PATHS.values(), ids=list(SEND_PATHS))
def test_every_send_to_the_charts_own_address_needs_its_consent(session, admin, send):
    with pytest.raises(InvalidInput) as refused:
        send(session)
    assert refused.value.message in consent.REFUSED.values()
    session.rollback()
    assert _sent(session) == (1 if send is _resend_button else 0)  # only the link sent before consent ended


def test_the_wizard_refusal_is_beside_the_channel_choice_and_no_key_is_made(session):
    patient = _chart(session)
    with pytest.raises(InvalidInput) as refused:
        keys.generate_key(session=session, patient_id=patient.id, channel="sms", address=MOBILE,
                          requested_by="Self", actor=ACTOR)
    assert refused.value.field == "channel"
    assert refused.value.message == consent.REFUSED[consent.SMS]
    session.rollback()
    assert session.exec(select(OneTimeSecret)).first() is None


def test_a_representatives_own_address_is_not_governed_by_the_chart(session):
    patient = _chart(session)
    issued = keys.generate_key(session=session, patient_id=patient.id, channel="email",
                               address="dad@example.com", requested_by="Father", actor=ACTOR)
    assert issued.destination == "dad@example.com" and issued.message_status != "failed"
    assert session.exec(select(OutboxMessage.to_address)).all() == ["dad@example.com"]


def test_text_consent_lets_the_key_go_by_text(session):
    patient = _chart(session)
    patient.allow_sms = True
    session.add(patient)
    session.commit()
    keys.generate_key(session=session, patient_id=patient.id, channel="sms", address=MOBILE,
                      requested_by="Self", actor=ACTOR)
    assert session.exec(select(OutboxMessage.channel)).all() == ["sms"]


def test_a_welcome_after_consent_was_withdrawn_does_not_go(session, monkeypatch):
    monkeypatch.setattr(connect.secrets, "randbelow", lambda _: 424242)
    patient = make_patient(session, enabled=True)
    connect.send_connect_token(session=session, patient_id=patient.id, channel="email", address=EMAIL,
                               requested_by="Self", actor=ACTOR)
    _no_consent(session, patient)
    result = connect.connect_with_token(session=session, patient_id=patient.id, channel="email",
                                        address=EMAIL, token="424242", actor=ACTOR)
    assert result.welcome_status == "refused"
    assert session.exec(select(OutboxMessage.kind)).all() == ["connect_token"]


def _thread(session, admin) -> tuple[Patient, int]:
    patient, account = make_account(session)
    chart = ChartView(patient_id=patient.id, name="Maria Lopez", dob="04/02/1980", access_type="self",
                      email=EMAIL, mobile_phone="", home_phone="", address="", areas=("messages",))
    task_id = messages.start_thread(session=session, account_id=account.id, chart=chart, subject="Q", body="Hi")
    return patient, task_id


def test_a_reply_to_a_chart_without_email_consent_says_no_notice_went_out(session, admin):
    patient, task_id = _thread(session, admin)
    _no_consent(session, patient)
    notice = messages.staff_reply(session=session, task_id=task_id, staff_user_id=admin.id, body="Answer",
                                  actor=audit.Actor.staff(admin.id))
    assert not notice.sent
    assert notice.told == messages.NOTHING_WENT_OUT + consent.REFUSED[consent.EMAIL]
    assert session.exec(select(OutboxMessage).where(OutboxMessage.kind == "portal_notice")).first() is None
    detail = session.exec(select(AuditEvent.detail).where(AuditEvent.action == "task.reply")).one()
    assert "no email consent, not notified" in detail


def test_a_reply_with_the_portal_off_says_nothing_went_out(session, admin):
    from portal_app.services import settings
    _, task_id = _thread(session, admin)
    config = settings.get(session=session)
    config.portal_active = False
    session.add(config)
    session.commit()
    notice = messages.staff_reply(session=session, task_id=task_id, staff_user_id=admin.id, body="Answer",
                                  actor=audit.Actor.staff(admin.id))
    assert notice.told.startswith(messages.NOTHING_WENT_OUT) and "switched off" in notice.told


def test_a_reply_with_consent_tells_the_patient(session, admin):
    _, task_id = _thread(session, admin)
    notice = messages.staff_reply(session=session, task_id=task_id, staff_user_id=admin.id, body="Answer",
                                  actor=audit.Actor.staff(admin.id))
    assert notice.sent and "was told" in notice.told


def test_create_account_sends_no_verification_to_a_charts_address_without_consent(session):
    _chart(session)
    assert keys.start_create_account(session=session, user_id=EMAIL) == EMAIL  # the same answer
    assert _sent(session) == 0
    keys.start_create_account(session=session, user_id="someone.else@example.com")
    assert _sent(session) == 1


def test_an_outbox_retry_obeys_consent_withdrawn_since(session, admin):
    patient = make_patient(session, enabled=True)
    transports.use("email", Failing())
    send_invitation_or_reset(session=session, patient_id=patient.id, actor=ACTOR)
    message = session.exec(select(OutboxMessage)).one()
    assert message.status.value == "failed"
    _no_consent(session, patient)
    transports._override.clear()
    with pytest.raises(InvalidInput, match="Not retried"):
        outbox.retry(session=session, message_id=message.id, actor_id=admin.id)


def test_bulk_counts_a_chart_without_email_consent_and_sends_nothing(session, admin):
    patient = _chart(session)
    actor = audit.Actor.staff(admin.id)
    job = bulk.start_job(session=session, actor=actor, patient_ids=[patient.id])
    view = bulk.run_job(session=session, job_id=job.id, actor=actor)
    assert (view.invited, view.skipped_email_not_allowed) == (0, 1)
    assert _sent(session) == 0


# ---- the chart: shown and changed, audited -------------------------------------------------

def test_staff_change_each_consent_on_the_chart_audited_old_to_new(session, admin):
    patient = make_patient(session)
    view = charts.chart_view(session=session, patient_id=patient.id)
    assert (view.allow_email, view.allow_sms) == (True, False)
    actor = audit.Actor.staff(admin.id)
    assert charts.set_consent(session=session, patient_id=patient.id, channel="sms", allowed=True,
                              actor=actor) == "Allow text messages turned on."
    assert charts.set_consent(session=session, patient_id=patient.id, channel="email", allowed=False,
                              actor=actor) == "Allow email turned off."
    view = charts.chart_view(session=session, patient_id=patient.id)
    assert (view.allow_email, view.allow_sms) == (False, True)
    details = session.exec(select(AuditEvent.detail).where(AuditEvent.action == "chart.consent")
                           .order_by(AuditEvent.id)).all()
    assert details == ["Allow text messages: no -> yes", "Allow email: yes -> no"]
    # The same value again changes nothing and writes nothing.
    charts.set_consent(session=session, patient_id=patient.id, channel="sms", allowed=True, actor=actor)
    assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "chart.consent")).all()) == 2
    with pytest.raises(InvalidInput):
        charts.set_consent(session=session, patient_id=patient.id, channel="fax", allowed=True, actor=actor)


def test_the_staff_principal_knows_the_portal_switch(session, admin):
    from portal_app.services import settings
    token = staff_sign_in(session, "admin", ADMIN_PASSWORD)
    assert staff_auth.principal_for(session=session, session_id=token).portal_active
    config = settings.get(session=session)
    config.portal_active = False
    session.add(config)
    session.commit()
    assert not staff_auth.principal_for(session=session, session_id=token).portal_active


def test_account_setup_saves_but_sends_nothing_to_the_charts_own_email_without_consent(session, admin):
    from tests.unit.test_portal_accounts import _rep_form, _save
    child = make_patient(session, first="Tim", email="family@example.com", enabled=True, allow_email=False)
    result = _save(session, admin, child, _rep_form(username="family@example.com"))
    assert result.connection_id and result.message.endswith(
        "No email went out: " + consent.REFUSED[consent.EMAIL])
    assert _sent(session) == 0
    # The other parent's own address is theirs: the set-up link goes.
    _save(session, admin, child, _rep_form(username="pat.parent@example.com"))
    assert session.exec(select(OutboxMessage.to_address)).all() == ["pat.parent@example.com"]
