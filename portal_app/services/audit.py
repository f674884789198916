"""The append-only audit log: who did what, to whom, from where."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TypeVar

from sqlalchemy import DDL, event, inspect
from sqlmodel import Session, col, select

from portal_app.db import select_columns
from portal_app.models import AuditEvent, Patient, StaffUser, ident
from portal_app.services import audit_chain, clock
from portal_app.services.errors import DomainError, InvalidInput

PAGE_SIZE = 50
E = TypeVar("E", bound=DomainError)


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
    def sign_in_attempt(cls, matched: str = "", ip: str = "") -> "Actor":
        """A failed sign-in: never what was typed as the user ID (it may be a password typed in
        the wrong box); `matched` says whose account it matched ("staff user #3"), if any."""
        return cls("anonymous", label=f"{SIGN_IN_ATTEMPT} ({matched or 'unknown user'})", ip=ip)

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


def record_refusal(*, session: Session, actor: Actor, handler: str, need: str) -> None:
    """Audit a handler call refused for want of a session or a permission (and commit it)."""
    record(session=session, actor=actor, action="access.refused", detail=f"handler={handler}; needs={need}")
    session.commit()


def record_object_refusal(*, session: Session, actor: Actor, detail: str, patient_id: int | None = None) -> None:
    """Audit a reach for an object the caller may not have, or that does not exist (another
    chart's document or thread, an id typed into a crafted event, a file URL), and commit it.
    `detail` names what was asked for (ids and the handler or route, never typed text)."""
    record(session=session, actor=actor, action="access.object_refused", patient_id=patient_id, detail=detail)
    session.commit()


def refused(error: E, *, session: Session, actor: Actor, detail: str, patient_id: int | None = None) -> E:
    """`error`, after auditing it as an object refusal (marked so the handler's guard does not
    audit it again): `raise audit.refused(NotFound(...), ...)`."""
    record_object_refusal(session=session, actor=actor, detail=detail, patient_id=patient_id)
    error.audited = True
    return error


# What a failed sign-in is recorded as: what was typed in the user ID box may be a password
# typed in the wrong box, so it is never stored (the matched account's id is, when there is one).
SIGN_IN_ATTEMPT = "sign-in attempt"


# The same triggers as the migration "audit log append-only", for schemas made by create_all.
for _statement in (
    "CREATE TRIGGER auditevent_no_update BEFORE UPDATE ON auditevent "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
    "CREATE TRIGGER auditevent_no_delete BEFORE DELETE ON auditevent "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
):
    event.listen(inspect(AuditEvent).local_table, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
# PostgreSQL: one PL/pgSQL trigger function for both (the same as that migration's).
for _statement in (
    "CREATE FUNCTION auditevent_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$",
    "CREATE TRIGGER auditevent_no_change BEFORE UPDATE OR DELETE ON auditevent "
    "FOR EACH ROW EXECUTE FUNCTION auditevent_append_only()",
):
    event.listen(inspect(AuditEvent).local_table, "after_create", DDL(_statement).execute_if(dialect="postgresql"))


audit_chain.install()  # every row added through a session is chained to the one before


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


def _format(at: datetime, zone: tzinfo) -> str:
    return clock.stamp(at, zone)


def list_events(*, session: Session, patient_id: int | None = None,
                staff_user_id: int | None = None, before_id: int | None = None,
                limit: int = PAGE_SIZE) -> list[AuditRow]:
    """Newest first, keyset-paged on id; times in the practice's zone."""
    from portal_app.services import settings  # settings records its changes here: import when used

    zone = settings.zone(session=session)
    query = (select_columns(AuditEvent, StaffUser.username, Patient.first_name, Patient.last_name,
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
        rows.append(AuditRow(id=ident(event_row), at=_format(event_row.at, zone), who=who,
                             action=event_row.action, patient=patient, detail=event_row.detail,
                             ip=event_row.ip))
    return rows


def page_of_events(*, session: Session, patient_id: int | None = None,
                   staff_user_id: int | None = None, before_id: int | None = None,
                   size: int = PAGE_SIZE) -> tuple[list[AuditRow], bool]:
    """One page, newest first, and whether an older page exists (one extra row tells)."""
    rows = list_events(session=session, patient_id=patient_id, staff_user_id=staff_user_id,
                       before_id=before_id, limit=size + 1)
    return rows[:size], len(rows) > size


@dataclass(frozen=True)
class PatientRef:
    id: int
    label: str


@dataclass(frozen=True)
class StaffRef:
    id: int
    username: str


def find_patient(*, session: Session, text: str) -> PatientRef:
    """Resolve what staff typed in the audit filter: a chart number, or a patient id.

    Raises:
        InvalidInput: nothing typed, or no chart matches.
    """
    value = " ".join((text or "").split())[:40]
    if not value:
        raise InvalidInput("Enter a chart number or a patient ID.", field="patient")
    # No chart number holds a NUL (and PostgreSQL refuses one in a query).
    patient = (None if "\x00" in value
               else session.exec(select(Patient).where(Patient.chart_number == value.upper())).first())
    if patient is None and value.isascii() and value.isdigit() and len(value) <= 12:
        patient = session.get(Patient, int(value))
    if patient is None:
        raise InvalidInput(f"No patient has chart number or ID {value}.", field="patient")
    return PatientRef(id=ident(patient),
                      label=f"{patient.last_name}, {patient.first_name} ({patient.chart_number})")


def list_staff_users(*, session: Session) -> list[StaffRef]:
    """Every staff user (id, username), for the audit log's staff filter."""
    rows = session.exec(select(StaffUser.id, StaffUser.username).order_by(StaffUser.username))
    return [StaffRef(id=ident(user_id), username=username) for user_id, username in rows]
