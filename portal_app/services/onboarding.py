"""The onboarding list and portal access switches.

The list pages on the server by keyset over (sort_key, id), with one composite index per
search/filter shape, so the 10,000th row costs what the first does. The list's own counts stop
at `COUNT_CAP` rows (it then says "more than 2,000"), so a search costs the same with 5,000,000
patients as with 50,000; the bulk confirmation, a number the user confirms, counts them all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, tuple_
from sqlmodel import Session, col, select

from portal_app.db import select_columns
from portal_app.models import ChartAccountState, Patient, ident
from portal_app.services import accounts, audit, clock, sessions, tokens
from portal_app.services.choices import Choice
from portal_app.services.errors import Forbidden
from portal_app.services.validation import parse_dob

PAGE_SIZE = 50
_SEP = "\x1f"


def _count_cap() -> int:
    """PORTAL_LIST_COUNT_CAP rounded down to whole pages (at least one); else 2,000 (40 pages)."""
    raw = os.environ.get("PORTAL_LIST_COUNT_CAP", "").strip()
    rows = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else 2_000
    return max(PAGE_SIZE, rows // PAGE_SIZE * PAGE_SIZE)


# The onboarding list counts matching rows up to this many; past it, it says "more than". At
# 5,000,000 patients on PostgreSQL a search as the app runs it (first page and this count) took
# 3.8 ms p95 at most with 2,000 (bench/onboarding.py, a busy 2-core machine); trials with 5,000
# and 10,000 reached 5.2 and 5.4 ms. An exact count of them all takes 144 ms.
COUNT_CAP = _count_cap()


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
    account_label: str  # the chart's account state as the list says it ("Invited")
    status_note: str = ""  # what an automatic rule did ("Deceased", "Email changed; invitation voided")


@dataclass(frozen=True)
class Cursor:
    sort_key: str
    id: int


# A cursor after every row: the page before it is the list's last page (a keyset seek).
END = Cursor("\U0010ffff", 0)


@dataclass(frozen=True)
class Page:
    rows: list[PatientRow]
    first: Cursor | None
    last: Cursor | None
    has_next: bool
    has_prev: bool


# What a list row needs: loading these columns, not whole Patient objects, halves a page's cost.
_ROW_COLUMNS = (Patient.id, Patient.chart_number, Patient.first_name, Patient.last_name, Patient.dob,
                Patient.email, Patient.portal_enabled, Patient.account_state, Patient.sort_key,
                Patient.status_note)


def row_of(patient: Patient) -> PatientRow:
    """The view row of a Patient (or of a result row holding the `_ROW_COLUMNS`)."""
    return PatientRow(
        id=ident(patient), chart_number=patient.chart_number,
        name=f"{patient.last_name}, {patient.first_name}", dob=patient.dob.strftime("%m/%d/%Y"),
        email=patient.email, enabled=patient.portal_enabled,
        account_label=ACCOUNT_STATE_LABELS[patient.account_state],
        status_note=patient.status_note,
    )


def _unindexed(column):
    """`column` in a form no index can serve (SQLite's unary-"+" trick, spelled portably)."""
    return func.coalesce(column, column)


# A search word holding "@", ".", "_", "+" or a digit (and no space or comma) is the start of an
# email address ("anna.adams10"): no name holds those characters.
_EMAIL_START = re.compile(r"[^\s,]*[@._+\d][^\s,]*")
_DOB = re.compile(r"\d{1,2}/\d{1,2}/\d{4}|\d{4}-\d{2}-\d{2}")
_CHART = re.compile(r"[A-Za-z]{0,3}\d[\w-]*")


def _prefix(column, prefix: str):
    """`column` starts with `prefix`, as a range an index on the column serves."""
    return (col(column) >= prefix) & (col(column) < prefix + "\U0010ffff")


def _name_prefix(text: str) -> str:
    """The sort_key prefix of a name search: "Lopez, Ma", "Maria Lopez" or "lop"."""
    if "," in text:
        last, _, first = text.partition(",")
    else:
        parts = text.split(" ")
        last, first = (parts[-1], " ".join(parts[:-1])) if len(parts) > 1 else (text, "")
    prefix = last.strip().lower()
    if first.strip():
        prefix += _SEP + first.strip().lower()
    return prefix


def _search_terms(session: Session, search: str):
    """What a search box text means: (condition, selective), or (None, False) for no search.

    A date is a date of birth, a letters-then-digits word a chart number, a word shaped like
    the start of an email address an email prefix; anything else is a name. A chart-shaped
    word that is nobody's chart number ("jd2020"), or a single plain word that starts nobody's
    last name ("anna"), is taken as the start of an email address.
    Every form is a range or equality on an indexed column.
    """
    text = " ".join((search or "").split())[:100]
    if not text:
        return None, False
    if "\x00" in text:  # no name, email or chart number holds a NUL (PostgreSQL refuses one in a query)
        return Patient.id == -1, True
    if _DOB.fullmatch(text):
        try:
            return Patient.dob == parse_dob(text, today=date.max), True
        except Exception:  # an impossible date matches nobody
            return Patient.id == -1, True
    email = _prefix(Patient.email_lower, text.lower())
    if _CHART.fullmatch(text):
        chart = Patient.chart_number == text.upper()
        return (chart, True) if _any(session, chart) else (email, True)
    if _EMAIL_START.fullmatch(text):
        return email, True
    name = _prefix(Patient.sort_key, _name_prefix(text))
    if " " in text or "," in text or _any(session, name):
        return name, False
    return email, True


def _any(session: Session, condition) -> bool:
    """Whether any chart meets `condition` (one index probe)."""
    return session.exec(select(Patient.id).where(condition).limit(1)).first() is not None


def _conditions(session: Session, search: str, status: StatusFilter) -> list:
    """The WHERE conditions of a search and a status filter over Patient."""
    condition, selective = _search_terms(session, search)
    conditions = [] if condition is None else [condition]
    # A DOB, email or chart search matches a handful of rows through its own index. Left
    # indexable, the status test tempts SQLite into walking the status index (hundreds of
    # thousands of rows) checking each one, taking seconds; so then it only filters.
    enabled = _unindexed(Patient.portal_enabled) if selective else col(Patient.portal_enabled)
    state = _unindexed(Patient.account_state) if selective else col(Patient.account_state)
    if status == StatusFilter.ENABLED:
        conditions.append(enabled.is_(True))
    elif status == StatusFilter.NOT_ENABLED:
        conditions.append(enabled.is_(False))
    elif status != StatusFilter.ALL:
        conditions.append(state == ChartAccountState(status.value))
    return conditions


def _filtered(query, *, session: Session, search: str, status: StatusFilter):
    """Apply a search and a status filter to a select over Patient."""
    return query.where(*_conditions(session, search, status))


def list_page(*, session: Session, search: str = "", status: StatusFilter = StatusFilter.ALL,
              after: Cursor | None = None, before: Cursor | None = None,
              limit: int = PAGE_SIZE) -> Page:
    """One page of patients in name order, after or before a cursor."""
    return _page(session, _conditions(session, search, status), after=after, before=before, limit=limit)


def _page(session: Session, conditions: list, *, after: Cursor | None = None, before: Cursor | None = None,
          limit: int = PAGE_SIZE) -> Page:
    query: Any = select_columns(*_ROW_COLUMNS).where(*conditions)  # rows: untyped tuples
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
                has_next=more if before is None else before != END,
                has_prev=(after is not None) if before is None else more)


def _counted(session: Session, conditions: list, cap: int | None, before: Cursor | None = None) -> int:
    """How many patients meet `conditions` (before `before`, in name order): all of them, or with
    a `cap` at most `cap` + 1, a number above `cap` meaning "more than `cap`" (bounded work)."""
    query = select(Patient.id).where(*conditions)
    if before is not None:
        query = query.where(tuple_(Patient.sort_key, Patient.id) < (before.sort_key, before.id))
    if cap is not None:
        query = query.limit(cap + 1)
    return int(session.exec(select(func.count()).select_from(query.subquery())).one())


def count_matching(*, session: Session, search: str, status: StatusFilter, cap: int | None = None) -> int:
    """How many patients a search and status filter match (the list's own filter): exactly, or
    with a `cap` up to `cap` + 1 ("more than `cap`")."""
    if cap is None:
        query = _filtered(select(func.count()).select_from(Patient), session=session, search=search,
                          status=status)
        return int(session.exec(query).one())
    return _counted(session, _conditions(session, search, status), cap)


def count_before(*, session: Session, search: str, status: StatusFilter, cursor: Cursor,
                 cap: int | None = None) -> int:
    """How many matching patients come before `cursor` in name order: where a jump to a letter
    lands, as a row number. A range count on the index the page itself walks; with a `cap`, up
    to `cap` + 1 ("more than `cap`": the position is not counted)."""
    return _counted(session, _conditions(session, search, status), cap, before=cursor)


@dataclass(frozen=True)
class CountedPage:
    """A page and a count that stops at a cap (a count above the cap means "more than the cap")."""

    page: Page
    count: int


def first_page(*, session: Session, search: str, status: StatusFilter, cap: int) -> CountedPage:
    """A new search or filter: its first page, and how many patients match up to `cap` + 1.

    One call, so the search is read once (its index probes) and both queries share a session.
    """
    conditions = _conditions(session, search, status)
    return CountedPage(page=_page(session, conditions), count=_counted(session, conditions, cap))


def page_from(*, session: Session, search: str, status: StatusFilter, cursor: Cursor, cap: int) -> CountedPage:
    """A jump to a letter: the page after `cursor`, and how many patients come before it up to
    `cap` + 1 (above `cap`, the page's row number is not counted)."""
    conditions = _conditions(session, search, status)
    return CountedPage(page=_page(session, conditions, after=cursor),
                       count=_counted(session, conditions, cap, before=cursor))


def letter_cursor(letter: str) -> Cursor:
    """The cursor just before the first last name starting with `letter` (or after it in
    name order): a page read `after` it starts there. Not a letter: the start of the list."""
    text = (letter or "").strip()[:1].lower()
    return Cursor(text if text.isalpha() else "", 0)


def cursor_before_row(*, session: Session, search: str, status: StatusFilter, row: int) -> Cursor | None:
    """The cursor of the row just before 0-based row `row`, for a jump to a page number.

    This one query skips rows with OFFSET, over the (sort_key, id) key alone (an index-only
    walk, no table reads); the page it opens is then read by keyset like any other. None for
    row 0, or past the end.
    """
    if row <= 0:
        return None
    query = _filtered(select(Patient.sort_key, Patient.id), session=session, search=search, status=status)
    found = session.exec(query.order_by(Patient.sort_key, Patient.id).offset(row - 1).limit(1)).first()
    return Cursor(found[0], found[1]) if found is not None else None


def iter_matching_ids(*, session: Session, search: str, status: StatusFilter,
                      chunk: int = 500) -> Iterator[list[int]]:
    """Every id matching a filter, in chunks, without holding them all."""
    cursor: tuple[str, int] | None = None
    while True:
        query = _filtered(select(Patient.sort_key, Patient.id), session=session, search=search,
                          status=status)
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


# Why staff may not turn a chart's access on, whatever they click: the EHR's own data decides.
DECEASED_STAYS_OFF = "This patient is recorded as deceased; portal access stays off."
MERGED_STAYS_OFF = ("This chart was merged into chart {chart}; portal access stays off. Open chart {chart} "
                    "instead.")
# The note the inactivity rule leaves; turning access back on by hand clears it.
INACTIVE_NOTE_PREFIX = "No visit since "


def access_stays_off(*, session: Session, patient: Patient) -> str:
    """Why this chart's portal access may not be turned on ("" when it may): it is recorded as
    deceased, or it was merged into another chart."""
    if patient.deceased:
        return DECEASED_STAYS_OFF
    if patient.merged_into_id is not None:
        survivor = session.get(Patient, patient.merged_into_id)
        return MERGED_STAYS_OFF.format(chart=survivor.chart_number if survivor else "another chart")
    return ""


def enable_access(*, session: Session, patient_id: int, actor: audit.Actor) -> PatientRow:
    """Turn portal access on. Already on: nothing changes, nothing is logged.

    Raises:
        Forbidden: the chart is recorded as deceased or was merged (the refusal is audited).
    """
    patient = accounts.get_patient(session=session, patient_id=patient_id)
    refusal = access_stays_off(session=session, patient=patient)
    if refusal:
        audit.record(session=session, actor=actor, action="portal.enable.refused", patient_id=patient.id,
                     detail="rule=" + ("deceased" if patient.deceased else "merged"))
        session.commit()
        error = Forbidden(refusal)
        error.audited = True  # (as "portal.enable.refused": the handler's guard adds no second row)
        raise error
    if not patient.portal_enabled:
        patient.portal_enabled = True
        if patient.status_note.startswith(INACTIVE_NOTE_PREFIX):
            patient.status_note = ""  # staff decided: the inactivity note no longer describes the chart
        patient.updated_at = clock.now()
        session.add(patient)
        audit.record(session=session, actor=actor, action="portal.enable", patient_id=patient.id)
        row = row_of(patient)  # (as committed: read before the commit expires the loaded chart)
        session.commit()
        return row
    return row_of(patient)


@dataclass(frozen=True)
class Ended:
    """What turning a chart's access off ended."""

    sessions: int
    links: int


def end_access(*, session: Session, patient: Patient) -> Ended:
    """Turn the chart's portal access off now: end the sessions of every connected account and
    void the chart's open links. The caller audits (with its own reason) and commits."""
    patient.portal_enabled = False
    patient.updated_at = clock.now()
    session.add(patient)
    ended = sum(sessions.end_all(session=session, portal_account_id=account_id)
                for account_id in accounts.connected_account_ids(session=session, patient_id=ident(patient)))
    voided = tokens.revoke_live(session=session, patient_id=patient.id)
    return Ended(sessions=ended, links=voided)


def disable_access(*, session: Session, patient_id: int, actor: audit.Actor) -> PatientRow:
    """Turn portal access off: end the sessions of connected accounts, void open links."""
    patient = accounts.get_patient(session=session, patient_id=patient_id)
    if patient.portal_enabled:
        ended = end_access(session=session, patient=patient)
        audit.record(session=session, actor=actor, action="portal.disable", patient_id=patient.id,
                     detail=f"sessions ended={ended.sessions}; links voided={ended.links}")
        row = row_of(patient)  # (as committed: read before the commit expires the loaded chart)
        session.commit()
        return row
    return row_of(patient)
