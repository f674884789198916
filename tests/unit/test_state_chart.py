"""ChartState handlers, called directly (no browser)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from portal_app import routes
from portal_app.models import AccessType, AccountStatus, OutboxMessage, Patient, PortalAccount, PortalConnection
from portal_app.services import audit, manual_credentials, passwords, sessions
from portal_app.services.permissions import Level, Permission
from portal_app.state.chart import ChartState
from tests.unit.conftest import make_patient
from tests.unit.state_support import everything_in_state, sign_in_admin, staff_with, state_for

NEW_PASSWORD = "violet tractor umbrella canyon 77"


async def open_chart(session_id: str, patient_id: int):
    root, chart = await state_for(ChartState, session_id=session_id,
                                  path=routes.patient_chart(patient_id), route=routes.PATIENT_CHART)
    result = await chart.load()
    return root, chart, result


def _patient(session, patient_id: int) -> Patient:
    session.expire_all()
    return session.get(Patient, patient_id)


async def test_load_shows_demographics_and_account_summary(session, admin):
    patient = make_patient(session, enabled=True, mobile_phone="+15555550123", home_phone="+15555550199",
                           address_line1="12 Oak St", city="Salem", region="OR", postal_code="97301",
                           sex="Female")
    _, chart, result = await open_chart(sign_in_admin(session), patient.id)
    assert result is None
    assert chart.loaded
    assert chart.chart.name == "Lopez, Maria"
    assert chart.chart.dob == "04/02/1980"
    assert chart.chart.email == "maria.lopez@example.com"
    assert chart.chart.address == "12 Oak St, Salem, OR 97301"
    assert chart.chart.mobile_phone == "(555) 555-0123"
    assert chart.chart.portal_enabled and not chart.chart.has_account


async def test_load_of_unknown_patient_says_so(session, admin):
    _, chart, _ = await open_chart(sign_in_admin(session), 999_999)
    assert not chart.loaded
    assert chart.load_error == "That patient does not exist."


async def test_without_session_nothing_loads_and_nothing_changes(session, admin):
    patient = make_patient(session)
    _, chart, result = await open_chart("", patient.id)
    assert not chart.loaded and chart.chart.name == ""
    assert result is not None  # a redirect to the sign-in page

    # A loaded tab whose session then ends: the next handler refuses and forgets the chart.
    sid = sign_in_admin(session)
    _, chart, _ = await open_chart(sid, patient.id)
    assert chart.loaded
    sessions.end(session=session, plain=sid)
    session.commit()
    result = await chart.enable_access()
    assert result is not None
    assert not _patient(session, patient.id).portal_enabled
    assert chart.chart.name == "" and not chart.loaded


async def test_without_permission_the_chart_is_not_shown_and_handlers_refuse(session, admin):
    patient = make_patient(session)
    sid = staff_with(session, "noaccess", {Permission.OUTBOX: Level.READ})
    _, chart, _ = await open_chart(sid, patient.id)
    assert not chart.loaded and chart.chart.name == ""
    assert chart.load_error == "You do not have permission to open patient charts."
    # A forged event for a chart id set behind the page's back still does nothing.
    chart._chart_id = patient.id
    await chart.enable_access()
    assert "permission" in chart.access_error
    await chart.save_account({"username": "x@example.com"})
    assert "permission" in chart.account_error
    assert not _patient(session, patient.id).portal_enabled
    assert session.exec(select(PortalAccount)).first() is None


async def test_read_level_views_but_cannot_change(session, admin):
    patient = make_patient(session, enabled=True)
    sid = staff_with(session, "viewer", {Permission.PORTAL_ADMIN: Level.READ})
    _, chart, _ = await open_chart(sid, patient.id)
    assert chart.loaded and chart.chart.name == "Lopez, Maria"
    assert not chart.can_admin_portal

    await chart.disable_access()
    assert chart.access_error == "You do not have permission to change portal access."
    await chart.send_email()
    assert "permission" in chart.send_error
    chart.toggle_set_password(True)
    await chart.save_account({"username": "maria@example.com", "password": NEW_PASSWORD})
    assert "permission" in chart.account_error

    assert _patient(session, patient.id).portal_enabled
    assert session.exec(select(PortalAccount)).first() is None
    assert session.exec(select(OutboxMessage)).first() is None


async def test_enable_then_disable(session, admin):
    patient = make_patient(session)
    _, chart, _ = await open_chart(sign_in_admin(session), patient.id)
    await chart.enable_access()
    assert chart.access_notice == "Portal access enabled."
    assert chart.chart.portal_enabled and _patient(session, patient.id).portal_enabled
    await chart.disable_access()
    assert not chart.chart.portal_enabled and not _patient(session, patient.id).portal_enabled


async def test_username_check_taken_and_fresh(session, admin):
    other = make_patient(session, first="Ana", last="Other", email="ana@example.com", enabled=True)
    manual_credentials.set_manually(session=session, patient_id=other.id, username="taken@example.com",
                          password=None, force_change=True, actor=audit.Actor.staff(admin.id))
    patient = make_patient(session, enabled=True)
    _, chart, _ = await open_chart(sign_in_admin(session), patient.id)

    await chart.check_username("Taken@Example.com")
    assert chart.username_ok is False
    assert chart.username_message == "That username is already used by another account."

    await chart.check_username("fresh.name@example.com")
    assert chart.username_ok is True
    assert chart.username_message == "fresh.name@example.com is valid and available."

    await chart.check_username("not an address")
    assert chart.username_ok is False and chart.username_message


async def test_manual_save_creates_self_account_and_keeps_password_out_of_state(session, admin):
    patient = make_patient(session, enabled=True)
    root, chart, _ = await open_chart(sign_in_admin(session), patient.id)
    assert chart.force_change is True  # the default
    chart.toggle_set_password(True)
    await chart.save_account({"username": "Maria.New@Example.com", "password": NEW_PASSWORD,
                              "manual-set-password": "on", "force-change": "on"})
    assert chart.account_error == "" and chart.password_error == ""
    assert chart.account_notice.startswith("Portal account saved. Username: maria.new@example.com.")

    session.expire_all()
    account = session.exec(select(PortalAccount)).one()
    assert account.user_id == "maria.new@example.com"
    assert account.status == AccountStatus.ACTIVE
    assert account.must_change_password is True
    assert passwords.verify_password(NEW_PASSWORD, account.password_hash)
    link = session.exec(select(PortalConnection)).one()
    assert (link.account_id, link.patient_id, link.access_type) == (account.id, patient.id, AccessType.SELF)

    assert chart.chart.has_account and chart.chart.account_user_id == "maria.new@example.com"
    assert chart.chart.account_must_change
    dump = everything_in_state(root)
    assert NEW_PASSWORD not in dump
    assert account.password_hash not in dump
    assert chart.set_password is False  # the password field is gone from the page


async def test_manual_save_with_weak_password_shows_it_beside_the_field(session, admin):
    patient = make_patient(session, enabled=True)
    root, chart, _ = await open_chart(sign_in_admin(session), patient.id)
    chart.toggle_set_password(True)
    await chart.save_account({"username": "maria.new@example.com", "password": "password123"})
    assert chart.password_error
    assert chart.username == "maria.new@example.com"  # what was typed stays
    assert session.exec(select(PortalAccount)).first() is None
    assert "password123" not in everything_in_state(root)


async def test_manual_save_refuses_a_taken_username_beside_the_field(session, admin):
    other = make_patient(session, first="Ana", last="Other", email="ana@example.com", enabled=True)
    manual_credentials.set_manually(session=session, patient_id=other.id, username="taken@example.com",
                          password=None, force_change=True, actor=audit.Actor.staff(admin.id))
    patient = make_patient(session, enabled=True)
    _, chart, _ = await open_chart(sign_in_admin(session), patient.id)
    await chart.save_account({"username": "taken@example.com"})
    assert chart.username_ok is False
    assert chart.username_message == "That username is already used by another account."
    assert session.exec(select(PortalConnection).where(
        PortalConnection.patient_id == patient.id)).first() is None


async def test_send_email_label_follows_the_account_and_reports_the_result(session, admin):
    patient = make_patient(session, enabled=True)
    _, chart, _ = await open_chart(sign_in_admin(session), patient.id)
    assert chart.chart.has_account is False  # the page says "Send invitation email"
    await chart.send_email()
    assert chart.send_notice == "Invitation sent to maria.lopez@example.com."
    assert chart.chart.account_label == "Invited"

    await chart.save_account({"username": "maria.lopez@example.com"})
    assert chart.chart.has_account is True  # now "Send password reset email"


@pytest.mark.parametrize("extra", [{"email": "", "enabled": True}, {"enabled": False}])
async def test_send_email_explains_why_it_cannot(session, admin, extra):
    patient = make_patient(session, **extra)
    _, chart, _ = await open_chart(sign_in_admin(session), patient.id)
    await chart.send_email()
    assert chart.send_error and chart.send_notice == ""
    assert session.exec(select(OutboxMessage)).first() is None


async def test_a_refused_username_check_says_so_beside_the_field(session, admin):
    patient = make_patient(session, enabled=True)
    sid = staff_with(session, "viewer", {Permission.PORTAL_ADMIN: Level.READ})
    _, chart, _ = await open_chart(sid, patient.id)
    chart.username_ok = True
    assert await chart.check_username("fresh@example.com") is None
    assert chart.username_message == "You do not have permission to set portal usernames."
    assert chart.username_ok is False and chart.account_error == ""


async def test_enable_and_disable_hand_focus_to_the_button_that_replaces_theirs(session, admin):
    # Issue 15 #26: the pressed button is redrawn as its opposite; focus must not fall to <body>.
    patient = make_patient(session)
    _, chart, _ = await open_chart(sign_in_admin(session), patient.id)
    assert "disable-portal-access" in str(await chart.enable_access())
    assert "enable-portal-access" in str(await chart.disable_access())
    assert not _patient(session, patient.id).portal_enabled
