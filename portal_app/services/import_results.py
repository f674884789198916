"""What staff read of an import: the preview and the result lists, for the job's own staff user,
each view audited (they show chart numbers and values from the file: PHI).

The jobs API (services/importing/jobs.py) computes them; this checks whose job it is first and
records the view, so the Import patients page never reads a row unaudited.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from portal_app.models import ImportJob, StaffUser
from portal_app.services import audit, clock, settings
from portal_app.services.errors import NotFound
from portal_app.services.importing import jobs

PAGE_SIZE = 20
RECENT_IMPORTS = 10
STATUS_WORDS = {jobs.UPLOADED: "Uploaded", jobs.CHECKED: "Dry run done", jobs.RUNNING: "Running",
                jobs.DONE: "Imported", jobs.FAILED: "Stopped", jobs.INTERRUPTED: "Interrupted"}


@dataclass(frozen=True)
class PastImport:
    """One recent import as the page lists it (names and counts, no chart data)."""

    id: int
    file_name: str
    by: str
    when: str
    status: str
    summary: str


def recent_imports(*, session: Session, limit: int = RECENT_IMPORTS) -> list[PastImport]:
    """The practice's latest imports, newest first, whoever ran them (Patient Import: Read)."""
    zone = settings.zone(session=session)
    found = session.exec(select(ImportJob, StaffUser).join(StaffUser, isouter=True)
                         .order_by(col(ImportJob.id).desc()).limit(limit)).all()
    return [PastImport(id=job.id or 0, file_name=job.file_name, by=staff.full_name if staff else "",
                       when=clock.display(job.finished_at or job.created_at, zone),
                       status=STATUS_WORDS.get(job.status, job.status), summary=jobs.summary_of(job))
            for job, staff in found]


def _own(session: Session, job_id: int, actor: audit.Actor) -> jobs.JobView:
    view = jobs.job_view(session=session, job_id=job_id, staff_user_id=actor.staff_user_id)
    if view is None:
        raise NotFound("That import does not exist.")
    return view


def preview(*, session: Session, job_id: int, actor: audit.Actor, limit: int = jobs.PREVIEW) -> list[jobs.PreviewRow]:
    """The first rows as they will be stored (see jobs.preview). Audited."""
    _own(session, job_id, actor)
    rows = jobs.preview(session=session, job_id=job_id, limit=limit)
    audit.record(session=session, actor=actor, action="import.preview", detail=f"job #{job_id}: {len(rows)} rows")
    session.commit()
    return rows


def refused_page(*, session: Session, job_id: int, dry_run: bool, page: int, actor: audit.Actor,
                 page_size: int = PAGE_SIZE) -> jobs.ResultPage:
    """A page of refused rows (line, chart number, reason). Audited."""
    _own(session, job_id, actor)
    found = jobs.refusals(session=session, job_id=job_id, dry_run=dry_run, page=page, page_size=page_size)
    _record(session, actor, "import.refusals_view", job_id, dry_run, found)
    return found


def updated_page(*, session: Session, job_id: int, dry_run: bool, page: int, actor: audit.Actor,
                 page_size: int = PAGE_SIZE) -> jobs.ResultPage:
    """A page of updated charts with their changed fields (old -> new). Audited."""
    _own(session, job_id, actor)
    found = jobs.updates(session=session, job_id=job_id, dry_run=dry_run, page=page, page_size=page_size)
    _record(session, actor, "import.updates_view", job_id, dry_run, found)
    return found


def _record(session: Session, actor: audit.Actor, action: str, job_id: int, dry_run: bool,
            found: jobs.ResultPage) -> None:
    if not found.rows:
        return
    audit.record(session=session, actor=actor, action=action,
                 detail=f"job #{job_id}: {'dry run' if dry_run else 'import'}; page {found.page + 1} of {found.pages}; "
                        f"lines {found.rows[0].line}-{found.rows[-1].line}")
    session.commit()
