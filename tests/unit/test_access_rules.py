"""The automatic access rules that follow the EHR's data (services/access_rules.py), through the one
upsert every source uses, and the switches that refuse a deceased or merged chart."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlmodel import col, select

from portal_app.models import (
    AccessType,
    AuditEvent,
    AuthSession,
    BulkJob,
    ChartAccountState,
    OneTimeSecret,
    Patient,
    PortalConnection,
    SessionKind,
)
from portal_app.services import (
    access_rules,
    accounts,
    audit,
    bulk,
    charts,
    invitations,
    onboarding,
    patient_records,
    sessions,
    settings,
)
from portal_app.services.errors import Forbidden
from portal_app.services.onboarding import StatusFilter
from portal_app.services.patient_records import PatientRecord
from tests.unit.conftest import make_patient, sqlite_plan

FEED = audit.Actor.system("ADT feed")
TODAY = date(2026, 11, 23)  # the frozen clock's date (conftest.START)


def _staff(admin) -> audit.Actor:
    return audit.Actor.staff(admin.id, "10.0.0.9")


def _record(chart: str, **values) -> PatientRecord:
    return PatientRecord(chart_number=chart, **values)


def _events(session, action: str) -> list[AuditEvent]:
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _live_links(session, patient_id: int) -> list[OneTimeSecret]:
    return list(session.exec(select(OneTimeSecret).where(
        OneTimeSecret.patient_id == patient_id, col(OneTimeSecret.used_at).is_(None),
        col(OneTimeSecret.revoked_at).is_(None))))


def _live_sessions(session, account_id: int) -> int:
    return len(session.exec(select(AuthSession).where(
        AuthSession.portal_account_id == account_id, col(AuthSession.revoked_at).is_(None))).all())


def _with_self_and_representative(session, admin):
    """An enabled chart with its own account and a parent's (representative) account, both
    signed in; the parent also represents a second child, whose connection must stay."""
    child = make_patient(session, first="Léa", last="Dubois-Martin", email="lea@example.com", chart="A100",
                         dob=date(1950, 3, 9), enabled=True)
    sibling = make_patient(session, first="Noé", last="Dubois-Martin", email="", chart="A101",
                           dob=date(2015, 6, 1), enabled=True)
    own = accounts.create_account(session=session, user_id="lea@example.com", password="a quiet lantern 73 x")
    accounts.connect_chart(session=session, account=own, patient=child, requested_by="test")
    parent = accounts.create_account(session=session, user_id="paul@example.com", password="orbit meadow 42 y z")
    for chart in (child, sibling):
        accounts.connect_chart(session=session, account=parent, patient=chart, requested_by="test",
                               access=AccessType.REPRESENTATIVE, relationship="caregiver")
    for account in (own, parent):
        sessions.start(session=session, kind=SessionKind.PORTAL, portal_account_id=account.id)
    accounts.send_password_link(session=session, account=parent, patient=child, to="paul@example.com",
                                actor=_staff(admin), setup=False)
    session.commit()
    return child, sibling, own, parent


# ---- deceased ---------------------------------------------------------------------------


def test_deceased_turns_access_off_ends_sessions_links_and_representatives_but_keeps_the_chart(
        session, admin, frozen_clock):
    child, sibling, own, parent = _with_self_and_representative(session, admin)
    assert _live_links(session, child.id)

    outcome = patient_records.upsert(session=session, record=_record("A100", deceased=True,
                                                                     deceased_on=date(2026, 11, 20)),
                                     actor=FEED, source="adt A08")
    session.commit()

    session.refresh(child)
    assert child.portal_enabled is False and child.status_note == "Deceased"
    assert child.first_name == "Léa" and child.deceased_on == date(2026, 11, 20)  # the data stays
    assert _live_sessions(session, own.id) == 0 and _live_sessions(session, parent.id) == 0
    assert _live_links(session, child.id) == []
    live = session.exec(select(PortalConnection.patient_id, PortalConnection.access_type).where(
        col(PortalConnection.revoked_at).is_(None))).all()
    # The representative's connection to this chart ended; the chart's own and the sibling's stay.
    assert sorted(live) == sorted([(child.id, AccessType.SELF), (sibling.id, AccessType.REPRESENTATIVE)])
    assert outcome.notes == ("Deceased: portal access off (2 sessions ended, 1 link voided, "
                             "1 representative connection ended)",)
    event = _events(session, "rule.deceased")[0]
    assert event.patient_id == child.id and event.actor_label == "ADT feed"
    assert event.detail.startswith("rule=deceased: portal access off; 2 sessions ended")


def test_a_new_chart_that_arrives_deceased_is_noted_and_stays_off(session, frozen_clock):
    outcome = patient_records.upsert(session=session, record=_record(
        "A200", first_name="José", last_name="Álvarez", dob=date(1931, 1, 5), deceased=True),
        actor=FEED, source="fhir")
    session.commit()
    patient = patient_records.find(session=session, chart_number="A200")
    assert patient.status_note == "Deceased" and patient.portal_enabled is False
    assert outcome.notes[0].startswith("Deceased: portal access off")
    assert len(_events(session, "rule.deceased")) == 1


def test_an_already_deceased_chart_is_not_ruled_again_on_other_changes(session, frozen_clock):
    make_patient(session, chart="A300", deceased=True, status_note="Deceased")
    outcome = patient_records.upsert(session=session, record=_record("A300", city="Zürich"), actor=FEED,
                                     source="csv")
    assert outcome.kind == "updated" and outcome.notes == ()
    assert _events(session, "rule.deceased") == []


def test_a_corrected_record_clears_the_note_but_access_stays_off_until_staff_decide(session, admin, frozen_clock):
    patient = make_patient(session, chart="A310", enabled=True)
    patient_records.upsert(session=session, record=_record("A310", deceased=True), actor=FEED, source="adt A08")
    outcome = patient_records.upsert(session=session, record=_record("A310", deceased=False), actor=FEED,
                                     source="adt A08")
    session.commit()
    session.refresh(patient)
    assert outcome.notes == ("No longer recorded as deceased: portal access stays off until staff turn it on",)
    assert (patient.portal_enabled, patient.status_note) == (False, "")
    assert len(_events(session, "rule.deceased.cleared")) == 1
    assert onboarding.enable_access(session=session, patient_id=patient.id, actor=_staff(admin)).enabled


def test_a_dry_run_never_triggers_a_rule(session, admin, frozen_clock):
    child, *_ = _with_self_and_representative(session, admin)
    outcome = patient_records.upsert(session=session, record=_record("A100", deceased=True, email="new@example.com"),
                                     actor=FEED, source="csv", dry_run=True)
    session.commit()
    session.refresh(child)
    assert outcome.kind == "updated" and outcome.notes == ()
    assert child.portal_enabled is True and child.status_note == "" and _live_links(session, child.id)
    assert [e for e in session.exec(select(AuditEvent.action)) if e.startswith("rule.")] == []


# ---- email changed ----------------------------------------------------------------------


def test_an_email_change_voids_the_invitation_sent_to_the_old_address(session, admin, frozen_clock):
    patient = make_patient(session, chart="A400", email="old@example.com", enabled=True)
    invitations.send_invitation_or_reset(session=session, patient_id=patient.id, actor=_staff(admin))
    session.refresh(patient)
    assert patient.account_state == ChartAccountState.INVITED

    outcome = patient_records.upsert(session=session, record=_record("A400", email="new@example.com"),
                                     actor=_staff(admin), source="csv")
    session.commit()
    session.refresh(patient)

    assert outcome.notes == ("Email changed; invitation voided",)
    assert patient.status_note == "Email changed; invitation voided"
    assert _live_links(session, patient.id) == []
    assert patient.account_state == ChartAccountState.NONE  # the list no longer says "Invited"
    event = _events(session, "rule.email_changed")[0]
    assert "rule=email changed" in event.detail and "invitations=1" in event.detail


def test_an_email_change_voids_a_set_up_link_but_not_a_representatives_own(session, admin, frozen_clock):
    patient = make_patient(session, chart="A500", email="old@example.com", enabled=True)
    own = accounts.create_account(session=session, user_id="old@example.com")
    accounts.connect_chart(session=session, account=own, patient=patient, requested_by="test")
    accounts.send_password_link(session=session, account=own, patient=patient, to="old@example.com",
                                actor=_staff(admin), setup=True)
    rep = accounts.create_account(session=session, user_id="aunt@example.com")
    accounts.connect_chart(session=session, account=rep, patient=patient, requested_by="test",
                           access=AccessType.REPRESENTATIVE, relationship="other")
    accounts.send_password_link(session=session, account=rep, patient=patient, to="aunt@example.com",
                                actor=_staff(admin), setup=True)
    session.commit()

    outcome = patient_records.upsert(session=session, record=_record("A500", email="New@Example.com"),
                                     actor=FEED, source="adt A08")
    session.commit()

    assert outcome.notes == ("Email changed; set-up link voided",)
    assert [row.destination for row in _live_links(session, patient.id)] == ["aunt@example.com"]


def test_an_email_change_with_no_outstanding_link_leaves_no_note(session, frozen_clock):
    patient = make_patient(session, chart="A600", email="old@example.com", enabled=True)
    outcome = patient_records.upsert(session=session, record=_record("A600", email="new@example.com"),
                                     actor=FEED, source="csv")
    session.commit()
    session.refresh(patient)
    assert outcome.notes == () and patient.status_note == ""
    assert _events(session, "rule.email_changed") == []


# ---- no visit for N months --------------------------------------------------------------


def _months(session, months: int) -> None:
    row = settings.get(session=session)
    row.inactive_months = months
    session.add(row)
    session.commit()


def test_months_before_keeps_the_day_or_takes_the_months_last():
    assert access_rules.months_before(date(2026, 11, 23), 12) == date(2025, 11, 23)
    assert access_rules.months_before(date(2026, 3, 31), 1) == date(2026, 2, 28)
    assert access_rules.months_before(date(2026, 1, 15), 25) == date(2023, 12, 15)


def test_the_no_visit_rule_is_off_by_default(session, frozen_clock):
    patient = make_patient(session, chart="A700", enabled=True, last_visit_on=date(2001, 1, 1))
    run = access_rules.apply_inactivity(session=session, actor=FEED)
    session.refresh(patient)
    assert run.turned_off == 0 and patient.portal_enabled is True
    assert "off" in run.summary()


def test_an_import_with_an_old_last_visit_turns_access_off_when_the_rule_is_on(session, frozen_clock):
    _months(session, 18)
    patient = make_patient(session, chart="A800", enabled=True)
    outcome = patient_records.upsert(session=session, record=_record("A800", last_visit=date(2024, 3, 1)),
                                     actor=FEED, source="csv")
    session.commit()
    session.refresh(patient)
    assert patient.portal_enabled is False and patient.status_note == "No visit since 03/01/2024"
    assert outcome.notes == ("No visit since 03/01/2024: portal access off",)
    assert "rule=no visit for 18 months" in _events(session, "rule.inactive")[0].detail


def test_a_change_of_the_months_applies_to_the_next_record(session, frozen_clock):
    """`after_change` keeps the months it read (every ADT message runs it): a save in this
    process applies at once."""
    first = make_patient(session, chart="A810", enabled=True)
    patient_records.upsert(session=session, record=_record("A810", last_visit=date(2024, 3, 1)),
                           actor=FEED, source="adt A08")
    session.commit()
    _months(session, 18)
    second = make_patient(session, chart="A811", enabled=True)
    patient_records.upsert(session=session, record=_record("A811", last_visit=date(2024, 3, 1)),
                           actor=FEED, source="adt A08")
    session.commit()
    session.refresh(first)
    session.refresh(second)
    assert (first.portal_enabled, second.portal_enabled) == (True, False)


def test_a_change_of_the_months_saved_elsewhere_applies_within_seconds(session, frozen_clock, monkeypatch):
    """Saved by another process (written here behind the ORM's back): read again once
    `MONTHS_KEPT` seconds have passed."""
    from sqlalchemy import text

    settings.get(session=session)
    first = make_patient(session, chart="A812", enabled=True)
    patient_records.upsert(session=session, record=_record("A812", last_visit=date(2024, 3, 1)),
                           actor=FEED, source="adt A08")
    session.commit()
    session.exec(text("UPDATE practicesettings SET inactive_months = 18"))  # type: ignore[call-overload]
    session.commit()
    later = access_rules.monotonic() + access_rules.MONTHS_KEPT + 1
    monkeypatch.setattr(access_rules, "monotonic", lambda: later)
    second = make_patient(session, chart="A813", enabled=True)
    patient_records.upsert(session=session, record=_record("A813", last_visit=date(2024, 3, 1)),
                           actor=FEED, source="adt A08")
    session.commit()
    session.refresh(first)
    session.refresh(second)
    assert (first.portal_enabled, second.portal_enabled) == (True, False)


def test_apply_inactivity_turns_off_only_enabled_charts_past_the_cutoff_in_batches(session, admin, frozen_clock):
    _months(session, 12)
    old = [make_patient(session, first=f"Old{i}", last="Ng", email=f"old{i}@example.com", chart=f"A9{i:02d}",
                        enabled=True, last_visit_on=date(2025, 11, 22) - timedelta(days=i)) for i in range(7)]
    recent = make_patient(session, first="Recent", last="Ng", chart="A990", enabled=True,
                          last_visit_on=date(2025, 11, 23))
    never = make_patient(session, first="Never", last="Ng", chart="A991", enabled=True)
    off = make_patient(session, first="Off", last="Ng", chart="A992", last_visit_on=date(2020, 1, 1))
    seen: list[int] = []

    run = access_rules.apply_inactivity(session=session, actor=FEED, batch=3, progress=seen.append)

    assert run.turned_off == 7 and seen == [3, 6, 7]
    for chart in (*old, recent, never, off):
        session.refresh(chart)
    assert all(not chart.portal_enabled for chart in old)
    assert (recent.portal_enabled, never.portal_enabled, off.status_note) == (True, True, "")
    assert len(_events(session, "rule.inactive")) == 7
    assert "7 charts" in _events(session, "rule.inactive.run")[0].detail


def test_a_later_visit_does_not_turn_access_back_on_but_staff_can(session, admin, frozen_clock):
    _months(session, 12)
    patient = make_patient(session, chart="A993", enabled=True, last_visit_on=date(2020, 1, 1))
    access_rules.apply_inactivity(session=session, actor=FEED)
    patient_records.upsert(session=session, record=_record("A993", last_visit=date(2026, 11, 1)), actor=FEED,
                           source="csv")
    session.commit()
    session.refresh(patient)
    assert patient.portal_enabled is False
    row = onboarding.enable_access(session=session, patient_id=patient.id, actor=_staff(admin))
    assert row.enabled is True and row.status_note == ""


def test_a_chart_staff_turned_on_within_the_months_is_left_on(session, admin, frozen_clock):
    _months(session, 12)
    patient = make_patient(session, chart="A994", last_visit_on=date(2020, 1, 1))
    onboarding.enable_access(session=session, patient_id=patient.id, actor=_staff(admin))
    assert access_rules.apply_inactivity(session=session, actor=FEED).turned_off == 0
    # Thirteen months later nobody has seen the patient since: now the rule holds.
    frozen_clock(datetime(2027, 12, 24, 15, 0, tzinfo=timezone.utc))
    assert access_rules.apply_inactivity(session=session, actor=FEED).turned_off == 1


@sqlite_plan
def test_the_daily_run_uses_the_enabled_and_last_visit_index(session, frozen_clock):
    _months(session, 12)
    from sqlalchemy import text

    plan = session.exec(text(  # type: ignore[call-overload]
        "EXPLAIN QUERY PLAN SELECT id FROM patient WHERE portal_enabled = 1 AND last_visit_on IS NOT NULL "
        "AND last_visit_on < '2025-11-23' ORDER BY last_visit_on, id LIMIT 500")).all()
    assert "ix_patient_enabled_visit" in " ".join(str(row) for row in plan)


# ---- staff refused where a rule holds ---------------------------------------------------


def test_enabling_a_deceased_chart_is_refused_and_audited(session, admin):
    patient = make_patient(session, chart="B100", deceased=True, status_note="Deceased")
    with pytest.raises(Forbidden, match="recorded as deceased; portal access stays off"):
        onboarding.enable_access(session=session, patient_id=patient.id, actor=_staff(admin))
    session.refresh(patient)
    assert patient.portal_enabled is False
    assert _events(session, "portal.enable.refused")[0].detail == "rule=deceased"
    assert _events(session, "portal.enable") == []


def test_enabling_a_merged_chart_is_refused_naming_the_surviving_chart(session, admin):
    survivor = make_patient(session, first="Ann", chart="B200")
    merged = make_patient(session, first="Anne", chart="B201", merged_into_id=survivor.id,
                          status_note="Merged into chart B200")
    with pytest.raises(Forbidden, match="merged into chart B200"):
        onboarding.enable_access(session=session, patient_id=merged.id, actor=_staff(admin))
    assert _events(session, "portal.enable.refused")[0].detail == "rule=merged"


def test_bulk_enable_and_invite_skips_deceased_and_merged_charts_and_counts_them(session, admin):
    ok = make_patient(session, first="Ida", last="Okafor", email="ida@example.com", chart="B300")
    dead = make_patient(session, first="Abe", last="Okafor", email="abe@example.com", chart="B301", deceased=True)
    merged = make_patient(session, first="Bea", last="Okafor", email="bea@example.com", chart="B302",
                          merged_into_id=ok.id)
    actor = _staff(admin)
    job = bulk.start_job(session=session, actor=actor, search="", status=StatusFilter.ALL)
    view = bulk.run_job(session=session, job_id=job.id, actor=actor)
    assert (view.invited, view.skipped_access_rule) == (1, 2)
    assert "2 deceased or merged (access stays off)" in view.summary
    for chart in (dead, merged):
        session.refresh(chart)
        assert chart.portal_enabled is False
    assert session.get(BulkJob, job.id).skipped_access_rule == 2


# ---- what staff see ---------------------------------------------------------------------


def test_the_list_row_and_the_chart_carry_the_note(session, admin):
    patient = make_patient(session, chart="B400", status_note="Merged into chart 12345")
    page = onboarding.list_page(session=session)
    assert page.rows[0].status_note == "Merged into chart 12345"
    view = charts.chart_view(session=session, patient_id=patient.id)
    assert view.status_note == "Merged into chart 12345"


def test_a_rule_change_reaches_the_patient_row_fresh(session, admin, frozen_clock):
    patient = make_patient(session, chart="B500", enabled=True)
    patient_records.upsert(session=session, record=_record("B500", deceased=True), actor=FEED, source="csv")
    session.commit()
    row = onboarding.patient_row(session=session, patient_id=patient.id)
    assert (row.enabled, row.status_note) == (False, "Deceased")
    assert session.get(Patient, patient.id).deceased is True
    assert _live_links(session, patient.id) == []


def test_the_access_rules_command_runs_the_no_visit_rule(db_url, session, frozen_clock, capsys):
    from portal_app import cli

    assert cli.main(["access-rules"]) == 0
    assert "The no-visit rule is off" in capsys.readouterr().out
    _months(session, 6)
    patient = make_patient(session, chart="C100", enabled=True, last_visit_on=date(2026, 1, 2))
    assert cli.main(["access-rules"]) == 0
    assert "No visit for 6 months: portal access turned off for 1 chart." in capsys.readouterr().out
    session.expire_all()
    assert session.get(Patient, patient.id).portal_enabled is False
    event = _events(session, "rule.inactive")[0]
    assert (event.actor_type, event.actor_label) == ("system", "access rules (daily)")
