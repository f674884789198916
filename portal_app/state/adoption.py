"""/staff/adoption: the funnel, weekly trends, the "why stuck" list and its next steps.

Only what the page shows lives in state: the funnel's steps, the weekly counts, and one page of
stuck charts (small view rows); the keyset cursors stay on the server (`_first`, `_last`).
Reading, filtering and exporting need Patient Portal Administration at Read; running a next step
needs Update. Every handler checks both itself (`staff_action`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial

import reflex as rx

from portal_app import routes
from portal_app.services.adoption import board, next_steps
from portal_app.services.adoption.board import Breakdown, Period, StuckFilter, StuckFor, StuckRow
from portal_app.services.adoption.labels import Channel, Reason
from portal_app.services.adoption.next_steps import Step
from portal_app.services.errors import DomainError
from portal_app.services.permissions import Level, Permission
from portal_app.state.actions import Staff, staff_action, staff_page_load
from portal_app.state.base import StaffSessionState, call
from portal_app.state.paging import KeysetPaging

NO_VIEW = "You do not have permission to see portal adoption. Sign in again or ask an administrator."
NO_STEPS = "Running a next step needs Update access to Patient Portal Administration."
NOT_ON_PAGE = "That patient is not on this page any more. Refresh the list."
NOT_A_STEP = "That next step is not available for this patient."
NONE_SELECTED = "Select at least one patient first."
CSV, PDF = "text/csv", "application/pdf"

PERIOD_OPTIONS: list[tuple[str, str]] = [(p.value, p.label) for p in Period]
BREAKDOWN_OPTIONS: list[tuple[str, str]] = [(b.value, b.label) for b in Breakdown]
STUCK_FOR_OPTIONS: list[tuple[str, str]] = [(s.value, s.label) for s in StuckFor]
CHANNEL_OPTIONS: list[tuple[str, str]] = [("", "Every channel"), *((c.value, c.label) for c in Channel)]
STEP_OPTIONS: list[tuple[str, str]] = [(s.value, s.label) for s in Step]

# Line colours of the trend charts, each at least 4.5:1 on white (lines are told apart by the
# legend and the data tables too, never by colour alone).
SERIES_COLOURS = ("#0b4f94", "#b3261e", "#1a7f37", "#8a4b00", "#6f42c1", "#00707a", "#444444", "#a4136b")


def _choice(value: str, choice: type, default: str) -> str:
    """Never trust a filter value from the browser: an unknown value means the default."""
    return value if value in {member.value for member in choice} else default


@dataclass(frozen=True)
class SeriesView:
    """One line of a trend chart: its data key, its name, its colour."""

    key: str
    label: str
    colour: str


@dataclass(frozen=True)
class StuckLine(StuckRow):
    """A stuck chart as the page shows it, with what its last next step did."""

    message: str = ""
    ok: bool = True


async def _download(export: partial[tuple[str, bytes]], mime_type: str):
    """Run an export service (it audits the export) and hand its file to the browser."""
    filename, data = await call(export)
    return rx.download(data=data, filename=filename, mime_type=mime_type)


def _line(row: StuckRow) -> StuckLine:
    return StuckLine(**{f.name: getattr(row, f.name) for f in dataclasses.fields(StuckRow)})


class AdoptionState(KeysetPaging, StaffSessionState):
    """State of /staff/adoption."""

    allowed: bool = False
    error: str = ""
    notice: str = ""

    # The funnel.
    period: str = Period.ALL.value
    funnel_steps: list[board.FunnelStep] = []
    funnel_label: str = ""
    funnel_as_of: str = ""

    # The trends.
    breakdown: str = Breakdown.TOTAL.value
    series: list[SeriesView] = []
    new_accounts: list[dict[str, int | str]] = []
    first_sign_ins: list[dict[str, int | str]] = []

    # The stuck list: filters, one page of rows, the ticked rows of that page.
    reason: str = ""
    stuck_for: str = StuckFor.ANY.value
    channel: str = ""
    reason_options: list[tuple[str, str]] = []
    rows: list[StuckLine] = []
    selected_ids: list[int] = []
    selection_epoch: int = 0
    bulk_step: str = Step.KEY_TEXT.value
    bulk_running: bool = False
    bulk_message: str = ""

    @rx.var
    def can_run_steps(self) -> bool:
        return self.staff_levels.get(Permission.PORTAL_ADMIN.value, 0) >= Level.UPDATE

    @rx.var
    def selected_count(self) -> int:
        return len(self.selected_ids)

    @rx.var
    def page_all_selected(self) -> bool:
        return bool(self.rows) and all(row.id in self.selected_ids for row in self.rows)

    # ---- reading ----------------------------------------------------------------

    def _filters(self) -> StuckFilter:
        return StuckFilter(reason=self.reason, stuck_for=self.stuck_for, channel=self.channel)

    async def _fetch(self, direction: str = "after", cursor: board.StuckCursor | None = None) -> None:
        page = await call(partial(board.stuck_page, filters=self._filters(), direction=direction, cursor=cursor))
        self._show(dataclasses.replace(page, rows=[_line(row) for row in page.rows]), (direction, cursor))
        self._set_selection([])

    async def _read_funnel(self) -> None:
        funnel = await call(partial(board.funnel, period=self.period))
        self.funnel_steps, self.funnel_label, self.funnel_as_of = funnel.steps, funnel.period_label, funnel.as_of

    async def _read_trends(self) -> None:
        trends = await call(partial(board.trends, breakdown=self.breakdown))
        self.series = [SeriesView(s.key, s.label, SERIES_COLOURS[i % len(SERIES_COLOURS)])
                       for i, s in enumerate(trends.series)]
        self.new_accounts, self.first_sign_ins = trends.new_accounts, trends.first_sign_ins

    async def _read_reasons(self) -> None:
        counts = await call(partial(board.reason_counts))
        total = sum(counts.values())
        self.reason_options = [("", f"Every reason ({total})"),
                               *((r.value, f"{r.label} ({counts.get(r.value, 0)})") for r in Reason)]

    def _clear(self) -> None:
        self.rows, self.funnel_steps, self.series = [], [], []
        self.new_accounts, self.first_sign_ins, self.reason_options = [], [], []
        self.funnel_label = self.funnel_as_of = ""
        self.has_next = self.has_prev = False
        self._first = self._last = None
        self._set_selection([])
        self.bulk_message = ""

    # ---- refusals and failures (state/actions.py calls these) -------------------

    def _forget(self) -> None:
        self._clear()
        self.allowed = False

    def _refusal_message(self, level: Level = Level.READ) -> str:
        return NO_VIEW if level <= Level.READ else NO_STEPS

    def _refused(self, message: str, *, signed_in: bool, level: Level = Level.READ):
        """Signed out goes to sign-in; a refused step keeps the board a reader may see."""
        self.notice = ""
        self.bulk_running = False
        if not signed_in:
            return rx.redirect(routes.STAFF_LOGIN)
        if level > Level.READ and self.staff_levels.get(Permission.PORTAL_ADMIN.value, 0) >= Level.READ:
            self.error = message
            return rx.toast.error(message)
        self._forget()
        self.error = NO_VIEW
        return rx.toast.error(message)

    def _failed(self, error: DomainError):
        self.bulk_running = False
        self.error = error.message
        return rx.toast.error(error.message)

    def _load_refused(self, *, signed_in: bool) -> None:
        self._forget()
        self.loaded = True
        self.notice = ""
        self.error = NO_VIEW if signed_in else ""

    # ---- the page -------------------------------------------------------------

    @staff_page_load(Permission.PORTAL_ADMIN, Level.READ)
    async def load_page(self, staff: Staff):
        """on_load: the funnel, the trends and the first page of stuck charts; the view is audited."""
        self.error = self.notice = ""
        self._clear()
        await self._read_funnel()
        await self._read_trends()
        await self._read_reasons()
        await self._fetch_first()
        await call(partial(board.audit_view, actor=staff.actor,
                           detail=f"period={self.period}; reason={self.reason or 'any'}"))
        self.allowed = True

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def set_period(self, staff: Staff, value: str):
        self.period = _choice(value, Period, Period.ALL.value)
        await self._read_funnel()

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def set_breakdown(self, staff: Staff, value: str):
        self.breakdown = _choice(value, Breakdown, Breakdown.TOTAL.value)
        await self._read_trends()

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def set_reason(self, staff: Staff, value: str):
        self.reason = _choice(value, Reason, "")
        await self._fetch_first()

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def set_stuck_for(self, staff: Staff, value: str):
        self.stuck_for = _choice(value, StuckFor, StuckFor.ANY.value)
        await self._fetch_first()

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def set_channel(self, staff: Staff, value: str):
        self.channel = _choice(value, Channel, "")
        await self._fetch_first()

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def next_page(self, staff: Staff):
        await self._next_page()

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def prev_page(self, staff: Staff):
        await self._prev_page()

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def refresh(self, staff: Staff):
        """Read everything again (after next steps have moved patients on)."""
        self.error = self.notice = self.bulk_message = ""
        await self._read_funnel()
        await self._read_reasons()
        await self._fetch_first()

    # ---- exports (the service audits each) -------------------------------------

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def download_funnel_csv(self, staff: Staff):
        return await _download(partial(board.funnel_csv, period=self.period, actor=staff.actor), CSV)

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def download_funnel_pdf(self, staff: Staff):
        return await _download(partial(board.funnel_pdf, period=self.period, actor=staff.actor), PDF)

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def download_stuck_csv(self, staff: Staff):
        return await _download(partial(board.stuck_csv, filters=self._filters(), actor=staff.actor), CSV)

    # ---- the selection (ids of the visible page only) ---------------------------

    def _set_selection(self, ids: list[int]) -> None:
        """Change the selection from the server: the (uncontrolled) checkboxes are drawn afresh."""
        self.selected_ids = ids
        self.selection_epoch += 1

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def toggle_selected(self, staff: Staff, patient_id: int, checked: bool):
        """One row's checkbox (it has already changed in the browser)."""
        others = [i for i in self.selected_ids if i != patient_id]
        self.selected_ids = [*others, patient_id] if checked and self._row(patient_id) else others

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def toggle_page(self, staff: Staff, checked: bool):
        """"Select all on this page"."""
        self._set_selection([row.id for row in self.rows] if checked else [])

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def set_bulk_step(self, staff: Staff, value: str):
        self.bulk_step = _choice(value, Step, Step.KEY_TEXT.value)

    # ---- next steps ----------------------------------------------------------

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE)
    async def run_step(self, staff: Staff, patient_id: int, step: str):
        """A row's next step (the one-click button or another from its menu). Only a step the
        server's copy of the row offers is run; the result is shown beside the row."""
        self.error = self.notice = ""
        row = self._row(patient_id)
        if row is None:
            return rx.toast.error(NOT_ON_PAGE)
        if step not in row.steps:
            return rx.toast.error(NOT_A_STEP)
        result = await call(partial(next_steps.run, patient_id=row.id, step=step, actor=staff.actor))
        self._replace_row(dataclasses.replace(row, message=result.message, ok=result.ok))
        await self._read_reasons()
        if result.letter is not None:
            filename, data = result.letter
            return rx.download(data=data, filename=filename, mime_type=PDF)
        return None

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE)
    async def run_selected(self, staff: Staff):
        """"Run for selected": the chosen step for every ticked row of this page.

        A generator: the button shows a spinner while the sends run (a few seconds for a page).
        """
        self.error = self.notice = self.bulk_message = ""
        ids = [row.id for row in self.rows if row.id in self.selected_ids]
        if not ids:
            self.bulk_message = NONE_SELECTED
            return
        self.bulk_running = True
        yield
        result = await call(partial(next_steps.run_many, patient_ids=ids, step=self.bulk_step, actor=staff.actor))
        self.bulk_running = False
        self.bulk_message = result.message
        self._set_selection([])
        await self._read_reasons()
