"""Job leases: one worker process works a job at a time, and a dead worker's job is taken over.

A job row carries `lease_owner` (this process's OWNER) and `lease_expires_at`. Claiming is one
guarded UPDATE (of two claimers exactly one changes the row); the worker renews the lease between
chunks, guarded by its owner, and stops when the renewal finds the lease taken over. A worker
killed with kill -9 simply stops renewing: once LEASE has passed another worker claims the job.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import timedelta

from sqlalchemy import ColumnElement, update
from sqlmodel import Session, col, or_

from portal_app.models import BulkJob, ImportJob
from portal_app.services import clock

# Renewed every chunk or batch (seconds at most), so 30 s is only ever reached by a dead worker.
LEASE = timedelta(seconds=30)
# This worker process (the process of run_in_own_process is a fresh interpreter: its own).
OWNER = f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"
# The tables whose rows are leased.
Job = type[BulkJob] | type[ImportJob]


def claim(session: Session, job_id: int, states: tuple[str, ...], *, me: str = OWNER,
          table: Job = BulkJob) -> bool:
    """Take the job's lease when it is in `states` and nobody holds a live lease; commits.

    A job just started or resumed has no owner and a short grace (`grant`): its own worker may
    claim it at once, while `expired` (what pick-up looks for) passes it by until the grace ends.

    Returns whether it is now ours (rowcount 1 of one guarded UPDATE: never two winners)."""
    now = clock.now()
    won = session.exec(update(table).where(
        col(table.id) == job_id, col(table.status).in_(states),
        or_(col(table.lease_owner) == "", col(table.lease_expires_at).is_(None),
            col(table.lease_expires_at) < now))
        .values(lease_owner=me, lease_expires_at=now + LEASE))
    session.commit()
    return won.rowcount == 1


def renew(session: Session, job_id: int, *, me: str = OWNER, table: Job = BulkJob) -> bool:
    """Extend our lease; False when another worker holds it now (then stop working). Commits."""
    won = session.exec(update(table).where(col(table.id) == job_id, col(table.lease_owner) == me)
                       .values(lease_expires_at=clock.now() + LEASE))
    session.commit()
    return won.rowcount == 1


def release(session: Session, job_id: int, *, me: str = OWNER, table: Job = BulkJob) -> None:
    """Give the lease up (the job is finished or stopped by us). Commits."""
    session.execute(update(table).where(col(table.id) == job_id, col(table.lease_owner) == me)
                    .values(lease_owner="", lease_expires_at=None))
    session.commit()


def grant(job: BulkJob | ImportJob) -> None:
    """A job just (re)started: unowned, with LEASE of grace for the worker about to claim it."""
    job.lease_owner, job.lease_expires_at = "", clock.now() + LEASE


def expired(table: Job = BulkJob) -> ColumnElement[bool]:
    """Jobs nobody works: their lease was released, or ran out (their worker died)."""
    return or_(col(table.lease_expires_at).is_(None), col(table.lease_expires_at) < clock.now())
