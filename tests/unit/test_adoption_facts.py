"""`ChartAdoption` kept exact by the session listeners; backfill and rebuild; "link opened"."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, event, func, insert, select
from sqlmodel import Session

from portal_app import cli, db
from portal_app.models import AuditEvent, ChartAdoption, OneTimeSecret, Patient, SecretPurpose
from portal_app.services import (
    audit,
    clock,
    demo,
    demo_adoption,
    demo_portal,
    invitations,
    keys,
    onboarding,
    portal_auth,
)
from portal_app.services.adoption import facts, reasons
from portal_app.services.adoption.labels import Channel, Reason, Stage
from tests.unit.conftest import START, make_patient


def rows(session: Session) -> dict[int, dict]:
    session.expire_all()
    return {row.patient_id: dict(row._mapping) for row in session.execute(select(ChartAdoption.__table__))}


def row_of(session: Session, patient_id: int) -> ChartAdoption:
    session.expire_all()
    row = session.get(ChartAdoption, patient_id)
    assert row is not None
    return row


class Statements:
    """Counts the SQL statements sent while it is active."""

    def __init__(self, session: Session) -> None:
        self.engine = session.get_bind()
        self.count = 0

    def _count(self, *_args) -> None:
        self.count += 1

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *_exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)


def _patients(n: int, prefix: str = "T") -> list[dict]:
    return [{"chart_number": f"{prefix}{i:06d}", "first_name": "Pat", "last_name": f"Doe{i}", "dob": date(1980, 1, 1),
             "email": f"pat{i}@example.com", "email_lower": f"pat{i}@example.com", "portal_enabled": i % 2 == 0,
             "sort_key": f"doe{i}\x1fpat", "created_at": START, "updated_at": START} for i in range(n)]


# ---- the listener ---------------------------------------------------------------------------


def test_a_new_chart_gets_its_row_in_the_same_commit(session, frozen_clock):
    patient = make_patient(session)
    row = row_of(session, patient.id)
    assert (row.stage, row.added_at, row.enabled, row.enabled_at, row.channel) == (
        Stage.CHART, patient.created_at, False, None, "")


def test_many_charts_in_one_commit_take_a_handful_of_queries_per_batch(session, frozen_clock):
    session.add_all([Patient(**values) for values in _patients(1200)])
    with Statements(session) as sql:
        session.commit()
    assert len(rows(session)) == 1200
    batches = 3  # 1200 charts in batches of 500
    # 1200 patient INSERTs, then per batch: patients, rows, secrets, connections, sessions, outbox,
    # enable events, and one INSERT of the new rows (executemany).
    assert sql.count - 1200 <= batches * 9


def test_a_chart_created_in_the_commit_takes_two_queries_and_its_row_is_exact(session, frozen_clock):
    session.add(Patient(**_patients(1, "N")[0]))
    session.flush()
    with Statements(session) as sql:
        session.commit()
    assert sql.count <= 3  # the chart with its (absent) row, enable events, the INSERT of its row
    alone = rows(session)
    # Created and given an invitation in the same commit: its history is read (the secret counts).
    patient = Patient(**_patients(2, "S")[1])
    session.add(patient)
    session.flush()
    session.add(OneTimeSecret(purpose=SecretPurpose.INVITATION, secret_hash="h" * 64, patient_id=patient.id,
                              created_at=START, expires_at=START + timedelta(days=7)))
    session.commit()
    kept = rows(session)
    assert kept[patient.id]["stage"] == Stage.SENT and kept[patient.id]["sent_at"] == START
    assert {pid: row for pid, row in kept.items() if pid in alone} == alone
    session.execute(delete(ChartAdoption))
    facts.rebuild_all(session)
    assert rows(session) == kept


def test_a_new_name_reads_no_row_back_and_turning_access_on_does(session, frozen_clock):
    patient = make_patient(session, chart="R1")
    patient.last_name, patient.address_line1 = "Lopez-Ruiz", "2 Oak St"
    with Statements(session) as sql:
        session.commit()
    assert sql.count == 1  # the UPDATE of the patient: its row is made of other columns
    clock.freeze(START + timedelta(hours=2))
    patient.portal_enabled = True
    session.commit()
    kept = rows(session)
    assert kept[patient.id]["enabled"] and kept[patient.id]["enabled_at"] is not None
    session.execute(delete(ChartAdoption))
    facts.rebuild_all(session)
    assert rows(session) == kept


def test_a_bulk_insert_of_patients_is_backfilled_at_commit(session, frozen_clock):
    session.execute(insert(Patient), _patients(700))
    session.commit()
    kept = rows(session)
    assert len(kept) == 700
    assert sum(row["enabled"] for row in kept.values()) == 350
    assert {row["stage"] for row in kept.values()} == {Stage.CHART, Stage.ENABLED}


def test_a_rolled_back_change_leaves_no_row_behind(session, frozen_clock):
    session.add(Patient(**_patients(1)[0]))
    session.flush()
    session.rollback()
    make_patient(session, chart="K1")
    assert len(rows(session)) == 1


def test_enabling_keeps_the_first_time_and_disabling_keeps_the_stage(session, admin, frozen_clock):
    patient = make_patient(session)
    actor = audit.Actor.staff(admin.id)
    onboarding.enable_access(session=session, patient_id=patient.id, actor=actor)
    frozen_clock(START + timedelta(days=1))
    onboarding.disable_access(session=session, patient_id=patient.id, actor=actor)
    row = row_of(session, patient.id)
    assert (row.enabled, row.enabled_at, row.stage) == (False, START, Stage.ENABLED)
    frozen_clock(START + timedelta(days=2))
    onboarding.enable_access(session=session, patient_id=patient.id, actor=actor)
    assert row_of(session, patient.id).enabled_at == START


def test_an_invitation_the_patient_asked_for_is_self_set_up(session, frozen_clock):
    patient = make_patient(session, enabled=True)
    invitations.request_by_email_and_dob(session=session, email=patient.email, dob="04/02/1980")
    row = row_of(session, patient.id)
    assert (row.stage, row.channel, row.attempt_channel, row.started_by_staff_id) == (
        Stage.SENT, Channel.SELF_SETUP.value, Channel.SELF_SETUP.value, None)


def test_connecting_another_chart_while_signed_in_counts_as_signed_in(session, admin, frozen_clock):
    own = make_patient(session, enabled=True, chart="A1")
    other = make_patient(session, first="Leo", email="leo@example.com", enabled=True, chart="A2")
    actor = audit.Actor.staff(admin.id)
    demo_adoption.key_redeemed(session, own, actor)  # an account, signed in
    keys.generate_key(session=session, patient_id=other.id, channel="email", address=other.email,
                      requested_by="mother", actor=actor)
    account_id = row_of(session, own.id).account_id
    frozen_clock(START + timedelta(minutes=3))
    keys.connect_another_chart(session=session, whose="self", account_id=account_id,
                               key=demo_adoption.sent_key(session, patient_id=other.id),
                               last_name=other.last_name, dob="04/02/1980")
    row = row_of(session, other.id)
    assert (row.stage, row.channel, row.account_at, row.first_sign_in_at, row.account_id) == (
        Stage.SIGNED_IN, Channel.KEY_EMAIL.value, START + timedelta(minutes=3), START + timedelta(minutes=3),
        account_id)


def test_a_sign_in_moves_last_sign_in_on_every_connected_chart(session, admin, frozen_clock):
    patient = make_patient(session, enabled=True)
    demo_adoption.locked_out(session, patient, audit.Actor.staff(admin.id))
    frozen_clock(START + timedelta(hours=1))
    portal_auth.sign_in(session=session, user_id=patient.email, password=demo_adoption.PASSWORD)
    row = row_of(session, patient.id)
    assert (row.last_sign_in_at, row.first_sign_in_at, row.locked_until) == (
        START + timedelta(hours=1), START + timedelta(hours=1), None)


# ---- backfill and rebuild ---------------------------------------------------------------------


def _history(session: Session, admin) -> None:
    """Every demo history, each on its own chart, over several days."""
    actor = audit.Actor.staff(admin.id)
    for number, play in enumerate(demo_adoption.PLAYS):
        clock.freeze(START + timedelta(hours=5 * number))
        patient = make_patient(session, first=f"F{number}", email=f"f{number}@example.com", chart=f"H{number}",
                               mobile_phone="+15125550142", allow_sms=True, address_line1="1 Elm St",
                               city="Salem", region="OR", postal_code="97301")
        onboarding.enable_access(session=session, patient_id=patient.id, actor=actor)
        with demo_adoption.transports_for(play.failing):
            play.run(session, patient, actor)
    clock.freeze(START + timedelta(days=5))


def test_a_backfill_from_nothing_equals_the_rows_kept_at_every_commit(session, admin, frozen_clock):
    _history(session, admin)
    kept = rows(session)
    assert {row["stage"] for row in kept.values()} == set(range(3, 7))
    session.execute(delete(ChartAdoption))
    session.commit()
    assert rows(session) == {}

    assert facts.backfill(session) == len(kept)
    session.commit()
    assert rows(session) == kept
    assert facts.backfill(session) == 0  # idempotent


def test_adoption_rebuild_rewrites_every_row(db_url, session, admin, frozen_clock, capsys):
    _history(session, admin)
    kept = rows(session)
    session.execute(ChartAdoption.__table__.update().values(stage=1, channel="", since_at=None))
    session.commit()
    assert cli.main(["adoption-rebuild"]) == 0
    assert f"Rebuilt the adoption rows of {len(kept)} charts" in capsys.readouterr().out
    assert rows(session) == kept


def test_init_backfills_charts_from_before_the_board(new_database, monkeypatch, capsys):
    url = new_database("old.db")
    monkeypatch.setenv("REFLEX_DB_URL", url)
    cli.main(["init", "--demo-patients", "0", "--admin-password", "velvet harbor compass 58 ridge"])
    try:
        with db.session_scope(url) as session:
            session.execute(insert(Patient), _patients(30))
            session.commit()
            session.execute(delete(ChartAdoption))  # as if the charts were there before the board
            session.commit()
            assert rows(session) == {}
        cli.main(["init", "--demo-patients", "0"])
        with db.session_scope(url) as session:
            assert len(rows(session)) == 30
    finally:
        db.engine(url).dispose()
        db._engines.pop(url, None)


# ---- link opened ------------------------------------------------------------------------------


def _audited(session: Session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars())


def test_opening_an_invitation_is_recorded_once_and_answers_as_before(session, admin, frozen_clock):
    patient = make_patient(session, enabled=True)
    invitations.send_invitation_or_reset(session=session, patient_id=patient.id, actor=audit.Actor.staff(admin.id))
    token = demo_adoption.link_token(session, kind="invitation", patient_id=patient.id)
    frozen_clock(START + timedelta(minutes=10))
    first = invitations.inspect_link(session=session, token=token, purpose=SecretPurpose.INVITATION)
    frozen_clock(START + timedelta(minutes=20))
    again = invitations.inspect_link(session=session, token=token, purpose=SecretPurpose.INVITATION)
    assert first == again == invitations.LinkInfo(purpose="invitation", first_name="Maria",
                                                  suggested_user_id=patient.email_lower)
    secret = session.execute(select(OneTimeSecret)).scalar_one()
    assert secret.opened_at == START + timedelta(minutes=10)
    [event_row] = _audited(session, "link.opened")
    assert (event_row.patient_id, event_row.actor_type, event_row.at) == (
        patient.id, "anonymous", START + timedelta(minutes=10))
    assert event_row.detail == f"link #{secret.id}: invitation by email"
    assert token not in event_row.detail and secret.secret_hash not in event_row.detail


def test_a_dead_link_records_nothing(session, admin, frozen_clock):
    patient = make_patient(session, enabled=True)
    invitations.send_invitation_or_reset(session=session, patient_id=patient.id, actor=audit.Actor.staff(admin.id))
    token = demo_adoption.link_token(session, kind="invitation", patient_id=patient.id)
    frozen_clock(START + timedelta(days=4))
    with pytest.raises(invitations.LinkInvalid):
        invitations.inspect_link(session=session, token=token, purpose=SecretPurpose.INVITATION)
    assert _audited(session, "link.opened") == []
    assert row_of(session, patient.id).opened_at is None


def test_typing_a_live_key_records_it_opened_and_a_wrong_key_does_not(session, admin, frozen_clock):
    patient = make_patient(session, enabled=True)
    keys.generate_key(session=session, patient_id=patient.id, channel="email", address=patient.email,
                      requested_by="Maria", actor=audit.Actor.staff(admin.id))
    keys.start_create_account(session=session, user_id="maria.new@example.com", ip="5.6.7.8")
    token = demo_adoption.link_token(session, kind="verification", to="maria.new@example.com")
    with pytest.raises(keys.KeyInvalid):
        keys.check_key(session=session, token=token, key="2345-6789-ABCD")
    assert _audited(session, "link.opened") == []
    key = demo_adoption.sent_key(session, patient_id=patient.id)
    keys.check_key(session=session, token=token, key=key.lower(), ip="5.6.7.8")
    keys.check_key(session=session, token=token, key=key, ip="5.6.7.8")
    [event_row] = _audited(session, "link.opened")
    secret = session.execute(select(OneTimeSecret).where(
        OneTimeSecret.purpose == SecretPurpose.CONNECTION_KEY)).scalar_one()
    assert (event_row.detail, event_row.ip, event_row.patient_id) == (
        f"link #{secret.id}: connection_key by email", "5.6.7.8", patient.id)
    assert key not in event_row.detail
    row = row_of(session, patient.id)
    assert (row.stage, row.opened_at, row.attempt_opened_at) == (Stage.OPENED, START, START)


# ---- the demo ---------------------------------------------------------------------------------


def test_the_demo_leaves_charts_stuck_for_every_reason(session):
    demo.generate(session=session, count=80)
    demo_portal.generate(session=session)
    before = demo.patient_count(session=session)
    used = demo_adoption.generate(session=session)
    assert used == 2 * len(demo_adoption.PLAYS)
    assert demo.patient_count(session=session) == before
    assert abs(clock.now() - datetime.now(timezone.utc)) < timedelta(seconds=5)  # the clock runs again
    now = clock.now()
    counts = dict(session.execute(select(reasons.reason_case(now).label("r"), func.count()).group_by("r")).all())
    assert all(counts.get(reason.value, 0) >= 2 for reason in Reason)
    assert session.execute(select(func.count()).select_from(ChartAdoption).where(
        ChartAdoption.stage == Stage.SIGNED_IN)).scalar_one() >= 6
