"""The staff chart view: demographics and portal status, no secrets, viewing audited."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlmodel import select

from portal_app.models import AccountStatus, AuditEvent
from portal_app.services import audit, charts, manual_credentials, portal_auth, settings
from portal_app.services.errors import NotFound
from tests.unit.conftest import START, make_patient

PASSWORD = "quiet lantern orbit 73 meadow"


def test_chart_without_account(session):
    patient = make_patient(session, address_line1="1 Elm St", city="Salem", region="OR", postal_code="97301",
                           mobile_phone="+12015550123", home_phone="+442079460958", sex="Female")
    view = charts.chart_view(session=session, patient_id=patient.id)
    assert (view.name, view.dob, view.sex, view.chart_number) == (
        "Lopez, Maria", "04/02/1980", "Female", patient.chart_number)
    assert view.address == "1 Elm St, Salem, OR 97301"
    assert (view.mobile_phone, view.home_phone) == ("(201) 555-0123", "+44 20 7946 0958")
    assert (view.portal_enabled, view.portal_active, view.has_account, view.account_label) == (
        False, True, False, "No account")
    assert view.account_user_id == view.account_status == view.account_last_sign_in == ""


def test_chart_with_account_shows_its_state_but_no_secret(session, admin, frozen_clock):
    patient = make_patient(session, enabled=True)
    account = manual_credentials.set_manually(session=session, patient_id=patient.id, username=patient.email,
                                    password=PASSWORD, force_change=True, actor=audit.Actor.staff(admin.id))
    view = charts.chart_view(session=session, patient_id=patient.id)
    assert (view.has_account, view.account_user_id, view.account_status, view.account_status_label) == (
        True, "maria.lopez@example.com", "active", "Active")
    assert view.account_must_change and view.account_last_sign_in == "never"
    frozen_clock(START + timedelta(hours=1))
    portal_auth.sign_in(session=session, user_id=patient.email, password=PASSWORD)
    assert charts.chart_view(session=session, patient_id=patient.id).account_last_sign_in == "11/23/2026 4:00PM (UTC)"
    values = " ".join(str(v) for v in dataclasses.asdict(view).values())
    session.refresh(account)
    assert account.password_hash not in values and PASSWORD not in values


def test_pending_account_and_portal_switched_off(session, admin):
    patient = make_patient(session, enabled=True)
    manual_credentials.set_manually(session=session, patient_id=patient.id, username=patient.email, password=None,
                          force_change=False, actor=audit.Actor.staff(admin.id))
    config = settings.get(session=session)
    config.portal_active = False
    session.add(config)
    session.commit()
    view = charts.chart_view(session=session, patient_id=patient.id)
    assert view.account_status == AccountStatus.PENDING.value
    assert view.account_status_label == "Pending (no password set yet)"
    assert view.portal_active is False and view.account_label == "Invited"


def test_opening_a_chart_is_audited_only_with_an_actor(session, admin, patient):
    charts.chart_view(session=session, patient_id=patient.id)
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "chart.view")).all() == []
    charts.chart_view(session=session, patient_id=patient.id, actor=audit.Actor.staff(admin.id))
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "chart.view")).one()
    assert (event.patient_id, event.staff_user_id) == (patient.id, admin.id)


def test_unknown_chart(session):
    with pytest.raises(NotFound):
        charts.chart_view(session=session, patient_id=404)
