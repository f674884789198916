"""Bulk "Enable and invite": a job row that outlives the page, worked through in chunks.

The job row is the source of truth for progress: the page that started it, a page opened
later, or another tab all read the same counts. The job's charts are fixed when it starts (one
`BulkJobItem` each); a chart's outcome is committed together with the chart's own changes (its
invitation), and the counts are written to the row after every chunk. One worker process works
a job at a time, holding its lease (services/leases.py); a job whose worker died (kill -9, a
restart) is picked up by another worker once the lease runs out (`orphaned_jobs`), recounted
from its items, and its charts not yet done are done, each once. A job stopped by an error
offers Resume (`resume_job`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, insert, update
from sqlmodel import Session, col, select

from portal_app.models import BulkJob, BulkJobItem, OneTimeSecret, Patient, SecretPurpose, StaffUser, ident
from portal_app.services import accounts, audit, clock, consent, leases, onboarding, settings
from portal_app.services.errors import DomainError, Forbidden, InvalidInput, NotFound, PortalUnavailable
from portal_app.services.invitations import send_invitation_or_reset
from portal_app.services.onboarding import StatusFilter

KIND_ENABLE_INVITE = "enable_invite"
# Small enough that the progress bar moves several times a second (about 10 ms a patient).
CHUNK = 20
# Selections come from the browser: a page is 50 rows, so this is generous, and bounded.
MAX_SELECTED = 5000
# Above this many patients the confirmation asks staff to type the number.
TYPE_TO_CONFIRM = 1000
# A finished job is still shown on the onboarding page for this long.
RECENT = timedelta(minutes=30)
# A stopped job with patients not yet done stays on the page (with "Resume") for this long.
RESUMABLE = timedelta(days=7)

RUNNING = "running"
DONE = "done"
FAILED = "failed"
# A chart's outcome -> the job row's count of it ("failed" and "missing" have no column).
_COUNT_COLUMNS = {"invited": "invited", "no_email": "skipped_no_email",
                  "email_not_allowed": "skipped_email_not_allowed", "has_account": "skipped_has_account",
                  "live_invitation": "skipped_live_invitation", "access_rule": "skipped_access_rule"}
OUTCOMES = (*_COUNT_COLUMNS, "failed", "missing")
NOTHING_LEFT = "This job has no patients left to do."
# The worker process of `run_in_own_process` runs at this niceness (below the server's), and
# exits with LEFT_ALONE when the job was not its to work (finished, or worked elsewhere).
NICENESS = 10
LEFT_ALONE = 3
# How often each server looks for jobs whose worker died (their lease ran out).
PICK_UP_SECONDS = 10


@dataclass(frozen=True)
class JobView:
    """A job's progress, as state may hold it."""

    id: int
    status: str
    total: int
    processed: int
    invited: int
    skipped_no_email: int
    skipped_email_not_allowed: int
    skipped_has_account: int
    skipped_live_invitation: int
    error: str
    percent: int
    summary: str
    skipped_access_rule: int = 0
    # Stopped (a restart, the portal switched off, an error) with charts not yet done.
    can_resume: bool = False


def summary_of(job: BulkJob) -> str:
    """E.g. "Invited 41 · skipped 7 without email · 2 email not allowed · 3 already have accounts"."""
    skips = [(job.skipped_access_rule, "deceased or merged (access stays off)"),
             (job.skipped_live_invitation, "already invited (link still valid)"),
             (job.skipped_no_email, "without email"),
             (job.skipped_email_not_allowed, "email not allowed"),
             (job.skipped_has_account,
              "already has an account" if job.skipped_has_account == 1 else "already have accounts")]
    parts = [f"Invited {job.invited}"]
    for count, why in skips:
        if count:
            parts.append(f"{'skipped ' if len(parts) == 1 else ''}{count} {why}")
    return " · ".join(parts)


def view_of(job: BulkJob) -> JobView:
    percent = 100 if job.total == 0 else min(100, job.processed * 100 // job.total)
    return JobView(id=ident(job), status=job.status, total=job.total, processed=job.processed,
                   invited=job.invited, skipped_no_email=job.skipped_no_email,
                   skipped_email_not_allowed=job.skipped_email_not_allowed,
                   skipped_has_account=job.skipped_has_account,
                   skipped_live_invitation=job.skipped_live_invitation, error=job.error,
                   percent=percent, summary=summary_of(job), skipped_access_rule=job.skipped_access_rule,
                   can_resume=job.status == FAILED and job.processed < job.total)


def _clean_ids(patient_ids: Iterable[int]) -> list[int]:
    seen: dict[int, None] = {}
    for value in patient_ids:
        number = int(value)
        if number > 0:
            seen.setdefault(number, None)
    if len(seen) > MAX_SELECTED:
        raise InvalidInput(f"Select at most {MAX_SELECTED} patients at a time, or use "
                           "“Enable and invite all matching”.")
    return list(seen)


def confirm_count(*, total: int, typed: str) -> None:
    """Above TYPE_TO_CONFIRM patients, staff must type how many they are about to invite.

    Raises:
        InvalidInput: field "confirm_count", when the typed number is not `total`.
    """
    if total <= TYPE_TO_CONFIRM:
        return
    if "".join((typed or "").split()).replace(",", "") != str(total):
        raise InvalidInput(f"Type {total} to confirm inviting {total} patients.", field="confirm_count")


def start_job(*, session: Session, actor: audit.Actor, patient_ids: list[int] | None = None,
              search: str = "", status: StatusFilter = StatusFilter.ALL, resend: bool = False) -> JobView:
    """Create the job row (and its one audit event) before any patient is touched.

    Args:
        patient_ids: the selected charts; None means every patient matching search+status.
        resend: "send again": re-invite charts whose invitation is still live (its link dies).

    Raises:
        PortalUnavailable: the portal is switched off (nothing would be sent).
        InvalidInput: nothing selected, or too many.
        Forbidden: the actor is not a staff user (a job belongs to the staff user who started it).
    """
    if actor.staff_user_id is None:
        raise Forbidden("Only a staff user can enable and invite patients in bulk.")
    if not settings.get(session=session).portal_active:
        raise PortalUnavailable()
    if patient_ids is not None:
        ids = _clean_ids(patient_ids)
        if not ids:
            raise InvalidInput("No patients are selected.")
        chunks: Iterable[list[int]] = [ids]
    elif onboarding.count_matching(session=session, search=search, status=status) == 0:
        raise InvalidInput("No patients are selected.")
    else:
        chunks = onboarding.iter_matching_ids(session=session, search=search, status=status, chunk=5000)
    job = BulkJob(kind=KIND_ENABLE_INVITE, staff_user_id=actor.staff_user_id, status=RUNNING,
                  resend=resend, created_at=clock.now())
    leases.grant(job)
    session.add(job)
    session.flush()
    job.total = _add_items(session, ident(job), chunks)
    scope = (f"{job.total} selected" if patient_ids is not None
             else f"all {job.total} matching search={search[:100]!r} status={status.value}")
    audit.record(session=session, actor=actor, action="bulk.enable_invite",
                 detail=f"job #{job.id}: {scope}; send again={'yes' if resend else 'no'}")
    session.commit()
    session.refresh(job)
    return view_of(job)


def _add_items(session: Session, job_id: int, chunks: Iterable[list[int]]) -> int:
    """The job's charts, in order, each not yet done; returns how many."""
    position = 0
    for ids in chunks:
        rows = [{"job_id": job_id, "position": position + offset, "patient_id": patient_id, "outcome": ""}
                for offset, patient_id in enumerate(ids)]
        if rows:
            session.execute(insert(BulkJobItem), rows)
        position += len(rows)
    return position


def _pending(session: Session, job_id: int, size: int) -> Iterator[list[tuple[int, int]]]:
    """(position, patient id) of the job's charts not yet done, `size` at a time, in order."""
    after = -1
    while True:
        rows = session.exec(select(BulkJobItem.position, BulkJobItem.patient_id).where(
            BulkJobItem.job_id == job_id, BulkJobItem.position > after, BulkJobItem.outcome == "")
            .order_by(col(BulkJobItem.position)).limit(size)).all()
        if not rows:
            return
        yield [(position, patient_id) for position, patient_id in rows]
        after = rows[-1][0]


def _done_counts(session: Session, job_id: int) -> dict[str, int]:
    """How many of the job's charts ended each way (from the items: exact after any stop)."""
    counts = dict.fromkeys(OUTCOMES, 0)
    for outcome, number in session.exec(select(BulkJobItem.outcome, func.count()).where(
            BulkJobItem.job_id == job_id, BulkJobItem.outcome != "").group_by(col(BulkJobItem.outcome))):
        counts[outcome] = counts.get(outcome, 0) + number
    return counts


def _set_outcome(session: Session, job_id: int, position: int, outcome: str) -> None:
    """Record a chart's outcome in the current transaction (committed with the chart's changes)."""
    session.execute(update(BulkJobItem).where(col(BulkJobItem.job_id) == job_id,
                                              col(BulkJobItem.position) == position).values(outcome=outcome))


def has_live_invitation(*, session: Session, patient_id: int) -> bool:
    """An unused, unrevoked, unexpired invitation link for the chart (a new one would kill it)."""
    return session.exec(select(OneTimeSecret.id).where(
        OneTimeSecret.patient_id == patient_id, OneTimeSecret.purpose == SecretPurpose.INVITATION,
        col(OneTimeSecret.used_at).is_(None), col(OneTimeSecret.revoked_at).is_(None),
        OneTimeSecret.expires_at > clock.now()).limit(1)).first() is not None


def _process_one(session: Session, patient_id: int, actor: audit.Actor, resend: bool = False,
                 mark: Callable[[str], None] | None = None) -> str:
    """Enable one chart and invite it when that is possible; returns the outcome.

    `mark("invited")` is called just before the invitation, so the chart's item is committed as
    done in the invitation's own transaction (a restart between the two cannot invite it twice)."""
    patient = session.get(Patient, patient_id)
    if patient is None:
        return "missing"
    if onboarding.access_stays_off(session=session, patient=patient):
        return "access_rule"  # deceased or merged: access stays off, nobody is invited
    onboarding.enable_access(session=session, patient_id=patient_id, actor=actor)
    if accounts.self_account(session=session, patient_id=patient_id) is not None:
        return "has_account"
    if not patient.email:
        return "no_email"
    if not consent.allows(patient, consent.EMAIL):
        return "email_not_allowed"
    if not resend and has_live_invitation(session=session, patient_id=patient_id):
        return "live_invitation"
    if mark is not None:
        mark("invited")
    result = send_invitation_or_reset(session=session, patient_id=patient_id, actor=actor)
    return "failed" if result.status == "failed" else "invited"


def _reload(session: Session, job_id: int) -> BulkJob:
    """The job row again, after a commit or a rollback (NotFound if it was deleted meanwhile)."""
    job = session.get(BulkJob, job_id)
    if job is None:
        raise NotFound("That job does not exist.")
    return job


def _write_counts(job: BulkJob, counts: dict[str, int]) -> None:
    job.processed = sum(counts.values())
    job.total = max(job.total, job.processed)  # (never over 100 %)
    for outcome, column in _COUNT_COLUMNS.items():
        setattr(job, column, counts[outcome])
    if counts["failed"]:
        job.error = (f"{counts['failed']} invitation(s) could not be sent; failed "
                     "messages wait in the Outbox to be retried.")


def _save_counts(session: Session, job_id: int, counts: dict[str, int]) -> None:
    """Write a chunk's progress to the job row and commit."""
    job = _reload(session, job_id)
    _write_counts(job, counts)
    session.add(job)
    session.commit()


def _end(session: Session, job_id: int, actor: audit.Actor, exc: Exception | None = None) -> JobView:
    """Close the job and audit it: `done`, or `failed` on `exc` (the unfinished chunk is rolled
    back and the row says why)."""
    if exc is not None:
        session.rollback()
    job = _reload(session, job_id)
    _write_counts(job, _done_counts(session, job_id))
    if exc is None:
        job.status = DONE
        job.total = job.processed
        action, what = "bulk.enable_invite.done", f"{job.processed} processed"
    else:
        job.status = FAILED
        message = exc.message if isinstance(exc, DomainError) else "An unexpected error stopped it."
        job.error = f"Stopped after {job.processed} of {job.total}: {message}"[:500]
        action, what = "bulk.enable_invite.failed", type(exc).__name__
    job.finished_at = clock.now()
    session.add(job)
    audit.record(session=session, actor=actor, action=action, detail=f"job #{job.id}: {what}; {summary_of(job)}")
    session.commit()
    return view_of(job)


def _owned(session: Session, job_id: int, actor: audit.Actor) -> BulkJob:
    """The actor's job (NotFound for anyone else's: job ids are guessable)."""
    job = session.get(BulkJob, job_id)
    if job is None or job.staff_user_id != actor.staff_user_id:
        raise NotFound("That job does not exist.")
    return job


def run_job(*, session: Session, job_id: int, actor: audit.Actor, chunk: int = CHUNK,
            keep_going: Callable[[], bool] | None = None) -> JobView:
    """Work through the charts of a job made by `start_job` (or resumed by `resume_job`) that are
    not yet done, committing counts after every chunk, while this process holds the job's lease.

    Each patient's enable and invitation are the ordinary services, so each writes its own
    audit event. The job ends `done`, or `failed` with the reason (what was done stays done).
    It stops between chunks, leaving the job "running" for another worker to pick up, when the
    lease was taken over, or when `keep_going` says so (the worker process's server went away).

    Raises:
        NotFound: no such job of this staff user.
    """
    resend = _owned(session, job_id, actor).resend
    if not leases.claim(session, job_id, (RUNNING,)):
        # finished, or worked right now elsewhere (a repeated request must not run it twice)
        return view_of(_reload(session, job_id))
    try:
        return _work(session, job_id, actor, chunk, resend=resend, keep_going=keep_going)
    finally:
        session.rollback()
        leases.release(session, job_id)


def _work(session: Session, job_id: int, actor: audit.Actor, chunk: int, *, resend: bool,
          keep_going: Callable[[], bool] | None = None) -> JobView:
    # Counted here (from what is already done: a resumed job) and written to the row once per
    # chunk; each chart's own outcome is committed with its changes, so the items stay exact.
    counts = _done_counts(session, job_id)
    try:
        for items in _pending(session, job_id, chunk):
            for position, patient_id in items:
                def mark(outcome: str, position: int = position) -> None:
                    _set_outcome(session, job_id, position, outcome)

                try:
                    outcome = _process_one(session, patient_id, actor, resend, mark)
                except PortalUnavailable:
                    raise
                except DomainError:
                    session.rollback()
                    outcome = "failed"
                mark(outcome)
                session.commit()
                counts[outcome] += 1
            _save_counts(session, job_id, counts)
            if not leases.renew(session, job_id) or (keep_going is not None and not keep_going()):
                return view_of(_reload(session, job_id))
    except Exception as exc:  # noqa: BLE001 (the job row must say it stopped, whatever the cause)
        return _end(session, job_id, actor, exc)
    return _end(session, job_id, actor)


def run_in_own_process(*, session: Session, job_id: int, actor: audit.Actor, db_url: str = "") -> JobView:
    """`run_job` in a separate Python process (`python -m portal_app run-bulk-job`), waiting for it.

    A job is thousands of ordinary enables and invitations, each a few milliseconds of Python:
    in the server's own process its thread would hold the interpreter lock in turns with every
    staff click's. In its own process, at a lower priority, it takes only a core's share. The
    process claims the job's lease itself (it exits LEFT_ALONE when another worker holds it). If
    it is killed, the job stays "running" and another worker picks it up when the lease runs out.

    Args:
        db_url: the database (default: the one this process uses).
    """
    if _owned(session, job_id, actor).status != RUNNING:
        return view_of(_reload(session, job_id))
    session.rollback()  # (no transaction held open while the other process writes)
    url = db_url or session.connection().engine.url.render_as_string(hide_password=False)
    command = [sys.executable, "-m", "portal_app", "run-bulk-job", str(job_id),
               "--staff-id", str(actor.staff_user_id or 0), "--label", actor.label, "--ip", actor.ip]
    finished = subprocess.run(command, env={**os.environ, "REFLEX_DB_URL": url}, capture_output=True,
                              text=True, check=False, cwd=Path(__file__).resolve().parents[2])
    session.expire_all()
    job = _reload(session, job_id)
    killed = finished.returncode in (-signal.SIGKILL, -signal.SIGTERM)  # its lease runs out: picked up
    if job.status == RUNNING and finished.returncode != LEFT_ALONE and not killed:
        stopped = RuntimeError(f"worker exit {finished.returncode}: {finished.stderr[-300:]}")
        return _end(session, job_id, actor, stopped)
    return view_of(job)


def resume_job(*, session: Session, job_id: int, actor: audit.Actor) -> JobView:
    """Set a stopped job running again for its charts not yet done (then `run_job` works them).

    Raises:
        NotFound: no such job of this staff user.
        InvalidInput: the job is running, or has nothing left to do.
        PortalUnavailable: the portal is switched off.
    """
    job = session.get(BulkJob, job_id)
    if job is None or actor.staff_user_id is None or job.staff_user_id != actor.staff_user_id:
        raise NotFound("That job does not exist.")
    if job.status == RUNNING:
        raise InvalidInput("This job is still running.")
    left = session.exec(select(func.count()).select_from(BulkJobItem).where(
        BulkJobItem.job_id == job_id, BulkJobItem.outcome == "")).one()
    if not left:
        raise InvalidInput(NOTHING_LEFT)
    if not settings.get(session=session).portal_active:
        raise PortalUnavailable()
    job.status, job.error, job.finished_at = RUNNING, "", None
    leases.grant(job)
    _write_counts(job, _done_counts(session, job_id))
    session.add(job)
    audit.record(session=session, actor=actor, action="bulk.enable_invite.resume",
                 detail=f"job #{job_id}: {left} left of {job.total}")
    session.commit()
    session.refresh(job)
    return view_of(job)


def orphaned_jobs(*, session: Session) -> list[tuple[int, audit.Actor]]:
    """Running jobs nobody works (their worker died, or stopped with its server), each with the
    actor to go on as: the staff user who started it, while that user is still active.

    Any worker may call this: working one goes through its lease, so only one worker does."""
    found = session.exec(select(BulkJob.id, BulkJob.staff_user_id).join(
        StaffUser, col(StaffUser.id) == col(BulkJob.staff_user_id)).where(
        BulkJob.status == RUNNING, col(StaffUser.active).is_(True), leases.expired())
        .order_by(col(BulkJob.id))).all()
    return [(job_id, audit.Actor("staff", staff_user_id=staff_id, label="picked up after its worker stopped"))
            for job_id, staff_id in found if job_id is not None]


def job_view(*, session: Session, job_id: int, staff_user_id: int) -> JobView | None:
    """A job's progress, only for the staff user who started it."""
    job = session.get(BulkJob, job_id)
    if job is None or job.staff_user_id != staff_user_id:
        return None
    session.refresh(job)  # another thread's commits
    return view_of(job)


def latest_job(*, session: Session, staff_user_id: int) -> JobView | None:
    """The user's newest job when it is still running, finished recently, or stopped with patients
    left to do (for a week: Resume)."""
    job = session.exec(select(BulkJob).where(BulkJob.staff_user_id == staff_user_id,
                                             BulkJob.kind == KIND_ENABLE_INVITE)
                       .order_by(col(BulkJob.id).desc()).limit(1)).first()
    if job is None:
        return None
    shown_for = RESUMABLE if view_of(job).can_resume else RECENT
    if job.status != RUNNING and (job.finished_at is None
                                  or clock.now() - clock.aware(job.finished_at) > shown_for):
        return None
    return view_of(job)
