"""The onboarding list and portal access switches.

The list pages on the server by keyset over (sort_key, id), with one composite index per
search/filter shape, so the 10,000th row costs what the first does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, tuple_
from sqlmodel import Session, col, select

from portal_app.db import select_columns
from portal_app.models import ChartAccountState, Patient, ident
from portal_app.services import accounts, audit, clock, sessions, tokens
from portal_app.services.choices import Choice
from portal_app.services.validation import parse_dob

PAGE_SIZE = 50
_SEP = "\x1f"


class StatusFilter(Choice):
    ALL = "all", "All patients"
    ENABLED = "enabled", "Access enabled (green)"
    NOT_ENABLED = "not_enabled", "Access not enabled (red)"
    NO_ACCOUNT = "none", "No account"
    INVITED = "invited", "Invited"
    ACTIVE = "active", "Active account"
    DISABLED = "disabled", "Account disabled"


STATUS_LABELS = StatusFilter.labels()

ACCOUNT_STATE_LABELS = {
    ChartAccountState.NONE: "No account",
    ChartAccountState.INVITED: "Invited",
    ChartAccountState.ACTIVE: "Active",
    ChartAccountState.DISABLED: "Disabled",
}


def sort_key(last_name: str, first_name: str) -> str:
    return f"{last_name.strip().lower()}{_SEP}{first_name.strip().lower()}"[:210]


@dataclass(frozen=True)
class PatientRow:
    """One line of the list, as state holds it."""

    id: int
    chart_number: str
    name: str
    dob: str
    email: str
    enabled: bool
    account_state: str
    account_label: str


@dataclass(frozen=True)
class Cursor:
    sort_key: str
    id: int


@dataclass(frozen=True)
class Page:
    rows: list[PatientRow]
    first: Cursor | None
    last: Cursor | None
    has_next: bool
    has_prev: bool


# What a list row needs: loading these columns, not whole Patient objects, halves a page's cost.
_ROW_COLUMNS = (Patient.id, Patient.chart_number, Patient.first_name, Patient.last_name, Patient.dob,
                Patient.email, Patient.portal_enabled, Patient.account_state, Patient.sort_key)


def row_of(patient: Patient) -> PatientRow:
    """The view row of a Patient (or of a result row holding the `_ROW_COLUMNS`)."""
    return PatientRow(
        id=ident(patient), chart_number=patient.chart_number,
        name=f"{patient.last_name}, {patient.first_name}", dob=patient.dob.strftime("%m/%d/%Y"),
        email=patient.email, enabled=patient.portal_enabled,
        account_state=patient.account_state.value,
        account_label=ACCOUNT_STATE_LABELS[patient.account_state],
    )


def _unindexed(column):
    """`column` in a form no index can serve (SQLite's unary-"+" trick, spelled portably)."""
    return func.coalesce(column, column)


def _filtered(query, *, search: str, status: StatusFilter):
    """Apply a search and a status filter to a select over Patient."""
    text = " ".join((search or "").split())[:100]
    # A DOB, email or chart search matches a handful of rows through its own index. Left
    # indexable, the status test tempts SQLite into walking the status index (hundreds of
    # thousands of rows) checking each one, taking seconds; so then it only filters.
    selective = False
    if text:
        selective = True
        if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}|\d{4}-\d{2}-\d{2}", text):
            try:
                query = query.where(Patient.dob == parse_dob(text, today=date.max))
            except Exception:  # an impossible date matches nobody
                query = query.where(Patient.id == -1)
        elif "@" in text:
            prefix = text.lower()
            query = query.where(col(Patient.email_lower) >= prefix,
                                col(Patient.email_lower) < prefix + "\uffff")
        elif re.fullmatch(r"[A-Za-z]{0,3}\d[\w-]*", text):
            query = query.where(Patient.chart_number == text.upper())
        else:
            selective = False
            if "," in text:
                last, _, first = text.partition(",")
            else:
                parts = text.split(" ")
                last, first = (parts[-1], " ".join(parts[:-1])) if len(parts) > 1 else (text, "")
            prefix = last.strip().lower()
            if first.strip():
                prefix += _SEP + first.strip().lower()
            query = query.where(col(Patient.sort_key) >= prefix,
                                col(Patient.sort_key) < prefix + "\uffff")
    enabled = _unindexed(Patient.portal_enabled) if selective else col(Patient.portal_enabled)
    state = _unindexed(Patient.account_state) if selective else col(Patient.account_state)
    if status == StatusFilter.ENABLED:
        query = query.where(enabled.is_(True))
    elif status == StatusFilter.NOT_ENABLED:
        query = query.where(enabled.is_(False))
    elif status != StatusFilter.ALL:
        query = query.where(state == ChartAccountState(status.value))
    return query


def list_page(*, session: Session, search: str = "", status: StatusFilter = StatusFilter.ALL,
              after: Cursor | None = None, before: Cursor | None = None,
              limit: int = PAGE_SIZE) -> Page:
    """One page of patients in name order, after or before a cursor."""
    query = _filtered(select_columns(*_ROW_COLUMNS), search=search, status=status)
    key = tuple_(Patient.sort_key, Patient.id)
    if before is not None:
        query = query.where(key < (before.sort_key, before.id)).order_by(
            col(Patient.sort_key).desc(), col(Patient.id).desc())
    else:
        if after is not None:
            query = query.where(key > (after.sort_key, after.id))
        query = query.order_by(Patient.sort_key, Patient.id)
    patients = list(session.exec(query.limit(limit + 1)))
    more = len(patients) > limit
    patients = patients[:limit]
    if before is not None:
        patients.reverse()
    rows = [row_of(p) for p in patients]
    first = Cursor(patients[0].sort_key, patients[0].id) if patients else None
    last = Cursor(patients[-1].sort_key, patients[-1].id) if patients else None
    return Page(rows=rows, first=first, last=last,
                has_next=more if before is None else True,
                has_prev=(after is not None) if before is None else more)


def count_matching(*, session: Session, search: str, status: StatusFilter) -> int:
    """How many patients a search and status filter match (the list's own filter)."""
    query = _filtered(select(func.count()).select_from(Patient), search=search, status=status)
    return int(session.exec(query).one())


def iter_matching_ids(*, session: Session, search: str, status: StatusFilter,
                      chunk: int = 500) -> Iterator[list[int]]:
    """Every id matching a filter, in chunks, without holding them all."""
    cursor: tuple[str, int] | None = None
    while True:
        query = _filtered(select(Patient.sort_key, Patient.id), search=search, status=status)
        if cursor is not None:
            query = query.where(tuple_(Patient.sort_key, Patient.id) > cursor)
        rows = list(session.exec(query.order_by(Patient.sort_key, Patient.id).limit(chunk)))
        if not rows:
            return
        yield [row[1] for row in rows]
        cursor = (rows[-1][0], rows[-1][1])


def patient_row(*, session: Session, patient_id: int) -> PatientRow:
    """One list row, fresh from the database."""
    return row_of(accounts.get_patient(session=session, patient_id=patient_id))


def enable_access(*, session: Session, patient_id: int, actor: audit.Actor) -> PatientRow:
    """Turn portal access on. Already on: nothing changes, nothing is logged."""
    patient = accounts.get_patient(session=session, patient_id=patient_id)
    if not patient.portal_enabled:
        patient.portal_enabled = True
        patient.updated_at = clock.now()
        session.add(patient)
        audit.record(session=session, actor=actor, action="portal.enable", patient_id=patient.id)
        session.commit()
    return row_of(patient)


def disable_access(*, session: Session, patient_id: int, actor: audit.Actor) -> PatientRow:
    """Turn portal access off: end the sessions of connected accounts, void open links."""
    patient = accounts.get_patient(session=session, patient_id=patient_id)
    if patient.portal_enabled:
        patient.portal_enabled = False
        patient.updated_at = clock.now()
        session.add(patient)
        ended = sum(sessions.end_all(session=session, portal_account_id=account_id)
                    for account_id in accounts.connected_account_ids(session=session, patient_id=ident(patient)))
        voided = tokens.revoke_live(session=session, patient_id=patient.id)
        audit.record(session=session, actor=actor, action="portal.disable", patient_id=patient.id,
                     detail=f"sessions ended={ended}; links voided={voided}")
        session.commit()
    return row_of(patient)
