"""The counters: My Tasks ("Communication (N)", "Patient Portal (N)") and the review counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo

from sqlmodel import Session, col, func, select

from portal_app.models import PortalTask, TaskForward, TaskStatus
from portal_app.services import clock
from portal_app.services import settings as practice_settings
from portal_app.services.tasks.access import require_queue


@dataclass(frozen=True)
class MyTasks:
    access: str  # QueueAccess value
    communication: int
    patient_portal: int


def my_tasks(*, session: Session, staff_user_id: int) -> MyTasks:
    """"Communication (N)": open forwards to this user; "Patient Portal (N)": pending items."""
    access = require_queue(session=session, staff_user_id=staff_user_id)
    return MyTasks(access=access.value,
                   communication=count_open_forwards(session, staff_user_id),
                   patient_portal=count_status(session, TaskStatus.PENDING))


def count_status(session: Session, status: TaskStatus) -> int:
    return session.exec(select(func.count()).select_from(PortalTask).where(PortalTask.status == status)).one()


def count_open_forwards(session: Session, staff_user_id: int) -> int:
    return session.exec(select(func.count()).select_from(TaskForward).where(
        TaskForward.to_staff_id == staff_user_id, col(TaskForward.done_at).is_(None))).one()


def count_reviewed_since(session: Session, start: datetime) -> int:
    return session.exec(select(func.count()).select_from(PortalTask).where(
        PortalTask.status == TaskStatus.REVIEWED, col(PortalTask.reviewed_at) >= start)).one()


def month_start(zone: tzinfo) -> tuple[datetime, str]:
    """The start of the current calendar month in the practice's zone (as UTC) and its name."""
    local = clock.now().astimezone(zone)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start.astimezone(timezone.utc), f"{local:%B %Y}"


def review_counts(*, session: Session) -> tuple[int, int, str]:
    """(pending, reviewed this calendar month, month name)."""
    start, label = month_start(practice_settings.zone(session=session))
    return count_status(session, TaskStatus.PENDING), count_reviewed_since(session, start), label
