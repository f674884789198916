"""The audit log's hash chain: each row carries SHA-256(previous row's chain + its own content).

The triggers stop UPDATE and DELETE on the live database, but not on a copy with the triggers
dropped. The chain makes such an edit visible: change a field, or delete a row, and the
stored chain of that row (or of the row after the gap) no longer follows from the row before.
`verify` walks the rows in id order and names the first broken link.

What it cannot see: rows cut off the end, or a chain recomputed from the edit onwards (there is
no secret in it). `verify` prints the newest row's chain so it can be written down elsewhere
(a ticket, a backup log) and compared later.

Writers are serialised so two transactions never link to the same previous row (a fork): the
chain of new rows is computed inside the inserting transaction after taking the database's
write lock (SQLite: a write statement that changes nothing, which takes the lock at once;
pysqlite starts a transaction only at the first write, so a plain SELECT first would read
outside it). PostgreSQL: a transaction-scoped advisory lock (`pg_advisory_xact_lock`) taken
before reading the last chain does the same; it is released at commit or rollback.

Cost per flush that adds audit rows: one no-op write, one indexed read of the last row (by
primary key), about 3 microseconds per row for the hash (measured: bench/import.py's new-chart
import of 50,000 rows took 12.7 s against 11.8 s before, on an idle machine).

The canonical form (`canonical`) is frozen: the migration that chained the first rows keeps its
own copy, and changing it would break every existing link. Times are hashed as naive UTC, the
way they are written (`clock.now()`); on PostgreSQL run the connections with TimeZone=UTC so a
`timestamp without time zone` keeps the same value.
"""

from __future__ import annotations

import functools
import hashlib
import json
import operator
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, event, inspect, select, text
from sqlalchemy.orm import Session

from portal_app.models import AuditEvent

# The columns a row's chain covers, in this order (every column but `id` and `chain`).
FIELDS = ("at", "actor_type", "staff_user_id", "portal_account_id", "actor_label", "action",
          "patient_id", "account_id", "ip", "detail")
# Any fixed number: the PostgreSQL advisory lock that serialises audit writers.
PG_LOCK_KEY = 7_310_214_011
BATCH = 5000


@functools.lru_cache(maxsize=64)
def _at(value: Any) -> str:
    """The time as the database keeps it: naive UTC to the microsecond (SQLite drops the zone).
    (Cached: a bulk insert stamps all its rows with one time.)"""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds")
    return ""


# One encoder, built once (json.dumps with options builds a new one per call: most of the cost).
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


_REST = operator.itemgetter(*FIELDS[1:])


def canonical(row: Mapping[Any, Any]) -> str:
    """A row's content in one fixed text form (JSON list of FIELDS; None stays null)."""
    return _ENCODE([_at(row["at"]), *_REST(row)])


def link(previous: str, row: Mapping[Any, Any]) -> str:
    """This row's chain: SHA-256 of the previous row's chain and this row's canonical content."""
    return hashlib.sha256((previous + canonical(row)).encode("utf-8")).hexdigest()


_SQLITE_LOCK = "DELETE FROM auditevent WHERE 0"  # takes the write lock, changes nothing
_SQLITE_HEAD = "SELECT chain FROM auditevent ORDER BY id DESC LIMIT 1"


def lock_and_head(connection: Connection) -> str:
    """Take the audit writers' lock for this transaction, then read the newest row's chain."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        # On the driver's cursor: every flush that adds audit rows runs these two (each ADT message
        # twice), and SQLAlchemy's execute costs several times SQLite's own work here.
        cursor = connection.connection.cursor()
        try:
            cursor.execute(_SQLITE_LOCK)
            cursor.execute(_SQLITE_HEAD)
            last = cursor.fetchone()
        finally:
            cursor.close()
        return last[0] if last else ""
    if dialect == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
    table = inspect(AuditEvent).local_table
    last = connection.execute(select(table.c.chain).order_by(table.c.id.desc()).limit(1)).scalar()
    return last or ""


def chain_rows(connection: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill in "chain" for rows about to be inserted in this order by a bulk insert (same
    transaction, right after this call)."""
    previous = lock_and_head(connection)
    for row in rows:
        row["chain"] = previous = link(previous, row)
    return rows


def _before_flush(session: Session, _context, _instances) -> None:
    new = [obj for obj in session.new if isinstance(obj, AuditEvent)]
    if not new:
        return
    new.sort(key=lambda obj: inspect(obj).insert_order)  # the unit of work inserts in this order
    previous = lock_and_head(session.connection())
    for obj in new:
        obj.chain = previous = link(previous, {name: getattr(obj, name) for name in FIELDS})


def install() -> None:
    """Chain every AuditEvent added through any session (idempotent)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)


@dataclass(frozen=True)
class Verdict:
    """What `verify` found: `ok`, the rows read, and the first broken row (id and time)."""

    ok: bool
    rows: int
    message: str
    broken_id: int | None = None
    head: str = ""


def _rows(connection: Connection) -> Iterator[Mapping[Any, Any]]:
    """Every row in id order, a batch at a time (keyset: constant memory on millions of rows)."""
    table = inspect(AuditEvent).local_table
    after = 0
    while True:
        batch = connection.execute(select(table).where(table.c.id > after)
                                   .order_by(table.c.id).limit(BATCH)).mappings().all()
        if not batch:
            return
        yield from batch
        after = batch[-1]["id"]


def _when(row: Mapping[Any, Any]) -> str:
    return f"{_at(row['at'])[:19]} UTC"


def walk(rows: Iterable[Mapping[Any, Any]]) -> Verdict:
    """Check each row's chain against the row before it; stop at the first that does not follow."""
    previous, previous_id, count = "", None, 0
    for row in rows:
        if row["chain"] != link(previous, row):
            place = f"row {row['id']} ({_when(row)})"
            first = (previous_id or 0) + 1
            if row["id"] != first:
                missing = f"row {first}" if first == row["id"] - 1 else f"rows {first} to {row['id'] - 1}"
                message = (f"Audit chain broken before {place}: {missing} missing (deleted), "
                           f"or {place} was changed.")
            else:
                message = (f"Audit chain broken at {place}: its content or chain was changed after it "
                           "was written, or the row before it was rewritten.")
            return Verdict(ok=False, rows=count, message=message, broken_id=row["id"])
        previous, previous_id, count = row["chain"], row["id"], count + 1
    return Verdict(ok=True, rows=count, message=f"Audit chain intact: {count} rows", head=previous)


def verify(connection: Connection) -> Verdict:
    """Walk the whole audit log (read only)."""
    return walk(_rows(connection))
