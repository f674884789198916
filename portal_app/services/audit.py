"""The append-only audit log: who did what, to whom, from where."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event
from sqlmodel import Session, col, select

from portal_app.models import AuditEvent, Patient, StaffUser
from portal_app.services import clock

PAGE_SIZE = 50


@dataclass(frozen=True)
class Actor:
    kind: str  # staff, portal, system, anonymous
    staff_user_id: int | None = None
    portal_account_id: int | None = None
    label: str = ""
    ip: str = ""

    @classmethod
    def staff(cls, staff_user_id: int, ip: str = "") -> "Actor":
        return cls("staff", staff_user_id=staff_user_id, ip=ip)

    @classmethod
    def portal(cls, account_id: int, ip: str = "") -> "Actor":
        return cls("portal", portal_account_id=account_id, ip=ip)

    @classmethod
    def anonymous(cls, label: str = "", ip: str = "") -> "Actor":
        return cls("anonymous", label=label[:254], ip=ip)

    @classmethod
    def system(cls, label: str = "command line") -> "Actor":
        return cls("system", label=label)


def record(*, session: Session, actor: Actor, action: str, patient_id: int | None = None,
           account_id: int | None = None, detail: str = "") -> AuditEvent:
    """Add an event to the caller's transaction (it commits with the change it describes)."""
    row = AuditEvent(
        at=clock.now(), actor_type=actor.kind, staff_user_id=actor.staff_user_id,
        portal_account_id=actor.portal_account_id, actor_label=actor.label, ip=actor.ip[:64],
        action=action, patient_id=patient_id, account_id=account_id, detail=detail[:2000],
    )
    session.add(row)
    return row


@event.listens_for(AuditEvent, "before_update")
def _refuse_update(*_args) -> None:
    raise PermissionError("Audit events are append-only.")


@event.listens_for(AuditEvent, "before_delete")
def _refuse_delete(*_args) -> None:
    raise PermissionError("Audit events are append-only.")


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: str
    who: str
    action: str
    patient: str
    detail: str
    ip: str


def _format(at: datetime) -> str:
    return clock.aware(at).strftime("%Y-%m-%d %H:%M:%S UTC")


def list_events(*, session: Session, patient_id: int | None = None,
                staff_user_id: int | None = None, before_id: int | None = None,
                limit: int = PAGE_SIZE) -> list[AuditRow]:
    """Newest first, keyset-paged on id."""
    query = (select(AuditEvent, StaffUser.username, Patient.first_name, Patient.last_name,
                    Patient.chart_number)
             .join(StaffUser, col(AuditEvent.staff_user_id) == StaffUser.id, isouter=True)
             .join(Patient, col(AuditEvent.patient_id) == Patient.id, isouter=True)
             .order_by(col(AuditEvent.id).desc()).limit(limit))
    if patient_id is not None:
        query = query.where(AuditEvent.patient_id == patient_id)
    if staff_user_id is not None:
        query = query.where(AuditEvent.staff_user_id == staff_user_id)
    if before_id is not None:
        query = query.where(col(AuditEvent.id) < before_id)
    rows = []
    for event_row, username, first, last, chart in session.exec(query):
        if event_row.actor_type == "staff":
            who = f"staff: {username}"
        elif event_row.actor_type == "portal":
            who = f"portal account #{event_row.portal_account_id}"
        else:
            who = f"{event_row.actor_type}: {event_row.actor_label}".rstrip(": ")
        patient = f"{last}, {first} ({chart})" if chart else ""
        rows.append(AuditRow(id=event_row.id, at=_format(event_row.at), who=who,
                             action=event_row.action, patient=patient, detail=event_row.detail,
                             ip=event_row.ip))
    return rows
