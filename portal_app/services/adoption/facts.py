"""Keeps `ChartAdoption` exact: one row per chart, rebuilt from the source tables at every commit.

Nothing calls this per service. `install()` (done once by `db.engine()`, so in the app, the
CLI and the tests alike) puts two listeners on every session:

- after each flush, the charts touched by changed patients, secrets, outbox messages and
  connections are noted, and the accounts touched by account changes and new portal sessions
  (their charts are looked up at commit);
- before each commit (the outermost one, not a savepoint), the session is flushed and those
  charts' rows are rebuilt with `refresh`, in the same transaction as the change. A chart
  whose patient row alone changed (access turned on, a name edited) keeps the rest of its
  stored row: only its own columns and the stage are recomputed. A patient change that leaves
  `created_at` and `portal_enabled` as they were (a name, an address: the usual ADT A08) cannot
  change its row and is not noted at all; a chart inserted in this transaction with nothing
  else of its own written is built without reading its (empty) history (the ADT A04 path).

A bulk INSERT of patients (the demo's `session.execute(insert(Patient), rows)` bypasses the
flush) makes the commit run `backfill` instead, which builds rows for charts that have none.

`refresh` works on batches of ids with a handful of IN queries per batch (never per chart) and
writes only the rows whose values changed. The column rules are in `_Chart.values`.

Not seen: a bulk UPDATE or DELETE statement on the watched tables (`session.execute(update(...))`)
bypasses the flush too. The one in the product (connect.py spends a token) runs in the same
commit as the chart's new connection, which refreshes the chart; anything else that writes
that way must call `refresh` itself. `python -m portal_app adoption-rebuild` repairs all rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, event, exists, func, insert, inspect, select, update
from sqlalchemy.engine import Row
from sqlalchemy.sql.elements import BindParameter
from sqlmodel import Session, col

from portal_app.models import (
    AccessType,
    AuditEvent,
    AuthSession,
    ChartAdoption,
    MessageStatus,
    OneTimeSecret,
    OutboxMessage,
    Patient,
    PortalAccount,
    PortalConnection,
    SecretPurpose,
    SessionKind,
)
from portal_app.services import sessions
from portal_app.services.adoption.labels import Channel, Stage

BATCH = 500
# The secrets that bring a patient in (a password reset is for an account that exists: it is
# not an onboarding attempt, so it never moves the attempt columns or "stuck since").
ATTEMPT_PURPOSES = (SecretPurpose.INVITATION, SecretPurpose.CONNECT_TOKEN, SecretPurpose.CONNECTION_KEY)
# Outbox kinds that carry an invitation, a key, a token or a link to choose a password.
ONBOARDING_KINDS = ("invitation", "connection_key", "connect_token", "representative_setup", "reset")
ENABLE_ACTIONS = ("portal.enable",)
KEY_CHANNELS = {"email": Channel.KEY_EMAIL, "sms": Channel.KEY_TEXT, "letter": Channel.KEY_LETTER}
FAILED_CHANNELS = {"email": "email", "sms": "sms"}

_CHARTS = "adoption.charts"
_PATIENTS = "adoption.patients"
_ACCOUNTS = "adoption.accounts"
_NEW_PATIENTS = "adoption.new_patients"
_CREATED = "adoption.created"  # charts inserted (flushed) in this transaction
_BUSY = "adoption.busy"
# A table model maps one Table (typed as any FromClause).
_TABLE: Table = inspect(ChartAdoption).local_table  # type: ignore[assignment]
_COLUMNS = tuple(c.name for c in _TABLE.columns)


def secret_channel(purpose: SecretPurpose, channel: str, staff_id: int | None) -> str:
    """The `Channel` of an invitation, key or token: an invitation no staff member made was
    asked for by the patient (self set-up)."""
    if purpose == SecretPurpose.INVITATION:
        return (Channel.INVITATION_EMAIL if staff_id is not None else Channel.SELF_SETUP).value
    if purpose == SecretPurpose.CONNECT_TOKEN:
        return Channel.TOKEN.value
    return KEY_CHANNELS.get(channel, Channel.KEY_EMAIL).value


def _earliest(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _latest(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


@dataclass
class _Chart:
    """What the source tables say about one chart (rows of the batch queries)."""

    patient: Row[Any]
    stored: dict[str, Any] | None
    secrets: list[Row[Any]] = field(default_factory=list)  # oldest first
    connections: list[Row[Any]] = field(default_factory=list)  # oldest first
    accounts: dict[int, Row[Any]] = field(default_factory=dict)
    first_session: datetime | None = None
    newest_message: Row[Any] | None = None
    enabled_event: datetime | None = None

    def _kept(self, name: str) -> datetime | None:
        return self.stored[name] if self.stored else None

    def enabled_at(self) -> datetime | None:
        kept = self._kept("enabled_at")
        if kept is not None:
            return kept
        if self.enabled_event is not None:
            return self.enabled_event
        return self.patient.updated_at if self.patient.portal_enabled else None

    def live(self) -> list[Row[Any]]:
        return [c for c in self.connections if c.revoked_at is None]

    def account_id(self) -> int | None:
        """The chart's own (`self`) account, else the first live connection's."""
        live = self.live()
        own = next((c for c in live if c.access_type == AccessType.SELF), None)
        chosen = own or (live[0] if live else None)
        return chosen.account_id if chosen else None

    def channel(self) -> tuple[str, int | None]:
        """How the account came about (or the first attempt, with none), and who started it."""
        first = self.secrets[0] if self.secrets else None
        connected = self.connections[0] if self.connections else None
        started_by = first.created_by_staff_id if first is not None else None
        if started_by is None and connected is not None:
            started_by = connected.connected_by_staff_id
        if connected is None:
            return (secret_channel(first.purpose, first.channel, first.created_by_staff_id)
                    if first is not None else ""), started_by
        used = [s for s in self.secrets if s.used_at is not None]
        if used:
            spent = min(used, key=lambda s: (s.used_at, s.id))
            return secret_channel(spent.purpose, spent.channel, spent.created_by_staff_id), started_by
        if connected.connected_by_staff_id is not None:
            return Channel.STAFF_CREDENTIALS.value, started_by
        return Channel.SELF_SETUP.value, started_by

    def attempt(self) -> dict[str, Any]:
        newest = self.secrets[-1] if self.secrets else None
        if newest is None:
            return {"attempt_secret_id": None, "attempt_channel": "", "attempt_at": None,
                    "attempt_expires_at": None, "attempt_used": False, "attempt_tries": 0,
                    "attempt_opened_at": None}
        return {"attempt_secret_id": newest.id,
                "attempt_channel": secret_channel(newest.purpose, newest.channel, newest.created_by_staff_id),
                "attempt_at": newest.created_at, "attempt_expires_at": newest.expires_at,
                "attempt_used": newest.used_at is not None, "attempt_tries": newest.attempts,
                "attempt_opened_at": newest.opened_at}

    def account_columns(self) -> dict[str, Any]:
        account = self.accounts.get(self.account_id() or 0)
        signed_in = [self.accounts[c.account_id].last_sign_in_at for c in self.live()
                     if c.account_id in self.accounts]
        return {"account_id": account.id if account else None,
                "locked_until": account.locked_until if account else None,
                "temp_password_expires_at": (account.temp_password_expires_at
                                             if account is not None and account.must_change_password else None),
                "last_sign_in_at": _latest(*signed_in)}

    def values(self) -> dict[str, Any]:
        """The chart's row, from its whole history."""
        enabled_at = self.enabled_at()
        sent_at = _earliest(*(s.created_at for s in self.secrets))
        opened_at = _earliest(*(s.opened_at for s in self.secrets))
        account_at = _earliest(*(c.connected_at for c in self.connections))
        first_sign_in_at = _earliest(self._kept("first_sign_in_at"), self.first_session)
        channel, started_by = self.channel()
        attempt = self.attempt()
        message = self.newest_message
        failed = (FAILED_CHANNELS.get(message.channel, "")
                  if message is not None and message.status == MessageStatus.FAILED else "")
        return {**self._chart_columns(), "sent_at": sent_at, "opened_at": opened_at,
                "account_at": account_at, "first_sign_in_at": first_sign_in_at, "channel": channel,
                "started_by_staff_id": started_by, **attempt, "delivery_failed": failed,
                **self.account_columns(), "since_at": _latest(attempt["attempt_at"], account_at),
                "stage": _stage(enabled_at, sent_at, opened_at, account_at, first_sign_in_at)}

    def _chart_columns(self) -> dict[str, Any]:
        return {"patient_id": self.patient.id, "added_at": self.patient.created_at,
                "enabled": self.patient.portal_enabled, "enabled_at": self.enabled_at()}

    def chart_values(self) -> dict[str, Any]:
        """The stored row with only the chart's own columns brought up to date (when nothing
        but the patient row changed: the rest of the history is as stored)."""
        if self.stored is None:
            raise ValueError("A chart with no row is rebuilt from its whole history.")
        row = {**self.stored, **self._chart_columns()}
        row["stage"] = _stage(row["enabled_at"], row["sent_at"], row["opened_at"], row["account_at"],
                              row["first_sign_in_at"])
        return row


def _stage(enabled_at: datetime | None, sent_at: datetime | None, opened_at: datetime | None,
           account_at: datetime | None, first_sign_in_at: datetime | None) -> int:
    """The furthest stage reached: a later stage implies the earlier ones."""
    reached = ((Stage.SIGNED_IN, first_sign_in_at), (Stage.ACCOUNT, account_at), (Stage.OPENED, opened_at),
               (Stage.SENT, sent_at), (Stage.ENABLED, enabled_at))
    return int(next((stage for stage, at in reached if at is not None), Stage.CHART))


# ---- the batch queries ----------------------------------------------------------------------


# The two queries every commit that adds or changes a chart's row runs (each ADT A04 message, for
# one), built once: building them cost more than running them. `:ids` takes the batch's ids.
_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
_CHARTS_OF = (select(col(Patient.id), col(Patient.created_at), col(Patient.portal_enabled), col(Patient.updated_at),
                     *_TABLE.c).select_from(Patient).outerjoin(_TABLE, _TABLE.c.patient_id == col(Patient.id))
              .where(col(Patient.id).in_(_IDS)))
_ENABLED_AT = (select(col(AuditEvent.patient_id), func.min(col(AuditEvent.at)).label("first"))
               .where(col(AuditEvent.patient_id).in_(_IDS), col(AuditEvent.action).in_(ENABLE_ACTIONS))
               .group_by(col(AuditEvent.patient_id)))


def _charts_of(session: Session, ids: list[int]) -> dict[int, _Chart]:
    """The charts with their stored rows (one query: the row is joined to its patient)."""
    charts = {}
    for row in session.execute(_CHARTS_OF, {"ids": ids}):
        mapping = row._mapping
        charts[row.id] = _Chart(patient=row, stored={name: mapping[name] for name in _COLUMNS}
                                if row.patient_id is not None else None)
    return charts


def _add_secrets(session: Session, charts: dict[int, _Chart]) -> None:
    s = OneTimeSecret
    rows = session.execute(
        select(col(s.id), col(s.patient_id), col(s.purpose), col(s.channel), col(s.created_by_staff_id),
               col(s.created_at), col(s.expires_at), col(s.used_at), col(s.attempts), col(s.opened_at))
        .where(col(s.patient_id).in_(list(charts)), col(s.purpose).in_(ATTEMPT_PURPOSES))
        .order_by(col(s.created_at), col(s.id)))
    for row in rows:
        charts[row.patient_id].secrets.append(row)


def _add_connections(session: Session, charts: dict[int, _Chart]) -> None:
    c = PortalConnection
    rows = session.execute(
        select(col(c.id), col(c.patient_id), col(c.account_id), col(c.access_type), col(c.connected_at),
               col(c.revoked_at), col(c.connected_by_staff_id))
        .where(col(c.patient_id).in_(list(charts))).order_by(col(c.connected_at), col(c.id)))
    for row in rows:
        charts[row.patient_id].connections.append(row)
    account_ids = sorted({row.account_id for chart in charts.values() for row in chart.connections})
    accounts: dict[int, Row[Any]] = {}
    for ids in _chunks(account_ids):
        a = PortalAccount
        for row in session.execute(select(col(a.id), col(a.last_sign_in_at), col(a.locked_until),
                                          col(a.must_change_password), col(a.temp_password_expires_at))
                                   .where(col(a.id).in_(ids))):
            accounts[row.id] = row
    for chart in charts.values():
        chart.accounts = {c.account_id: accounts[c.account_id] for c in chart.connections}


def _add_first_sessions(session: Session, charts: dict[int, _Chart]) -> None:
    """The first portal session of an account connected to the chart, counted from the
    connection: one begun after it, or one already live when the chart was connected (an
    account signed in while it connects another chart has signed in to that chart too)."""
    connected_ids = [pid for pid, chart in charts.items() if chart.connections]
    if not connected_ids:
        return  # (most charts being onboarded: no query)
    c, s = PortalConnection, AuthSession
    connected, started = col(c.connected_at), col(s.created_at)
    sessions_of_charts = (
        select(col(c.patient_id)).join(s, col(s.portal_account_id) == col(c.account_id))
        .where(col(c.patient_id).in_(connected_ids), col(s.kind) == SessionKind.PORTAL,
               col(c.revoked_at).is_(None) | (started < col(c.revoked_at))))
    after = sessions_of_charts.add_columns(func.min(started).label("first")).where(started >= connected)
    for row in session.execute(after.group_by(col(c.patient_id))):
        charts[row.patient_id].first_session = row.first
    # Begun before the connection and not ended at it: at most a session's lifetime of them.
    # (The idle limit is checked here, not in SQL: SQLite has no datetime arithmetic.)
    live = sessions_of_charts.add_columns(connected.label("connected_at"), col(s.last_seen_at)).where(
        started < connected, col(s.expires_at) > connected,
        col(s.revoked_at).is_(None) | (col(s.revoked_at) >= connected))
    for row in session.execute(live):
        if row.last_seen_at > row.connected_at - sessions.IDLE:
            chart = charts[row.patient_id]
            chart.first_session = _earliest(chart.first_session, row.connected_at)


def _add_messages(session: Session, charts: dict[int, _Chart]) -> None:
    m = OutboxMessage
    rows = session.execute(
        select(col(m.patient_id), col(m.channel), col(m.status))
        .where(col(m.patient_id).in_(list(charts)), col(m.kind).in_(ONBOARDING_KINDS))
        .order_by(col(m.created_at), col(m.id)))
    for row in rows:
        charts[row.patient_id].newest_message = row  # the last one wins


def _add_enable_events(session: Session, charts: dict[int, _Chart]) -> None:
    """When access was first turned on, for charts with no stored time that are enabled now or
    are rebuilt from nothing (a stored row without one was never enabled before)."""
    wanted = [pid for pid, chart in charts.items() if chart._kept("enabled_at") is None
              and (chart.stored is None or chart.patient.portal_enabled)]
    if not wanted:
        return
    for row in session.execute(_ENABLED_AT, {"ids": wanted}):
        charts[row.patient_id].enabled_event = row.first


def _chunks(ids: list[int], size: int = BATCH) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _write(session: Session, rows: list[tuple[dict[str, Any] | None, dict[str, Any]]]) -> int:
    """Insert new rows and update changed ones (unchanged rows are not written). Returns how many.

    Args:
        rows: (stored row or None, new row) pairs.
    """
    fresh = [values for stored, values in rows if stored is None]
    changed = [values for stored, values in rows
               if stored is not None and any(stored[name] != values[name] for name in _COLUMNS)]
    if fresh:
        session.execute(insert(_TABLE), fresh)
    if changed:
        session.execute(_UPDATE_ROW, [{f"new_{name}": value for name, value in row.items()} for row in changed])
    return len(fresh) + len(changed)


# A changed row, written by its key in one Core statement (executemany for a batch), built once:
# the ORM's bulk update by primary key cost more than the write itself on a one-chart commit.
_UPDATE_ROW = (update(_TABLE).where(_TABLE.c.patient_id == bindparam("new_patient_id"))
               .values({name: bindparam(f"new_{name}") for name in _COLUMNS if name != "patient_id"}))


def _rebuild(session: Session, ids: list[int], *, chart_only: bool = False, created: bool = False) -> int:
    """Rebuild a batch of charts' rows; `chart_only`: only the patient rows changed, so charts
    that have a row keep the rest of it (two queries instead of seven); `created`: the charts
    were inserted in this transaction and no secret, connection or message row of theirs was
    (the flush notes those), so they have no such history to read (two queries)."""
    charts = _charts_of(session, ids)
    gone = [pid for pid in ids if pid not in charts]
    if gone:
        session.execute(delete(_TABLE).where(_TABLE.c.patient_id.in_(gone)))
    light = {pid: chart for pid, chart in charts.items() if chart_only and chart.stored is not None}
    whole = {pid: chart for pid, chart in charts.items() if pid not in light}
    if whole and not created:
        _add_secrets(session, whole)
        _add_connections(session, whole)
        _add_first_sessions(session, whole)
        _add_messages(session, whole)
    _add_enable_events(session, charts)
    return _write(session, [(chart.stored, chart.values()) for chart in whole.values()]
                  + [(chart.stored, chart.chart_values()) for chart in light.values()])


def refresh(session: Session, patient_ids: Iterable[int], *, chart_only: bool = False) -> int:
    """Rebuild these charts' rows from the source tables (in the caller's transaction).

    Args:
        chart_only: only the charts' patient rows changed since their rows were last kept.

    Returns:
        How many rows were inserted or changed.
    """
    ids = sorted({pid for pid in patient_ids if pid is not None})
    return sum(_rebuild(session, batch, chart_only=chart_only) for batch in _chunks(ids))


def _refresh_created(session: Session, patient_ids: Iterable[int]) -> int:
    """Build the rows of charts inserted in this transaction that nothing else touched (the
    secret, connection, message and session tables cannot name them yet: a flushed row that
    did is in the "charts" set and takes the whole rebuild)."""
    ids = sorted({pid for pid in patient_ids if pid is not None})
    return sum(_rebuild(session, batch, created=True) for batch in _chunks(ids))


def charts_of_accounts(session: Session, account_ids: Iterable[int]) -> set[int]:
    """Every chart these accounts are or were connected to."""
    found: set[int] = set()
    for ids in _chunks(sorted(account_ids)):
        found.update(session.execute(select(col(PortalConnection.patient_id))
                                     .where(col(PortalConnection.account_id).in_(ids))).scalars())
    return found


def _missing_ids(session: Session, after: int) -> list[int]:
    has_row = exists().where(_TABLE.c.patient_id == col(Patient.id))
    return list(session.execute(select(col(Patient.id)).where(col(Patient.id) > after, ~has_row)
                                .order_by(col(Patient.id)).limit(BATCH)).scalars())


def backfill(session: Session, *, commit: bool = False) -> int:
    """Build rows for charts that have none (idempotent). Returns how many were built.

    Args:
        commit: commit after each batch (at start-up: progress is kept, and the write-ahead
            log stays small); False inside a caller's transaction.
    """
    built, after = 0, 0
    while ids := _missing_ids(session, after):
        built += refresh(session, ids)
        after = ids[-1]
        if commit:
            session.commit()
    return built


def rebuild_all(session: Session) -> int:
    """Rebuild every chart's row from the source tables, committing per batch. Returns the
    number of charts."""
    count, after = 0, 0
    while ids := list(session.execute(select(col(Patient.id)).where(col(Patient.id) > after)
                                      .order_by(col(Patient.id)).limit(BATCH)).scalars()):
        refresh(session, ids)
        session.commit()
        count += len(ids)
        after = ids[-1]
    return count


# ---- the session listeners ------------------------------------------------------------------


def _note(session: Session, obj: object, new: bool) -> None:
    """Which chart (or account) a changed row touches: a patient row alone, or its history."""
    chart_id: int | None = None
    account_id: int | None = None
    if isinstance(obj, Patient) and obj.id is not None:
        session.info.setdefault(_CREATED if new else _PATIENTS, set()).add(obj.id)
    elif isinstance(obj, (OneTimeSecret, OutboxMessage, PortalConnection)):
        chart_id = obj.patient_id
    elif isinstance(obj, PortalAccount):
        account_id = obj.id
    elif isinstance(obj, AuthSession) and new:
        account_id = obj.portal_account_id  # a sign-in (touching last_seen_at changes nothing here)
    if chart_id is not None:
        session.info.setdefault(_CHARTS, set()).add(chart_id)
    if account_id is not None:
        session.info.setdefault(_ACCOUNTS, set()).add(account_id)


def note_created(session: Session, patient_id: int) -> None:
    """A chart inserted without the session's flush (one Core INSERT): its row is built at
    commit like a flushed new chart's (two queries, no history read)."""
    session.info.setdefault(_CREATED, set()).add(patient_id)


def _after_flush(session: Session, _context: Any) -> None:
    if session.info.get(_BUSY):
        return
    for obj in session.new:
        _note(session, obj, True)
    for obj in session.deleted:
        _note(session, obj, False)
    for obj in session.dirty:
        if session.is_modified(obj, include_collections=False) and not _row_kept(obj):
            _note(session, obj, False)


# The patient columns a chart's row is made of. `updated_at` counts only while access is on with
# no kept "enabled at", which a kept row never has (it took the time when access was turned on).
_ROW_COLUMNS = ("id", "created_at", "portal_enabled")


def _row_kept(obj: object) -> bool:
    """A chart whose change leaves its row as it is (a new name, address, visit date: the usual
    ADT update), so the commit need not read it back."""
    if not isinstance(obj, Patient):
        return False
    attrs = inspect(obj).attrs
    return not any(attrs[name].history.has_changes() for name in _ROW_COLUMNS)


def _before_commit(session: Session) -> None:
    if session.info.get(_BUSY) or session.in_nested_transaction():
        return  # our own writes, or a savepoint (the outer commit refreshes)
    session.flush()  # what is still pending is noted by _after_flush
    session.info[_BUSY] = True
    try:
        charts: set[int] = session.info.pop(_CHARTS, set())
        accounts: set[int] = session.info.pop(_ACCOUNTS, set())
        patients: set[int] = session.info.pop(_PATIENTS, set())
        created: set[int] = session.info.pop(_CREATED, set())
        if accounts:
            charts |= charts_of_accounts(session, accounts)
        if charts:
            refresh(session, charts)
        if patients - charts - created:
            refresh(session, patients - charts - created, chart_only=True)
        if created - charts:
            _refresh_created(session, created - charts)
        if session.info.pop(_NEW_PATIENTS, False):
            backfill(session)
    finally:
        session.info[_BUSY] = False


def _on_execute(state: Any) -> None:
    """A bulk INSERT of patients bypasses the flush: build their rows at commit."""
    table = getattr(state.statement, "table", None)
    if state.is_insert and table is not None and table.name == Patient.__tablename__:
        state.session.info[_NEW_PATIENTS] = True


def _after_soft_rollback(session: Session, previous: Any) -> None:
    if previous.parent is None:  # the whole transaction is undone: so are its changes
        for key in (_CHARTS, _PATIENTS, _ACCOUNTS, _NEW_PATIENTS, _CREATED):
            session.info.pop(key, None)


_LISTENERS = (("after_flush", _after_flush), ("before_commit", _before_commit),
              ("do_orm_execute", _on_execute), ("after_soft_rollback", _after_soft_rollback))


def install() -> None:
    """Listen on every session (idempotent). `db.engine()` calls it, so each process that
    writes (app, CLI, tests) keeps the rows exact."""
    for name, listener in _LISTENERS:
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
