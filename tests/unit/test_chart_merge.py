"""Merging a duplicate chart into the surviving one (HL7 A40): what moves, what ends."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import col, select

from portal_app.models import (
    AccessType,
    AccountStatus,
    AppointmentRequest,
    AuditEvent,
    AuthSession,
    ChartAdoption,
    FormRequest,
    OneTimeSecret,
    Patient,
    PortalConnection,
    PortalDocument,
    PortalTask,
    SecretPurpose,
    SessionKind,
    TaskKind,
)
from portal_app.services import accounts, audit, chart_merge, sessions, tokens
from portal_app.services.adoption import facts
from portal_app.services.errors import InvalidInput
from tests.unit.conftest import make_patient

ACTOR = audit.Actor.system("ADT feed")


def _account(session, user_id, patient, access=AccessType.SELF, relationship="", permissions="messages"):
    account = accounts.create_account(session=session, user_id=user_id)
    session.flush()
    accounts.connect_chart(session=session, account=account, patient=patient, requested_by="front desk",
                           access=access, relationship=relationship, permissions=permissions)
    session.commit()
    return account


def _charts(session, *, merged_enabled=True, surviving_enabled=True):
    surviving = make_patient(session, first="José", last="García-Márquez", chart="40800001",
                             email="jose@example.com", enabled=surviving_enabled, dob=date(1975, 3, 9))
    merged = make_patient(session, first="Jose", last="Garcia Marquez", chart="40800000",
                          email="jgm@example.com", enabled=merged_enabled, dob=date(1975, 3, 9))
    return surviving, merged


def _live(session, patient_id):
    return session.exec(select(PortalConnection).where(PortalConnection.patient_id == patient_id,
                                                       col(PortalConnection.revoked_at).is_(None))).all()


def _merge(session, surviving, merged):
    result = chart_merge.merge(session=session, surviving=surviving, merged=merged, actor=ACTOR, source="adt A40")
    session.commit()
    return result


def test_the_merged_charts_own_account_moves_when_the_survivor_has_none(session, frozen_clock):
    surviving, merged = _charts(session)
    account = _account(session, "jgm@example.com", merged)
    plain = sessions.start(session=session, kind=SessionKind.PORTAL, portal_account_id=account.id)
    session.commit()

    result = _merge(session, surviving, merged)

    assert (result.connections_moved, result.connections_ended, result.accounts_disabled) == (1, 0, 0)
    assert [c.account_id for c in _live(session, surviving.id)] == [account.id]
    assert _live(session, merged.id) == []
    assert accounts.self_account(session=session, patient_id=surviving.id).id == account.id
    # The survivor has portal access, so the person stays signed in.
    assert sessions.resolve(session=session, kind=SessionKind.PORTAL, plain=plain) is not None
    session.refresh(merged)
    assert merged.merged_into_id == surviving.id and merged.portal_enabled is False
    assert merged.status_note == "Merged into chart 40800001"


def test_with_two_own_accounts_the_survivors_is_kept_and_the_other_disabled_and_signed_out(session, frozen_clock):
    surviving, merged = _charts(session)
    kept = _account(session, "jose@example.com", surviving)
    other = _account(session, "jgm@example.com", merged)
    plain = sessions.start(session=session, kind=SessionKind.PORTAL, portal_account_id=other.id)
    session.commit()

    result = _merge(session, surviving, merged)

    assert (result.connections_moved, result.connections_ended, result.accounts_disabled) == (0, 1, 1)
    assert [c.account_id for c in _live(session, surviving.id)] == [kept.id]
    session.refresh(other)
    assert other.status == AccountStatus.DISABLED
    assert sessions.resolve(session=session, kind=SessionKind.PORTAL, plain=plain) is None
    disabled = session.exec(select(AuditEvent).where(AuditEvent.action == "account.disable")).one()
    assert disabled.account_id == other.id and "rule=chart merged" in disabled.detail


def test_representatives_move_with_their_relationship_and_areas_and_no_account_is_connected_twice(
        session, frozen_clock):
    surviving, merged = _charts(session)
    mother = _account(session, "ana.garcia@example.com", merged, access=AccessType.REPRESENTATIVE,
                      relationship="parent", permissions="messages,documents")
    both = _account(session, "tío.luis@example.com".replace("í", "i"), surviving,
                    access=AccessType.REPRESENTATIVE, relationship="caregiver")
    accounts.connect_chart(session=session, account=both, patient=merged, requested_by="front desk",
                           access=AccessType.REPRESENTATIVE, relationship="caregiver")
    session.commit()

    result = _merge(session, surviving, merged)

    assert (result.connections_moved, result.connections_ended) == (1, 1)
    live = {c.account_id: c for c in _live(session, surviving.id)}
    assert set(live) == {mother.id, both.id}
    moved = live[mother.id]
    assert (moved.access_type, moved.relationship, moved.permissions) == (
        AccessType.REPRESENTATIVE, "parent", "messages,documents")
    assert _live(session, merged.id) == []


def test_queue_items_documents_form_and_appointment_requests_move_to_the_survivor(session, frozen_clock):
    surviving, merged = _charts(session)
    task = PortalTask(kind=TaskKind.APPOINTMENT_REQUEST, patient_id=merged.id, patient_sort_key=merged.sort_key)
    session.add(task)
    session.flush()
    session.add(AppointmentRequest(task_id=task.id, patient_id=merged.id, reason="Knee pain"))
    session.add(PortalDocument(patient_id=merged.id, filename="lab.pdf", content_type="application/pdf",
                               data=b"%PDF-1.4"))
    session.add(FormRequest(patient_id=merged.id, form="intake"))
    session.commit()

    result = _merge(session, surviving, merged)

    assert (result.items_moved, result.documents_moved, result.form_requests_moved,
            result.appointment_requests_moved) == (1, 1, 1, 1)
    session.refresh(task)
    assert (task.patient_id, task.patient_sort_key) == (surviving.id, surviving.sort_key)
    for table in (AppointmentRequest, PortalDocument, FormRequest):
        assert session.exec(select(table).where(table.patient_id == merged.id)).all() == []
        assert len(session.exec(select(table).where(table.patient_id == surviving.id)).all()) == 1


def test_the_merged_charts_links_die_both_charts_are_audited_and_adoption_rows_stay_exact(session, frozen_clock):
    surviving, merged = _charts(session)
    _account(session, "jgm@example.com", merged)
    _plain, key = tokens.issue(session=session, purpose=SecretPurpose.CONNECTION_KEY, lifetime=timedelta(days=3),
                               patient_id=merged.id, channel="letter", destination="")
    session.commit()
    assert key.revoked_at is None

    _merge(session, surviving, merged)

    live_secrets = session.exec(select(OneTimeSecret).where(OneTimeSecret.patient_id == merged.id,
                                                            col(OneTimeSecret.revoked_at).is_(None),
                                                            col(OneTimeSecret.used_at).is_(None))).all()
    assert live_secrets == []
    merges = session.exec(select(AuditEvent).where(AuditEvent.action == "chart.merge")).all()
    assert {event.patient_id for event in merges} == {surviving.id, merged.id}
    off = session.exec(select(AuditEvent).where(AuditEvent.action == "portal.disable")).one()
    assert off.patient_id == merged.id and "rule=chart merged" in off.detail
    # The stored adoption rows equal a rebuild from the source tables: nothing left to change.
    assert facts.refresh(session, [surviving.id, merged.id]) == 0
    rows = {row.patient_id: row for row in session.exec(select(ChartAdoption))}
    assert rows[merged.id].enabled is False and rows[merged.id].account_id is None
    assert rows[surviving.id].account_id is not None


def test_access_carries_over_to_a_survivor_without_it_so_the_moved_account_can_sign_in(session, frozen_clock):
    surviving, merged = _charts(session, surviving_enabled=False)
    account = _account(session, "jgm@example.com", merged)
    plain = sessions.start(session=session, kind=SessionKind.PORTAL, portal_account_id=account.id)
    session.commit()

    result = _merge(session, surviving, merged)

    session.refresh(surviving)
    assert result.access_carried_over and surviving.portal_enabled is True
    assert sessions.resolve(session=session, kind=SessionKind.PORTAL, plain=plain) is not None


def test_a_deceased_survivor_does_not_get_access_carried_over(session, frozen_clock):
    surviving, merged = _charts(session, surviving_enabled=False)
    surviving.deceased = True
    session.add(surviving)
    session.commit()
    result = _merge(session, surviving, merged)
    session.refresh(surviving)
    assert not result.access_carried_over and surviving.portal_enabled is False


def test_a_chart_cannot_be_merged_into_itself_or_twice_and_a_refusal_changes_nothing(session, frozen_clock):
    surviving, merged = _charts(session)
    with pytest.raises(InvalidInput):
        chart_merge.merge(session=session, surviving=surviving, merged=surviving, actor=ACTOR, source="test")
    _merge(session, surviving, merged)
    third = make_patient(session, first="J", last="G", chart="40800002")
    with pytest.raises(InvalidInput, match="already merged"):
        chart_merge.merge(session=session, surviving=third, merged=merged, actor=ACTOR, source="test")
    with pytest.raises(InvalidInput, match="cannot survive"):
        chart_merge.merge(session=session, surviving=merged, merged=third, actor=ACTOR, source="test")
    session.rollback()
    assert session.get(Patient, merged.id).merged_into_id == surviving.id


def test_charts_merged_earlier_into_the_merged_chart_follow_it_to_the_survivor(session, frozen_clock):
    surviving, merged = _charts(session)
    older = make_patient(session, first="José", last="García", chart="40799999")
    _merge(session, merged, older)
    _merge(session, surviving, merged)
    session.refresh(older)
    assert older.merged_into_id == surviving.id


def test_end_access_turns_portal_access_off_ends_sessions_and_says_why(session, frozen_clock):
    patient = make_patient(session, enabled=True, chart="555")
    account = _account(session, "maria@example.com", patient)
    plain = sessions.start(session=session, kind=SessionKind.PORTAL, portal_account_id=account.id)
    session.commit()
    assert chart_merge.end_access(session=session, patient=patient, actor=ACTOR, rule="adt A23",
                                  note="Portal access off: the EHR deleted this record (A23)") is True
    session.commit()
    assert patient.portal_enabled is False and "A23" in patient.status_note
    assert session.exec(select(AuthSession).where(col(AuthSession.revoked_at).is_(None))).all() == []
    assert sessions.resolve(session=session, kind=SessionKind.PORTAL, plain=plain) is None
    assert chart_merge.end_access(session=session, patient=patient, actor=ACTOR, rule="adt A23") is False
