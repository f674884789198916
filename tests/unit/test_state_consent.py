"""Consent on the staff pages, without a browser: the wizard's channel choice, the chart's two
boxes, the bulk confirmation's typed number, and the portal-off banner's flag."""

from __future__ import annotations

from sqlmodel import select

from portal_app.models import AuditEvent, OneTimeSecret, OutboxMessage, Patient
from portal_app.services import consent, settings
from portal_app.services.permissions import Level, Permission
from portal_app.state.actions import STAFF_PORTAL_OFF
from tests.unit.conftest import make_patient
from tests.unit.state_support import sign_in_admin, staff_with
from tests.unit.test_state_connect_wizard import MOBILE, open_chart, through_step_two
from tests.unit.test_state_onboarding import _state as onboarding_state


async def test_the_wizard_says_beside_the_channel_why_no_text_and_sends_nothing(session, admin):
    patient = make_patient(session, enabled=True, mobile_phone=MOBILE)  # allow_sms is off by default
    _, _, wizard = await open_chart(sign_in_admin(session), patient.id)
    await through_step_two(wizard)
    assert wizard.key_channel_error == ""  # email is allowed

    wizard.set_key_channel("sms")
    assert wizard.key_channel_error == consent.REFUSED[consent.SMS]
    await wizard.generate_key()
    assert wizard.key_channel_error == consent.REFUSED[consent.SMS]
    assert wizard.key_shown == "" and wizard.key_notice == ""
    assert session.exec(select(OutboxMessage)).first() is None
    assert session.exec(select(OneTimeSecret)).first() is None

    wizard.set_create_channel("sms")
    await wizard.send_token()
    assert wizard.create_channel_error == consent.REFUSED[consent.SMS] and not wizard.token_sent
    assert session.exec(select(OutboxMessage)).first() is None

    # Another number (a representative's) is not the chart's to refuse.
    wizard.set_key_address("(201) 555-0199")
    await wizard.generate_key()
    assert wizard.key_shown != "" and wizard.key_notice.startswith("Connection key sent to +12015550199")


async def test_staff_tick_both_consents_on_the_chart(session, admin):
    patient = make_patient(session, enabled=True)
    _, chart, _ = await open_chart(sign_in_admin(session), patient.id)
    assert (chart.chart.allow_email, chart.chart.allow_sms) == (True, False)

    await chart.set_consent("sms", True)
    assert chart.chart.allow_sms and chart.consent_notice == "Allow text messages turned on."
    await chart.set_consent("email", False)
    assert not chart.chart.allow_email and chart.consent_notice == "Allow email turned off."
    session.expire_all()
    row = session.get(Patient, patient.id)
    assert (row.allow_email, row.allow_sms) == (False, True)
    assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "chart.consent")).all()) == 2


async def test_read_only_staff_cannot_change_consent(session, admin):
    patient = make_patient(session, enabled=True)
    sid = staff_with(session, "viewer", {Permission.PORTAL_ADMIN: Level.READ})
    _, chart, _ = await open_chart(sid, patient.id)
    await chart.set_consent("email", False)
    assert "permission" in chart.consent_error
    session.expire_all()
    assert session.get(Patient, patient.id).allow_email


async def test_above_a_thousand_the_bulk_dialog_wants_the_number_typed(session, admin):
    state = await onboarding_state(sign_in_admin(session))
    await state.load_page()
    state.bulk_scope, state.bulk_count, state.bulk_dialog_open = "matching", 50300, True
    assert state.bulk_needs_typing

    assert await state.start_bulk() is None
    assert state.bulk_dialog_open and state.bulk_confirm_error == "Type 50300 to confirm inviting 50300 patients."
    state.set_bulk_confirm_text("50300")
    state.set_bulk_resend(True)
    assert "run_bulk" in str(await state.start_bulk())
    assert not state.bulk_dialog_open and state._bulk_request["resend"] is True


async def test_staff_pages_know_the_portal_is_off_and_a_send_says_nothing_went_out(session, admin):
    patient = make_patient(session, enabled=True)
    _, chart, _ = await open_chart(sign_in_admin(session), patient.id)
    assert not chart.portal_off
    config = settings.get(session=session)
    config.portal_active = False
    session.add(config)
    session.commit()
    await chart.send_email()
    assert chart.portal_off
    assert chart.send_error == STAFF_PORTAL_OFF
    assert session.exec(select(OutboxMessage)).first() is None


async def test_my_tasks_says_no_notice_went_out_when_the_chart_does_not_allow_email(session, admin):
    from portal_app import routes
    from portal_app.state.task_item import TaskItemState
    from tests.unit.state_support import state_for
    from tests.unit.test_consent import _no_consent, _thread
    patient, task_id = _thread(session, admin)
    _no_consent(session, patient)
    _, page = await state_for(TaskItemState, session_id=sign_in_admin(session), path=routes.task_item(task_id),
                              route=routes.TASK_ITEM)
    await page.load()
    page.set_reply_text("Your refill is ready.")
    await page.send_reply()
    assert page.reply_error == ""
    assert page.notice == "Reply sent. No notice went out to the patient: " + consent.REFUSED[consent.EMAIL]
    assert session.exec(select(OutboxMessage).where(OutboxMessage.kind == "portal_notice")).first() is None
