"""The adoption board's numbers: the funnel, weekly trends, the "why stuck" list, and exports.

Everything reads `ChartAdoption` (one row per chart, kept exact by `facts`), never the
history tables, so the first view stays fast at 500,000 charts.

INTERFACE (agreed before the work was split; the bodies are being written).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from portal_app.services import audit
from portal_app.services.choices import Choice

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


def funnel(*, session: Session, period: str) -> Funnel:
    raise NotImplementedError


def trends(*, session: Session, breakdown: str) -> Trends:
    raise NotImplementedError


def reason_counts(*, session: Session) -> dict[str, int]:
    """How many charts are stuck for each reason now (for the filter's labels)."""
    raise NotImplementedError


def stuck_page(*, session: Session, filters: StuckFilter, direction: str = "after",
               cursor: StuckCursor | None = None, page_size: int = STUCK_PAGE_SIZE) -> StuckPage:
    """One page of stuck charts, longest-stuck... newest step first, keyset on (since_at, id)."""
    raise NotImplementedError


def audit_view(*, session: Session, actor: audit.Actor, detail: str) -> None:
    raise NotImplementedError


def funnel_csv(*, session: Session, period: str, actor: audit.Actor) -> tuple[str, bytes]:
    raise NotImplementedError


def stuck_csv(*, session: Session, filters: StuckFilter, actor: audit.Actor) -> tuple[str, bytes]:
    raise NotImplementedError


def funnel_pdf(*, session: Session, period: str, actor: audit.Actor) -> tuple[str, bytes]:
    raise NotImplementedError
