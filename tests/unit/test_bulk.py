"""Bulk "Enable and invite": the job row, its counts, and what it skips."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from portal_app.models import AuditEvent, BulkJob, OutboxMessage, Patient
from portal_app.services import audit, bulk, leases, manual_credentials, onboarding, settings, staff_auth
from portal_app.services.errors import Forbidden, InvalidInput, NotFound, PortalUnavailable
from portal_app.services.onboarding import StatusFilter
from tests.unit.conftest import START, make_patient


def _mixed(session: Session) -> dict[str, list[Patient]]:
    """Three invitable charts and one of each kind the job must skip."""
    invitable = [make_patient(session, first=f"Ann{i}", last="Able", email=f"ann{i}@example.com",
                              chart=f"B10{i}") for i in range(3)]
    no_email = make_patient(session, first="Ned", last="Baker", email="", chart="B200")
    not_allowed = make_patient(session, first="Nora", last="Cole", email="nora@example.com",
                               allow_email=False, chart="B300")
    has_account = make_patient(session, first="Hal", last="Dunn", email="hal@example.com",
                               enabled=True, chart="B400")
    manual_credentials.set_manually(session=session, patient_id=has_account.id, username="hal@example.com",
                          password=None, force_change=False, actor=audit.Actor.system("test"))
    session.commit()
    return {"invitable": invitable, "no_email": [no_email], "not_allowed": [not_allowed],
            "has_account": [has_account]}


def _run(session: Session, admin, **kwargs) -> bulk.JobView:
    actor = audit.Actor.staff(admin.id)
    job = bulk.start_job(session=session, actor=actor, **kwargs)
    return bulk.run_job(session=session, job_id=job.id, actor=actor, chunk=2)


def test_job_counts_each_skip_and_invites_the_rest(session, admin):
    charts = _mixed(session)
    ids = [p.id for group in charts.values() for p in group]

    view = _run(session, admin, patient_ids=ids)

    assert (view.status, view.total, view.processed) == ("done", 6, 6)
    assert (view.invited, view.skipped_no_email, view.skipped_email_not_allowed,
            view.skipped_has_account) == (3, 1, 1, 1)
    assert view.summary == ("Invited 3 · skipped 1 without email · 1 email not allowed · "
                            "1 already has an account")
    session.expire_all()
    # Everyone selected is enabled; only the three invitable charts got an email.
    assert all(session.get(Patient, i).portal_enabled for i in ids)
    sent = session.exec(select(OutboxMessage)).all()
    assert sorted(m.to_address for m in sent) == ["ann0@example.com", "ann1@example.com",
                                                  "ann2@example.com"]
    assert all(m.kind == "invitation" for m in sent)
    assert session.get(Patient, charts["invitable"][0].id).account_state.value == "invited"


def test_job_writes_one_bulk_audit_event_plus_the_per_patient_ones(session, admin):
    charts = _mixed(session)
    _run(session, admin, patient_ids=[p.id for p in charts["invitable"]])

    actions = [e.action for e in session.exec(select(AuditEvent).where(
        AuditEvent.staff_user_id == admin.id))]
    assert actions.count("bulk.enable_invite") == 1
    assert actions.count("portal.enable") == 3
    assert actions.count("invitation.send") == 3


def test_job_over_a_filter_touches_only_matching_patients(session, admin):
    charts = _mixed(session)
    view = _run(session, admin, patient_ids=None, search="Able", status=StatusFilter.ALL)

    assert (view.total, view.invited) == (3, 3)
    session.expire_all()
    assert not session.get(Patient, charts["no_email"][0].id).portal_enabled
    assert not session.get(Patient, charts["not_allowed"][0].id).portal_enabled


def test_filter_job_over_not_enabled_keeps_its_place_while_rows_leave_the_filter(session, admin):
    for i in range(7):
        make_patient(session, first=f"P{i}", last="Zed", email=f"p{i}@example.com", chart=f"Z{i}")
    view = _run(session, admin, patient_ids=None, search="", status=StatusFilter.NOT_ENABLED)

    assert (view.processed, view.invited) == (7, 7)
    assert onboarding.count_matching(session=session, search="", status=StatusFilter.NOT_ENABLED) == 0


def test_progress_is_committed_chunk_by_chunk(session, admin, db_url, monkeypatch):
    for i in range(5):
        make_patient(session, first=f"C{i}", last="Chunk", email=f"c{i}@example.com", chart=f"K{i}")
    ids = [p.id for p in session.exec(select(Patient))]
    seen: list[int] = []
    original = bulk._process_one

    def spy(db_session, patient_id, actor, *more):
        # What another reader (the page's progress poll) sees while the job runs.
        from portal_app import db
        with db.session_scope(db_url) as other:
            seen.append(other.exec(select(BulkJob)).one().processed)
        return original(db_session, patient_id, actor, *more)

    monkeypatch.setattr(bulk, "_process_one", spy)
    _run(session, admin, patient_ids=ids)

    assert seen == [0, 0, 2, 2, 4]


def test_portal_switched_off_starts_nothing(session, admin, patient):
    config = settings.get(session=session)
    config.portal_active = False
    session.add(config)
    session.commit()

    with pytest.raises(PortalUnavailable):
        bulk.start_job(session=session, actor=audit.Actor.staff(admin.id), patient_ids=[patient.id])
    assert session.exec(select(BulkJob)).first() is None


def test_empty_or_oversized_selection_is_refused(session, admin):
    actor = audit.Actor.staff(admin.id)
    with pytest.raises(InvalidInput):
        bulk.start_job(session=session, actor=actor, patient_ids=[])
    with pytest.raises(InvalidInput):
        bulk.start_job(session=session, actor=actor, patient_ids=list(range(1, bulk.MAX_SELECTED + 2)))


def test_a_job_runs_once(session, admin):
    charts = _mixed(session)
    actor = audit.Actor.staff(admin.id)
    ids = [p.id for p in charts["invitable"]]
    job = bulk.start_job(session=session, actor=actor, patient_ids=ids)
    bulk.run_job(session=session, job_id=job.id, actor=actor)
    again = bulk.run_job(session=session, job_id=job.id, actor=actor)

    assert again.invited == 3
    assert len(session.exec(select(OutboxMessage)).all()) == 3


def test_latest_job_is_shown_while_running_and_for_a_while_after(session, admin, frozen_clock):
    charts = _mixed(session)
    actor = audit.Actor.staff(admin.id)
    ids = [p.id for p in charts["invitable"]]
    job = bulk.start_job(session=session, actor=actor, patient_ids=ids)
    assert bulk.latest_job(session=session, staff_user_id=admin.id).status == "running"

    bulk.run_job(session=session, job_id=job.id, actor=actor)
    assert bulk.latest_job(session=session, staff_user_id=admin.id).status == "done"

    frozen_clock(bulk.clock.now() + bulk.RECENT + timedelta(seconds=1))
    assert bulk.latest_job(session=session, staff_user_id=admin.id) is None


def test_job_view_is_private_to_its_owner(session, admin, patient):
    job = bulk.start_job(session=session, actor=audit.Actor.staff(admin.id), patient_ids=[patient.id])
    assert bulk.job_view(session=session, job_id=job.id, staff_user_id=admin.id) is not None
    assert bulk.job_view(session=session, job_id=job.id, staff_user_id=admin.id + 1) is None


def test_summary_wording():
    job = BulkJob(kind="enable_invite", staff_user_id=1, invited=41, skipped_no_email=7,
                  skipped_email_not_allowed=2, skipped_has_account=3)
    assert bulk.summary_of(job) == ("Invited 41 · skipped 7 without email · 2 email not allowed · "
                                    "3 already have accounts")
    assert bulk.summary_of(BulkJob(kind="enable_invite", staff_user_id=1, invited=5)) == "Invited 5"
    assert onboarding.PAGE_SIZE == 50


def test_a_running_job_nobody_works_is_picked_up_once_its_grace_ends(session, admin, frozen_clock):
    patients = [make_patient(session, first=f"P{i}", last="Restart", email=f"p{i}@example.com",
                             chart=f"R{i:04d}") for i in range(3)]
    actor = audit.Actor.staff(admin.id)
    job = bulk.start_job(session=session, actor=actor, patient_ids=[p.id for p in patients])
    finished = bulk.start_job(session=session, actor=actor, patient_ids=[patients[0].id])
    bulk.run_job(session=session, job_id=finished.id, actor=actor)

    # Just started: its own worker is about to claim it, so no other worker picks it up yet.
    assert bulk.orphaned_jobs(session=session) == []
    frozen_clock(START + leases.LEASE + timedelta(seconds=1))
    [(job_id, as_actor)] = bulk.orphaned_jobs(session=session)
    assert (job_id, as_actor.staff_user_id) == (job.id, admin.id)
    assert bulk.run_job(session=session, job_id=job_id, actor=as_actor).status == bulk.DONE
    assert bulk.orphaned_jobs(session=session) == []


def test_a_job_of_a_staff_user_since_disabled_is_not_picked_up(session, admin, frozen_clock):
    patient = make_patient(session, first="Ann", last="Able", email="ann@example.com", chart="B950")
    bulk.start_job(session=session, actor=audit.Actor.staff(admin.id), patient_ids=[patient.id])
    admin.active = False
    session.add(admin)
    session.commit()
    frozen_clock(START + leases.LEASE + timedelta(seconds=1))
    assert bulk.orphaned_jobs(session=session) == []


def _job_row(session: Session, job_id: int) -> BulkJob:
    row = session.get(BulkJob, job_id)
    assert row is not None
    session.refresh(row)
    return row


def test_of_two_claimers_exactly_one_wins_and_an_expired_lease_is_taken_over(session, admin, frozen_clock):
    patient = make_patient(session, first="Ann", last="Able", email="ann@example.com", chart="B951")
    job = bulk.start_job(session=session, actor=audit.Actor.staff(admin.id), patient_ids=[patient.id])

    assert leases.claim(session, job.id, (bulk.RUNNING,), me="worker-a")
    assert not leases.claim(session, job.id, (bulk.RUNNING,), me="worker-b")
    assert not leases.claim(session, job.id, (bulk.RUNNING,), me="worker-a")  # not even twice by one
    assert _job_row(session, job.id).lease_owner == "worker-a"

    frozen_clock(START + leases.LEASE - timedelta(seconds=1))
    assert leases.renew(session, job.id, me="worker-a")  # renewed: good for LEASE from now
    frozen_clock(START + leases.LEASE + timedelta(seconds=1))
    assert not leases.claim(session, job.id, (bulk.RUNNING,), me="worker-b")
    frozen_clock(START + 2 * leases.LEASE)  # worker-a stopped renewing: it died
    assert leases.claim(session, job.id, (bulk.RUNNING,), me="worker-b")
    assert not leases.renew(session, job.id, me="worker-a")  # the stale owner learns it lost
    leases.release(session, job.id, me="worker-a")  # and cannot release someone else's lease
    assert _job_row(session, job.id).lease_owner == "worker-b"


def test_a_worker_that_lost_its_lease_stops_at_the_next_chunk(session, admin, monkeypatch):
    charts = _mixed(session)
    actor = audit.Actor.staff(admin.id)
    job = bulk.start_job(session=session, actor=actor, patient_ids=[p.id for p in charts["invitable"]])
    renew = leases.renew

    def taken_over_then_renew(session: Session, job_id: int, *, me: str = leases.OWNER) -> bool:
        session.execute(update(BulkJob).where(col(BulkJob.id) == job_id).values(lease_owner="someone-else"))
        return renew(session, job_id, me=me)

    monkeypatch.setattr(bulk.leases, "renew", taken_over_then_renew)
    view = bulk.run_job(session=session, job_id=job.id, actor=actor, chunk=2)

    assert (view.status, view.processed) == ("running", 2)  # one chunk, then it left the job alone
    assert _job_row(session, job.id).lease_owner == "someone-else"  # (its release changed nothing)
    assert len(session.exec(select(OutboxMessage)).all()) == 2


def test_only_a_staff_user_can_start_a_job(session):
    # A job row belongs to the staff user who started it: another actor is refused plainly
    # (it used to reach the database as a NULL owner and fail there).
    patient = make_patient(session, first="Ann", last="Able", email="ann@example.com", chart="B900")
    with pytest.raises(Forbidden):
        bulk.start_job(session=session, actor=audit.Actor.system("test"), patient_ids=[patient.id])
    assert session.exec(select(BulkJob)).all() == []


# ---- live invitations: skipped unless "send again" ------------------------------------------

def _invited_a_while_ago(session: Session, admin) -> Patient:
    """A chart invited two minutes ago (past the one-minute double-click window): its link works."""
    from portal_app.models import OneTimeSecret, SecretPurpose
    from portal_app.services import clock
    from portal_app.services.invitations import send_invitation_or_reset
    patient = make_patient(session, first="Ivy", last="Invited", email="ivy@example.com", chart="L100",
                           enabled=True)
    send_invitation_or_reset(session=session, patient_id=patient.id, actor=audit.Actor.staff(admin.id))
    row = session.exec(select(OneTimeSecret).where(OneTimeSecret.purpose == SecretPurpose.INVITATION)).one()
    row.created_at = clock.now() - timedelta(minutes=2)
    session.add(row)
    session.commit()
    return patient


def test_a_chart_with_a_live_invitation_is_skipped_and_its_link_keeps_working(session, admin):
    from portal_app.models import OneTimeSecret
    invited = _invited_a_while_ago(session, admin)
    fresh = make_patient(session, first="Fay", last="Fresh", email="fay@example.com", chart="L200")

    view = _run(session, admin, patient_ids=[invited.id, fresh.id])

    assert (view.invited, view.skipped_live_invitation) == (1, 1)
    assert "skipped 1 already invited (link still valid)" in view.summary
    links = session.exec(select(OneTimeSecret).where(OneTimeSecret.patient_id == invited.id)).all()
    assert len(links) == 1 and links[0].revoked_at is None  # the link Ivy got still works
    assert len(session.exec(select(OutboxMessage).where(OutboxMessage.to_address == "ivy@example.com")).all()) == 1


def test_send_again_re_invites_a_chart_whose_invitation_is_live(session, admin):
    from portal_app.models import OneTimeSecret
    invited = _invited_a_while_ago(session, admin)
    actor = audit.Actor.staff(admin.id)
    job = bulk.start_job(session=session, actor=actor, patient_ids=[invited.id], resend=True)
    view = bulk.run_job(session=session, job_id=job.id, actor=actor)

    assert (view.invited, view.skipped_live_invitation) == (1, 0)
    links = session.exec(select(OneTimeSecret).where(OneTimeSecret.patient_id == invited.id)
                         .order_by(OneTimeSecret.id)).all()
    assert [link.revoked_at is None for link in links] == [False, True]
    detail = session.exec(select(AuditEvent.detail).where(AuditEvent.action == "bulk.enable_invite")).one()
    assert detail.endswith("send again=yes")


def test_an_expired_invitation_is_not_live(session, admin):
    from portal_app.models import OneTimeSecret
    from portal_app.services import clock
    invited = _invited_a_while_ago(session, admin)
    row = session.exec(select(OneTimeSecret)).one()
    row.expires_at = clock.now() - timedelta(seconds=1)
    session.add(row)
    session.commit()
    assert not bulk.has_live_invitation(session=session, patient_id=invited.id)
    assert _run(session, admin, patient_ids=[invited.id]).invited == 1


def test_above_a_thousand_patients_the_number_must_be_typed():
    bulk.confirm_count(total=1000, typed="")  # a thousand or fewer: one click
    for typed in ("", "50300 ", "5030", "all"):
        if typed.strip() == "50300":
            bulk.confirm_count(total=50300, typed=typed)
            continue
        with pytest.raises(InvalidInput) as refused:
            bulk.confirm_count(total=50300, typed=typed)
        assert refused.value.field == "confirm_count" and "Type 50300" in refused.value.message
    bulk.confirm_count(total=50300, typed="50,300")


class _Killed(BaseException):
    """kill -9 in the middle of a job: nothing after it runs (not even the job's own `except`)."""


def _kill_after_invitation(monkeypatch, nth: int) -> None:
    """The process dies right after the `nth` invitation's commit, mid-chunk."""
    original = bulk.send_invitation_or_reset
    sent = []

    def send_then_die(**kwargs):
        result = original(**kwargs)
        sent.append(kwargs["patient_id"])
        if len(sent) == nth:
            raise _Killed()
        return result

    monkeypatch.setattr(bulk, "send_invitation_or_reset", send_then_die)


def test_a_job_cut_off_by_a_restart_is_counted_exactly_and_resume_invites_each_patient_once(
        session, admin, db_url, monkeypatch):
    patients = [make_patient(session, first=f"P{i}", last="Resume", email=f"p{i}@example.com", chart=f"Q{i:04d}")
                for i in range(7)]
    no_email = make_patient(session, first="Ned", last="Resume", email="", chart="Q0100")
    actor = audit.Actor.staff(admin.id)
    ids = [p.id for p in patients] + [no_email.id]
    job = bulk.start_job(session=session, actor=actor, patient_ids=ids, resend=True)
    _kill_after_invitation(monkeypatch, 5)
    with pytest.raises(_Killed):
        bulk.run_job(session=session, job_id=job.id, actor=actor, chunk=3)
    monkeypatch.undo()
    session.rollback()

    # Another worker (a new process) picks the job up and goes on from the items done.
    from portal_app import db
    with db.session_scope(db_url) as fresh:
        stopped = bulk.job_view(session=fresh, job_id=job.id, staff_user_id=admin.id)
        assert stopped.status == "running" and not stopped.can_resume
        [(job_id, as_actor)] = bulk.orphaned_jobs(session=fresh)
        view = bulk.run_job(session=fresh, job_id=job_id, actor=as_actor, chunk=3)

    assert (view.status, view.total, view.processed, view.invited, view.skipped_no_email) == ("done", 8, 8, 7, 1)
    assert not view.can_resume
    session.expire_all()
    sent = [m.to_address for m in session.exec(select(OutboxMessage))]
    assert sorted(sent) == sorted(p.email for p in patients)  # each patient invited exactly once
    from portal_app.models import OneTimeSecret
    assert all(link.revoked_at is None for link in session.exec(select(OneTimeSecret)))  # no first link killed
    actions = session.exec(select(AuditEvent.action).where(col(AuditEvent.action).startswith("bulk."))).all()
    assert actions == ["bulk.enable_invite", "bulk.enable_invite.done"]
    with pytest.raises(InvalidInput, match="no patients left"):
        bulk.resume_job(session=session, job_id=job.id, actor=actor)


def _portal_active(session, active: bool) -> None:
    config = settings.get(session=session)
    config.portal_active = active
    session.add(config)
    session.commit()


def test_a_job_stopped_when_the_portal_was_switched_off_resumes_once_it_is_on(session, admin):
    patients = [make_patient(session, first=f"S{i}", last="Off", email=f"s{i}@example.com", chart=f"O{i}")
                for i in range(4)]
    actor = audit.Actor.staff(admin.id)
    job = bulk.start_job(session=session, actor=actor, patient_ids=[p.id for p in patients])
    _portal_active(session, False)
    stopped = bulk.run_job(session=session, job_id=job.id, actor=actor)
    assert (stopped.status, stopped.processed, stopped.can_resume) == ("failed", 0, True)
    with pytest.raises(PortalUnavailable):
        bulk.resume_job(session=session, job_id=job.id, actor=actor)
    _portal_active(session, True)
    bulk.resume_job(session=session, job_id=job.id, actor=actor)
    done = bulk.run_job(session=session, job_id=job.id, actor=actor)
    assert (done.status, done.processed, done.invited) == ("done", 4, 4)


def test_only_the_owner_can_resume_a_job(session, admin, patient):
    job = bulk.start_job(session=session, actor=audit.Actor.staff(admin.id), patient_ids=[patient.id])
    other = staff_auth.create_staff(session=session, username="bob", full_name="Bob",
                                   password="lantern orbit cactus 77 violin")
    with pytest.raises(NotFound):
        bulk.resume_job(session=session, job_id=job.id, actor=audit.Actor.staff(other.id))
    with pytest.raises(InvalidInput, match="still running"):
        bulk.resume_job(session=session, job_id=job.id, actor=audit.Actor.staff(admin.id))


# ---- in its own process ----------------------------------------------------------------


def test_a_job_in_its_own_process_does_what_run_job_does(session, admin):
    charts = _mixed(session)
    ids = [p.id for group in charts.values() for p in group]
    actor = audit.Actor.staff(admin.id)
    job = bulk.start_job(session=session, actor=actor, patient_ids=ids)

    view = bulk.run_in_own_process(session=session, job_id=job.id, actor=actor)

    assert (view.status, view.total, view.processed, view.invited) == ("done", 6, 6, 3)
    session.expire_all()
    assert all(session.get(Patient, i).portal_enabled for i in ids)
    sent = session.exec(select(OutboxMessage)).all()
    assert sorted(m.to_address for m in sent) == ["ann0@example.com", "ann1@example.com", "ann2@example.com"]
    actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.staff_user_id == admin.id))]
    assert (actions.count("portal.enable"), actions.count("invitation.send"),
            actions.count("bulk.enable_invite.done")) == (5, 3, 1)  # one chart was on already


def test_a_finished_job_is_not_worked_again_in_another_process(session, admin):
    charts = _mixed(session)
    actor = audit.Actor.staff(admin.id)
    job = bulk.start_job(session=session, actor=actor, patient_ids=[p.id for p in charts["invitable"]])
    bulk.run_in_own_process(session=session, job_id=job.id, actor=actor)

    again = bulk.run_in_own_process(session=session, job_id=job.id, actor=actor)

    assert (again.status, again.invited) == ("done", 3)
    assert len(session.exec(select(OutboxMessage)).all()) == 3


def test_a_worker_process_that_dies_leaves_the_job_stopped_and_resumable(session, admin, monkeypatch):
    charts = _mixed(session)
    actor = audit.Actor.staff(admin.id)
    job = bulk.start_job(session=session, actor=actor, patient_ids=[p.id for p in charts["invitable"]])
    monkeypatch.setattr(bulk.sys, "executable", "/bin/false")  # the worker exits at once, job untouched

    view = bulk.run_in_own_process(session=session, job_id=job.id, actor=actor)

    assert view.status == "failed" and view.processed == 0 and "Stopped after 0 of 3" in view.error
    assert view.can_resume
    monkeypatch.undo()
    bulk.resume_job(session=session, job_id=job.id, actor=actor)
    assert bulk.run_in_own_process(session=session, job_id=job.id, actor=actor).invited == 3


def test_a_worker_whose_server_went_away_stops_between_chunks_and_leaves_the_job_to_resume(session, admin):
    charts = _mixed(session)
    actor = audit.Actor.staff(admin.id)
    job = bulk.start_job(session=session, actor=actor, patient_ids=[p.id for p in charts["invitable"]])

    view = bulk.run_job(session=session, job_id=job.id, actor=actor, chunk=2, keep_going=lambda: False)

    assert (view.status, view.processed) == ("running", 2)  # the first chunk, then it stopped
    [(job_id, as_actor)] = bulk.orphaned_jobs(session=session)  # its lease is free: picked up
    done = bulk.run_job(session=session, job_id=job_id, actor=as_actor)
    assert (done.status, done.processed, done.invited) == ("done", 3, 3)
    assert len(session.exec(select(OutboxMessage)).all()) == 3


def test_a_worker_process_killed_mid_job_leaves_it_to_be_picked_up_and_nothing_is_done_twice(
        session, admin, db_url):
    """A real kill -9 of the worker process (`python -m portal_app run-bulk-job`), mid-job."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from datetime import datetime, timezone

    from portal_app.models import BulkJobItem
    from portal_app.services import clock

    patients = [make_patient(session, first=f"K{i}", last="Kill", email=f"k{i}@example.com", chart=f"K{i:04d}")
                for i in range(300)]
    actor = audit.Actor.staff(admin.id)
    job = bulk.start_job(session=session, actor=actor, patient_ids=[p.id for p in patients])
    worker = subprocess.Popen([sys.executable, "-m", "portal_app", "run-bulk-job", str(job.id),
                               "--staff-id", str(admin.id), "--label", "", "--ip", ""],
                              env={**os.environ, "REFLEX_DB_URL": db_url}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while _job_row(session, job.id).processed < bulk.CHUNK:  # some chunks done (poll, not sleep)
            assert worker.poll() is None and time.monotonic() < deadline, "the worker did no chunk"
            session.rollback()
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.kill()
        worker.wait()
    session.rollback()
    cut_off = _job_row(session, job.id)
    assert cut_off.status == bulk.RUNNING and 0 < cut_off.processed < cut_off.total, "killed mid-job"
    assert cut_off.lease_owner  # the dead worker's lease: nobody takes the job before it runs out
    assert bulk.orphaned_jobs(session=session) == []

    clock.freeze(datetime.now(timezone.utc) + leases.LEASE + timedelta(seconds=1))
    try:
        [(job_id, as_actor)] = bulk.orphaned_jobs(session=session)
        view = bulk.run_job(session=session, job_id=job_id, actor=as_actor)
    finally:
        clock.freeze(None)

    assert (view.status, view.processed, view.invited) == ("done", 300, 300)
    session.expire_all()
    assert all(item.outcome == "invited" for item in session.exec(select(BulkJobItem)))
    sent = [m.to_address for m in session.exec(select(OutboxMessage))]
    assert sorted(sent) == sorted(p.email for p in patients)  # each patient's message exactly once
