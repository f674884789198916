"""Items patients send through the portal: how every area files one in the Patient Portal queue.

An area service (messages, forms, documents, appointments) creates its item with `file_item`,
then adds its own detail rows (posts, intake changes, a document, an appointment request).
"""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session, col

from portal_app.models import AccessType, Patient, PortalAccount, PortalTask, TaskKind
from portal_app.services import audit, clock
from portal_app.services.portal_auth import ChartView


def file_item(*, session: Session, kind: TaskKind, account_id: int, chart: ChartView, subject: str = "",
              ip: str = "") -> PortalTask:
    """A new pending item for `chart`, sent by `account_id` (as self or as representative).

    Adds it to the caller's transaction (flushed, so it has an id) and audits it; the caller commits.
    """
    account = session.get(PortalAccount, account_id)
    patient = session.get(Patient, chart.patient_id)
    now = clock.now()
    task = PortalTask(kind=kind, patient_id=chart.patient_id, patient_sort_key=patient.sort_key if patient else "",
                      account_id=account_id,
                      submitted_by=account.user_id if account else "",
                      access_type=AccessType(chart.access_type), subject=subject[:200],
                      created_at=now, last_activity_at=now)
    session.add(task)
    session.flush()
    audit.record(session=session, actor=audit.Actor.portal(account_id, ip), action=f"portal.{kind.value}",
                 patient_id=chart.patient_id, account_id=account_id,
                 detail=f"item={task.id}; as={chart.access_type}")
    return task


def follow_chart_name(*, session: Session, patient_id: int, sort_key: str) -> None:
    """The chart's name changed: its items sort under the new name (the caller commits)."""
    session.exec(update(PortalTask).where(col(PortalTask.patient_id) == patient_id)
                 .values(patient_sort_key=sort_key))
