"""The adoption board's numbers: the funnel, weekly trends, the "why stuck" list, and exports.

Everything reads `ChartAdoption` (one row per chart, kept exact by `facts`), never the
history tables, so the first view stays fast at 500,000 charts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone, tzinfo
from typing import Any

from sqlalchemy import String, case, cast, func, literal, or_, tuple_
from sqlalchemy.orm import load_only
from sqlmodel import Session, col, select

from portal_app.db import dialect, select_columns
from portal_app.models import ChartAdoption, Patient, StaffUser, ident
from portal_app.notify import letters
from portal_app.services import audit, clock, settings
from portal_app.services.adoption import next_steps, reasons
from portal_app.services.adoption.labels import ACTIVE_DAYS, REASON_EXPLANATIONS, STAGE_LABELS, Channel, Reason, Stage
from portal_app.services.choices import Choice
from portal_app.services.csv_export import csv_bytes
from portal_app.services.errors import InvalidInput

STUCK_PAGE_SIZE = 25
TREND_WEEKS = 26


class Period(Choice):
    """Which charts the funnel follows: those added to the practice in the period."""

    ALL = "all", "All time"
    DAYS_7 = "7", "Added in the last 7 days"
    DAYS_30 = "30", "Added in the last 30 days"
    DAYS_90 = "90", "Added in the last 90 days"
    DAYS_365 = "365", "Added in the last 12 months"


class Breakdown(Choice):
    TOTAL = "total", "All patients"
    CHANNEL = "channel", "By channel"
    STAFF = "staff", "By staff member who started it"


class StuckFor(Choice):
    ANY = "0", "Any time"
    DAYS_7 = "7", "More than 7 days"
    DAYS_30 = "30", "More than 30 days"
    DAYS_90 = "90", "More than 90 days"


@dataclass(frozen=True)
class FunnelStep:
    stage: int
    label: str
    count: int
    percent_of_charts: str  # "42.5%"
    percent_of_previous: str  # "" for the first step


@dataclass(frozen=True)
class Funnel:
    period: str  # a Period value
    period_label: str
    as_of: str  # when the numbers were read, in the practice's time zone
    steps: list[FunnelStep]


@dataclass(frozen=True)
class TrendSeries:
    key: str  # the data key of the line in each week's dict
    label: str


@dataclass(frozen=True)
class Trends:
    """Weekly counts, oldest week first; each week is a dict {"week": "Nov 30", key: count...}
    (the shape a recharts line chart reads), one key per series."""

    breakdown: str
    series: list[TrendSeries]
    new_accounts: list[dict[str, int | str]]
    first_sign_ins: list[dict[str, int | str]]


@dataclass(frozen=True)
class StuckFilter:
    reason: str = ""  # a Reason value; "" = every reason
    stuck_for: str = StuckFor.ANY.value
    channel: str = ""  # a Channel value of the newest attempt; "" = every channel


@dataclass(frozen=True)
class StuckRow:
    id: int  # the patient's id
    chart_number: str
    name: str  # "Last, First"
    dob: str
    reason: str
    reason_label: str
    explanation: str
    channel_label: str
    since: str  # when the current step began, practice time zone
    days: int  # stuck for this many whole days
    steps: list[str] = field(default_factory=list)  # next_steps.Step values; the first is the one-click step
    step_labels: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StuckCursor:
    since_at: datetime | None
    patient_id: int


@dataclass(frozen=True)
class StuckPage:
    rows: list[StuckRow]
    first: StuckCursor | None
    last: StuckCursor | None
    has_next: bool
    has_prev: bool


# ---- shared ------------------------------------------------------------------------------------

def _percent(part: int, base: int) -> str:
    return f"{100 * part / base:.1f}%" if base else "0.0%"


def _choice(kind: type[Choice], value: str, *, field_name: str, blank: bool = False) -> str:
    """A filter value checked against its Choice ("" allowed when `blank`)."""
    if blank and value == "":
        return value
    try:
        return kind(value).value
    except ValueError:
        raise InvalidInput("Choose one of the listed options.", field=field_name) from None


def _today_stamp(zone: tzinfo) -> str:
    return f"{clock.now().astimezone(zone):%Y-%m-%d}"


# ---- the funnel --------------------------------------------------------------------------------

def funnel(*, session: Session, period: str) -> Funnel:
    """The charts added in `period` (a Period value; "all": every chart) and how far each has
    come by now, one step per stage, then those active in the last ACTIVE_DAYS days.

    One grouped query over a covering index, never the table: ix_adoption_stage_seen (stage,
    last_sign_in_at, added_at) gives the stages in order, so the count needs no sort (SQLite
    takes it for a period too; bench/adoption.py measures both)."""
    chosen = Period(_choice(Period, period, field_name="period"))
    now = clock.now()
    a = ChartAdoption
    active_since = now - timedelta(days=ACTIVE_DAYS)
    active = func.sum(case((col(a.last_sign_in_at) >= active_since, 1), else_=0))
    query = select(col(a.stage), func.count(), active).group_by(col(a.stage))
    if chosen != Period.ALL:
        query = query.where(col(a.added_at) >= now - timedelta(days=int(chosen.value)))
    by_stage = {stage: (int(count), int(active_count or 0)) for stage, count, active_count in session.exec(query)}
    counts = [sum(n for stage, (n, _a) in by_stage.items() if stage >= step) for step in range(1, 7)]
    counts.append(sum(active_count for _n, active_count in by_stage.values()))
    steps = []
    for index, count in enumerate(counts):
        steps.append(FunnelStep(stage=index + 1, label=STAGE_LABELS[Stage(index + 1)], count=count,
                                percent_of_charts=_percent(count, counts[0]),
                                percent_of_previous=_percent(count, counts[index - 1]) if index else ""))
    return Funnel(period=chosen.value, period_label=chosen.label,
                  as_of=clock.display(now, settings.zone(session=session)), steps=steps)


# ---- trends ------------------------------------------------------------------------------------

def week_starts(now: datetime, zone: tzinfo) -> list[datetime]:
    """TREND_WEEKS + 1 boundaries (UTC): the Monday midnights, in the practice's zone, that begin
    each of the last TREND_WEEKS weeks (the current one last), then the next Monday."""
    today = now.astimezone(zone).date()
    first = today - timedelta(days=today.weekday(), weeks=TREND_WEEKS - 1)
    return [datetime.combine(first + timedelta(weeks=i), time(), tzinfo=zone).astimezone(timezone.utc)
            for i in range(TREND_WEEKS + 1)]


_SELF_SETUP = "self"
_NOT_RECORDED = "none"


def _group_column(breakdown: Breakdown) -> list[Any]:
    a = ChartAdoption
    if breakdown == Breakdown.CHANNEL:
        return [a.channel]
    if breakdown == Breakdown.STAFF:
        # No staff member: the patient set it up, or nobody recorded who started it.
        return [case((col(a.started_by_staff_id).is_not(None), cast(a.started_by_staff_id, String)),
                     (a.channel == Channel.SELF_SETUP.value, _SELF_SETUP), else_=_NOT_RECORDED)]
    return []


def _week_of(column: Any, bounds: list[datetime], low: int, high: int) -> Any:
    """The index of the week (low <= index < high) holding `column`, for a value already within
    bounds[low]..bounds[high]: a binary search in SQL, five comparisons a row instead of 25."""
    if high - low == 1:
        return literal(low)
    middle = (low + high) // 2
    return case((column < bounds[middle], _week_of(column, bounds, low, middle)),
                else_=_week_of(column, bounds, middle, high))


def _weekly(session: Session, column: Any, bounds: list[datetime], breakdown: Breakdown) -> dict[tuple[int, str], int]:
    """{(week index, group): count} of rows whose `column` falls in the weeks; the index on
    `column` bounds the read to those weeks."""
    week = _week_of(column, bounds, 0, len(bounds) - 1)
    group = _group_column(breakdown)
    query = select_columns(week, *group, func.count())
    query = query.where(column >= bounds[0], column < bounds[-1]).group_by(week, *group)
    found: dict[tuple[int, str], int] = {}
    for row in session.exec(query):
        key = str(row[1]) if group else ""
        found[(int(row[0]), key)] = int(row[-1])
    return found


def _series(session: Session, breakdown: Breakdown, groups: set[str]) -> list[tuple[str, str]]:
    """(group, label) of each line, in the order the legend shows them."""
    if breakdown == Breakdown.TOTAL:
        return [("", Breakdown.TOTAL.label)]
    if breakdown == Breakdown.CHANNEL:
        known = [(c.value, c.label) for c in Channel if c.value in groups]
        return known + ([("", "Not recorded")] if "" in groups else [])
    staff_ids = [int(g) for g in groups if g.isdigit()]
    names = dict(session.exec(select(StaffUser.id, StaffUser.full_name)
                              .where(col(StaffUser.id).in_(staff_ids))).all()) if staff_ids else {}
    people = sorted(((str(i), names.get(i, f"Staff #{i}")) for i in staff_ids), key=lambda item: item[1].lower())
    extra = [(_SELF_SETUP, "Patient (self set-up)"), (_NOT_RECORDED, "Not recorded")]
    return people + [item for item in extra if item[0] in groups]


def trends(*, session: Session, breakdown: str) -> Trends:
    """New accounts and first sign-ins per week for the last TREND_WEEKS weeks (weeks begin on
    Monday in the practice's time zone; weeks with nothing in them count 0), as one series or
    one per channel or per staff member who started it. Series keys are "s0", "s1"..."""
    chosen = Breakdown(_choice(Breakdown, breakdown, field_name="breakdown"))
    zone = settings.zone(session=session)
    bounds = week_starts(clock.now(), zone)
    accounts = _weekly(session, col(ChartAdoption.account_at), bounds, chosen)
    sign_ins = _weekly(session, col(ChartAdoption.first_sign_in_at), bounds, chosen)
    groups = {group for _week, group in (*accounts, *sign_ins)}
    series = _series(session, chosen, groups)
    keys_of = {group: f"s{i}" for i, (group, _label) in enumerate(series)}

    def weeks(found: dict[tuple[int, str], int]) -> list[dict[str, int | str]]:
        out: list[dict[str, int | str]] = []
        for i, start in enumerate(bounds[:-1]):
            local = start.astimezone(zone)
            week: dict[str, int | str] = {"week": f"{local:%b} {local.day}"}
            week.update({keys_of[group]: found.get((i, group), 0) for group, _label in series})
            out.append(week)
        return out

    return Trends(breakdown=chosen.value, series=[TrendSeries(key=keys_of[g], label=label) for g, label in series],
                  new_accounts=weeks(accounts), first_sign_ins=weeks(sign_ins))


# ---- why stuck ---------------------------------------------------------------------------------

def reason_counts(*, session: Session) -> dict[str, int]:
    """How many charts are stuck for each reason now (for the filter's labels): every Reason
    value, in declaration order, 0 when none."""
    now = clock.now()
    # Each candidate's reason once, in a subquery its LIMIT keeps SQLite from merging into the
    # counts (merged, the rule would run once per count); one filtered count per reason then
    # needs no GROUP BY sort. Both read ix_adoption_stuck_since only. (PostgreSQL refuses a
    # negative LIMIT; OFFSET 0 is its way of keeping a subquery apart.)
    candidates = select(reasons.reason_case(now).label("reason")).where(reasons.candidates(now))
    fenced = candidates.limit(-1) if dialect(session) == "sqlite" else candidates.offset(0)
    stuck = fenced.subquery()
    counts = session.exec(select_columns(*[func.count().filter(stuck.c.reason == r.value) for r in Reason])).one()
    return {r.value: int(count) for r, count in zip(Reason, counts, strict=True)}


def _filtered(query: Any, filters: StuckFilter, now: datetime) -> Any:
    """Restrict a select over ChartAdoption to the stuck charts the filters ask for."""
    reason_value = _choice(Reason, filters.reason, field_name="reason", blank=True)
    days = int(_choice(StuckFor, filters.stuck_for, field_name="stuck_for"))
    channel = _choice(Channel, filters.channel, field_name="channel", blank=True)
    a = ChartAdoption
    reason = reasons.reason_case(now)
    query = query.where(reasons.candidates(now))
    query = query.where(reason == reason_value) if reason_value else query.where(reason.is_not(None))
    if days:
        query = query.where(col(a.since_at) <= now - timedelta(days=days))
    if channel:
        query = query.where(a.attempt_channel == channel)
    return query


def _keyset(query: Any, direction: str, cursor: StuckCursor | None, *, nulls_low: bool) -> Any:
    """Order newest step first (since_at DESC, patient_id DESC; a chart with no since_at last)
    and start after, or end before, the cursor. `nulls_low`: the database sorts NULL below every
    time by itself (SQLite); otherwise (PostgreSQL sorts it above) the order says so."""
    a = ChartAdoption
    since, pid = col(a.since_at), col(a.patient_id)
    backwards = direction == "before" and cursor is not None
    if cursor is not None:
        at = cursor.since_at
        if at is None:
            query = query.where(or_(since.is_not(None), pid > cursor.patient_id) if backwards
                                else (since.is_(None) & (pid < cursor.patient_id)))
        elif backwards:
            query = query.where(tuple_(since, pid) > (at, cursor.patient_id))
        else:
            query = query.where(or_(tuple_(since, pid) < (at, cursor.patient_id), since.is_(None)))
    if backwards:
        return query.order_by(since.asc() if nulls_low else since.asc().nulls_first(), pid.asc())
    return query.order_by(since.desc() if nulls_low else since.desc().nulls_last(), pid.desc())


def _contacts(session: Session, ids: list[int]) -> dict[int, next_steps.Contact]:
    """What the next steps need to know of each chart on the page (one query)."""
    fields: list[Any] = [col(f) for f in (Patient.email, Patient.allow_email, Patient.mobile_phone, Patient.allow_sms,
                               Patient.address_line1, Patient.city, Patient.region, Patient.postal_code)]
    found = session.exec(select(Patient).where(col(Patient.id).in_(ids)).options(load_only(*fields)))
    return {ident(p): next_steps.contact_of(p) for p in found}


def stuck_page(*, session: Session, filters: StuckFilter, direction: str = "after",
               cursor: StuckCursor | None = None, page_size: int = STUCK_PAGE_SIZE) -> StuckPage:
    """One page of stuck charts, newest step first, keyset on (since_at, id): "after" the
    cursor (the next page; no cursor: the first) or "before" it (the previous page)."""
    if direction not in ("after", "before"):
        raise InvalidInput("Choose the next or the previous page.", field="direction")
    now = clock.now()
    a = ChartAdoption
    columns = (a.patient_id, a.since_at, reasons.reason_case(now), a.attempt_channel, a.account_at,
               Patient.chart_number, Patient.last_name, Patient.first_name, Patient.dob)
    query = _filtered(select_columns(*columns).join(Patient, col(Patient.id) == a.patient_id), filters, now)
    nulls_low = dialect(session) == "sqlite"
    found = list(session.exec(_keyset(query, direction, cursor, nulls_low=nulls_low).limit(page_size + 1)))
    more = len(found) > page_size
    found = found[:page_size]
    backwards = direction == "before" and cursor is not None
    if backwards:
        found.reverse()
    zone = settings.zone(session=session)
    contacts = _contacts(session, [row[0] for row in found]) if found else {}
    rows = [_row(row, contacts[row[0]], now, zone) for row in found]
    first = StuckCursor(clock.aware(found[0][1]), found[0][0]) if found else None
    last = StuckCursor(clock.aware(found[-1][1]), found[-1][0]) if found else None
    return StuckPage(rows=rows, first=first, last=last,
                     has_next=True if backwards else more,
                     has_prev=more if backwards else cursor is not None)


def _row(found: Any, contact: next_steps.Contact, now: datetime, zone: tzinfo) -> StuckRow:
    patient_id, since_at, reason_value, attempt_channel, account_at, chart, last, first, dob = found
    reason = Reason(reason_value)
    since = clock.aware(since_at)
    steps = next_steps.available(reason=reason.value, attempt_channel=attempt_channel,
                                 has_account=account_at is not None, contact=contact)
    channel_label = Channel(attempt_channel).label if attempt_channel in Channel.labels() else ""
    return StuckRow(id=patient_id, chart_number=chart, name=f"{last}, {first}", dob=dob.strftime("%m/%d/%Y"),
                    reason=reason.value, reason_label=reason.label, explanation=REASON_EXPLANATIONS[reason],
                    channel_label=channel_label, since=clock.display(since, zone),
                    days=max((now - since).days, 0) if since is not None else 0,
                    steps=[step.value for step in steps], step_labels=[step.label for step in steps])


# ---- audit and exports -------------------------------------------------------------------------

def audit_view(*, session: Session, actor: audit.Actor, detail: str) -> None:
    """Record that staff looked at the board (it shows patients' names: PHI)."""
    audit.record(session=session, actor=actor, action="adoption.view", detail=detail)
    session.commit()


def _funnel_rows(result: Funnel) -> list[tuple[str, int, str, str]]:
    return [(step.label, step.count, step.percent_of_charts, step.percent_of_previous) for step in result.steps]


def funnel_csv(*, session: Session, period: str, actor: audit.Actor) -> tuple[str, bytes]:
    """The funnel as a CSV file: (filename, bytes). Audited as adoption.export."""
    result = funnel(session=session, period=period)
    header = ("Step", "Charts", "Percent of charts", "Percent of previous step")
    data, _count = csv_bytes(header, [*_funnel_rows(result), ("Period", result.period_label, "As of", result.as_of)])
    audit.record(session=session, actor=actor, action="adoption.export",
                 detail=f"funnel csv; period={result.period}")
    session.commit()
    return f"portal-adoption-funnel-{_today_stamp(settings.zone(session=session))}.csv", data


STUCK_CSV_BATCH = 500


def _stuck_rows(session: Session, filters: StuckFilter) -> Iterator[tuple[object, ...]]:
    """Every stuck row matching the filters, read a keyset page at a time."""
    cursor: StuckCursor | None = None
    while True:
        page = stuck_page(session=session, filters=filters, cursor=cursor, page_size=STUCK_CSV_BATCH)
        for row in page.rows:
            yield (row.name, row.chart_number, row.dob, row.reason_label, row.explanation, row.channel_label,
                   row.since, row.days, "; ".join(row.step_labels))
        if not page.has_next:
            return
        cursor = page.last


def stuck_csv(*, session: Session, filters: StuckFilter, actor: audit.Actor) -> tuple[str, bytes]:
    """Every stuck chart matching the filters as a CSV file: (filename, bytes). Audited as
    adoption.export with the row count."""
    header = ("Patient", "Chart number", "Date of birth", "Reason", "Explanation", "Channel",
              "Since", "Days stuck", "Next steps")
    data, count = csv_bytes(header, _stuck_rows(session, filters))
    audit.record(session=session, actor=actor, action="adoption.export",
                 detail=f"stuck csv; rows={count}; reason={filters.reason or 'any'}; "
                        f"stuck_for={filters.stuck_for}; channel={filters.channel or 'any'}")
    session.commit()
    return f"portal-adoption-stuck-{_today_stamp(settings.zone(session=session))}.csv", data


def funnel_pdf(*, session: Session, period: str, actor: audit.Actor) -> tuple[str, bytes]:
    """The funnel on one printable page (bars and a table): (filename, bytes). Audited as
    adoption.export."""
    result = funnel(session=session, period=period)
    practice = settings.get(session=session)
    pdf = letters.funnel_sheet(practice=practice.practice_name, phone=practice.practice_phone,
                               period=result.period_label, as_of=result.as_of, steps=_funnel_rows(result))
    audit.record(session=session, actor=actor, action="adoption.export",
                 detail=f"funnel pdf; period={result.period}")
    session.commit()
    return f"portal-adoption-funnel-{_today_stamp(settings.zone(session=session))}.pdf", pdf
