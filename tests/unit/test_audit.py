"""The audit log: append-only rows, newest first, filters and keyset paging."""

from __future__ import annotations

import pytest
from sqlmodel import select

from portal_app.models import AuditEvent, PortalAccount
from portal_app.services import audit, onboarding, staff_auth
from portal_app.services.errors import InvalidInput
from tests.unit.conftest import ADMIN_PASSWORD, START, make_patient
from tests.unit.two_step import staff_sign_in


def _record(session, actor, action, **kw):
    row = audit.record(session=session, actor=actor, action=action, **kw)
    session.commit()
    return row


def test_record_keeps_who_what_whom_when_and_where(session, admin, patient, frozen_clock):
    row = _record(session, audit.Actor.staff(admin.id, "192.0.2.7"), "portal.enable", patient_id=patient.id,
                  detail="x" * 5000)
    session.expire_all()
    stored = session.get(AuditEvent, row.id)
    assert (stored.actor_type, stored.staff_user_id, stored.action, stored.patient_id, stored.ip) == (
        "staff", admin.id, "portal.enable", patient.id, "192.0.2.7")
    assert stored.at == START
    assert len(stored.detail) == 2000


def test_rows_cannot_be_updated(session, admin):
    row = _record(session, audit.Actor.staff(admin.id), "staff.sign_in")
    row.action = "nothing.happened"
    session.add(row)
    with pytest.raises(PermissionError, match="append-only"):
        session.commit()
    session.rollback()
    session.expire_all()
    assert session.get(AuditEvent, row.id).action == "staff.sign_in"


def test_rows_cannot_be_deleted(session, admin):
    row = _record(session, audit.Actor.staff(admin.id), "staff.sign_in")
    session.delete(row)
    with pytest.raises(PermissionError, match="append-only"):
        session.commit()
    session.rollback()
    assert session.get(AuditEvent, row.id) is not None


def test_list_is_newest_first_with_readable_actors(session, admin, patient):
    _record(session, audit.Actor.system(), "staff.create")
    _record(session, audit.Actor.anonymous("someone@example.com", "10.0.0.1"), "portal.sign_in_failed")
    account = PortalAccount(user_id="maria.lopez@example.com")
    session.add(account)
    session.commit()
    _record(session, audit.Actor.portal(account.id), "portal.sign_out")
    _record(session, audit.Actor.staff(admin.id), "portal.enable", patient_id=patient.id)
    rows = audit.list_events(session=session)
    assert [r.action for r in rows][:4] == ["portal.enable", "portal.sign_out", "portal.sign_in_failed",
                                           "staff.create"]
    assert rows[0].who == "staff: admin"
    assert rows[0].patient == f"Lopez, Maria ({patient.chart_number})"
    assert rows[1].who == f"portal account #{account.id}"
    assert rows[2].who == "anonymous: someone@example.com" and rows[2].ip == "10.0.0.1"
    assert rows[3].who == "system: command line" and rows[3].patient == ""


def test_filter_by_patient_and_by_staff_user(session, admin, patient):
    other_patient = make_patient(session, first="Ann", last="Other", email="ann@example.com", chart="Z9")
    clerk = staff_auth.create_staff(session=session, username="clerk", full_name="Cleo Clerk",
                                    password="velvet harbor compass 58 ridge")
    onboarding.enable_access(session=session, patient_id=patient.id, actor=audit.Actor.staff(admin.id))
    onboarding.enable_access(session=session, patient_id=other_patient.id, actor=audit.Actor.staff(clerk.id))
    staff_sign_in(session, "admin", ADMIN_PASSWORD)
    by_patient = audit.list_events(session=session, patient_id=patient.id)
    assert [(r.action, r.who) for r in by_patient] == [("portal.enable", "staff: admin")]
    by_clerk = audit.list_events(session=session, staff_user_id=clerk.id)
    assert [r.action for r in by_clerk] == ["portal.enable"]
    assert by_clerk[0].patient.startswith("Other, Ann")
    by_admin = audit.list_events(session=session, staff_user_id=admin.id)
    assert [r.action for r in by_admin] == ["staff.sign_in", "staff.second_factor_enrolled", "portal.enable"]


def test_keyset_paging_by_id(session, admin):
    for i in range(7):
        _record(session, audit.Actor.staff(admin.id), f"test.{i}")
    first = audit.list_events(session=session, limit=3)
    assert [r.action for r in first] == ["test.6", "test.5", "test.4"]
    second = audit.list_events(session=session, before_id=first[-1].id, limit=3)
    assert [r.action for r in second] == ["test.3", "test.2", "test.1"]


def test_sign_in_failures_never_store_the_typed_password(session, admin):
    typed = "my secret attempt 123"
    with pytest.raises(staff_auth.SignInFailed):
        staff_sign_in(session, "admin", typed)
    for event in session.exec(select(AuditEvent)):
        assert typed not in event.detail and typed not in event.actor_label
        assert ADMIN_PASSWORD not in event.detail


def test_find_patient_by_chart_number_or_id(session, patient):
    ref = audit.find_patient(session=session, text=f"  {patient.chart_number.lower()} ")
    assert (ref.id, ref.label) == (patient.id, f"Lopez, Maria ({patient.chart_number})")
    assert audit.find_patient(session=session, text=str(patient.id)).id == patient.id


@pytest.mark.parametrize("text, message", [("", "Enter a chart number"), ("   ", "Enter a chart number"),
                                           ("C9999999", "No patient"), ("424242", "No patient"),
                                           ("9" * 5000, "No patient"), ("x\x00", "No patient")])
def test_find_patient_refuses_on_the_patient_field(session, patient, text, message):
    with pytest.raises(InvalidInput, match=message) as info:
        audit.find_patient(session=session, text=text)
    assert info.value.field == "patient"


def test_list_staff_users_in_username_order(session, admin):
    staff_auth.create_staff(session=session, username="Zoe", full_name="Zoe Zed",
                            password="velvet harbor compass 58 ridge")
    staff_auth.create_staff(session=session, username="bea", full_name="Bea Bee",
                            password="velvet harbor compass 58 ridge")
    assert [u.username for u in audit.list_staff_users(session=session)] == ["admin", "bea", "zoe"]
    assert audit.list_staff_users(session=session)[0].id == admin.id


def test_raw_sql_cannot_change_or_remove_audit_rows(session, admin):
    """Beyond the ORM: the database itself refuses (triggers)."""
    from sqlalchemy import text
    from sqlalchemy.exc import DatabaseError

    audit.record(session=session, actor=audit.Actor.staff(admin.id), action="test.event")
    session.commit()
    for statement in ("UPDATE auditevent SET action = 'forged'", "DELETE FROM auditevent"):
        with pytest.raises(DatabaseError, match="append-only"):
            session.exec(text(statement))
        session.rollback()
    assert session.exec(text("SELECT count(*) FROM auditevent WHERE action = 'test.event'")).one()[0] == 1


def test_page_of_events_tells_whether_an_older_page_exists(session, admin):
    for number in range(3):
        audit.record(session=session, actor=audit.Actor.staff(admin.id), action=f"test.{number}")
    session.commit()
    rows, older = audit.page_of_events(session=session, staff_user_id=admin.id, size=2)
    assert [r.action for r in rows] == ["test.2", "test.1"] and older
    rest, older = audit.page_of_events(session=session, staff_user_id=admin.id, size=2,
                                       before_id=rows[-1].id)
    assert not older and rest[0].action == "test.0"
