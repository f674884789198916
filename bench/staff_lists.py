"""Server time of the staff queue and User Management lists at scale (not part of the test suite).

Builds (or reuses) a SQLite database under /tmp with 120,000 demo patients, 200,000 Patient
Portal queue items on 50,000 of them (mixed kinds, about 80% reviewed, a twelfth of those in
the current month as "Reviewed (month)" counts it, some forwarded; each item carries its chart's
sort key as the app files it) and 100,000 portal accounts with their connections. Then times what
a state handler does for each operation: open a session, call one `services.tasks` or
`services.portal_users` function as a staff user with the Administrator role, close the session.
Prints p50/p95 (wall and CPU) per operation, ratios against each list's first page, PASS/FAIL
against the 10 ms p95 target, every query of each list call with its own time and SQLite's
EXPLAIN QUERY PLAN, and User Management's short searches (1-2 characters) term by term.

The database is migrated like the app's (indexes come from the models and migrations only) and
is rebuilt when its shape no longer matches: other counts, or a month boundary since it was built.

    python bench/staff_lists.py [--runs 100] [--budget 8] [--db /tmp/portal_queue_bench.db] [--rebuild]
                          [--no-plans]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, func, insert, text  # noqa: E402
from sqlmodel import SQLModel, col, select  # noqa: E402

from bench.sqlite_file import start_fresh  # noqa: E402
from portal_app import db  # noqa: E402
from portal_app.models import (  # noqa: E402
    AccessType,
    AccountStatus,
    PortalAccount,
    PortalConnection,
    PortalTask,
    StaffUser,
    TaskForward,
    TaskKind,
    TaskStatus,
)
from portal_app.services import clock, demo, permissions, portal_users, settings, staff_auth, tasks  # noqa: E402
from portal_app.services.portal_users import AccountFilter  # noqa: E402

TARGET_MS = 10.0
DEEP_ROWS = 10_000
PATIENTS = 120_000
TASK_PATIENTS = 50_000
TASKS = 200_000
ACCOUNTS = 100_000
FORWARDS = 6_000
BIG_TABLES = ("portaltask", "taskforward", "patient", "portalaccount", "portalconnection")
REVIEWED = 0.80  # share of items reviewed
REVIEWED_THIS_MONTH = 1 / 12  # share of reviewed items reviewed in the current month
SHORT_SEARCHES = ("s", "m", "j", "ma", "jo", "sm")
# Stored as the file's PRAGMA user_version: a database built by an older bench is rebuilt.
# 2: reviewed_at spread so a twelfth of reviewed items fall in the current month; patient_sort_key.
BENCH_VERSION = 2

STAFF = (("bench", "Bench Mark", permissions.ADMINISTRATOR),
         ("bench.desk", "Front Desk Bench", permissions.FRONT_DESK),
         ("bench.clinic", "Clinic Bench", permissions.CLINICAL),
         ("bench.comms", "Comms Bench", permissions.COMMUNICATIONS_ONLY))


# ---- building the database ---------------------------------------------------------------------

def _counts(url: str) -> tuple[int, int, int, int]:
    with db.session_scope(url) as session:
        one = lambda model: session.exec(select(func.count()).select_from(model)).one()  # noqa: E731
        return (demo.patient_count(session=session), one(PortalTask), one(PortalAccount),
                one(StaffUser))


def _stale(url: str) -> str:
    """Why the database cannot be reused as it is ("" when it can)."""
    engine = db.engine(url)
    with engine.connect() as conn:
        version = conn.exec_driver_sql("PRAGMA user_version").scalar()
        existing = {row[0] for row in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
    if version != BENCH_VERSION:
        return f"it was built by another version of this benchmark ({version}, not {BENCH_VERSION})"
    missing = sorted({index.name for table in SQLModel.metadata.tables.values() for index in table.indexes}
                     - existing)
    if missing:
        return "it lacks indexes the models declare: " + ", ".join(missing)
    share, unsorted = _month_share(url)
    if abs(share - REVIEWED_THIS_MONTH) > 0.02 or unsorted:
        return (f"{share:.1%} of its reviewed items fall in this month, not {REVIEWED_THIS_MONTH:.1%} "
                f"(a month boundary since it was built?), and {unsorted:,} items have no sort key")
    return ""


def _month_share(url: str) -> tuple[float, int]:
    """(share of reviewed items that "Reviewed (month)" counts, items without a sort key)."""
    with db.session_scope(url) as session:
        start, _ = tasks.month_start(settings.zone(session=session))
        reviewed = session.exec(select(func.count()).select_from(PortalTask)
                                .where(PortalTask.status == TaskStatus.REVIEWED)).one()
        month = session.exec(select(func.count()).select_from(PortalTask).where(
            PortalTask.status == TaskStatus.REVIEWED, col(PortalTask.reviewed_at) >= start)).one()
        unsorted = session.exec(select(func.count()).select_from(PortalTask)
                                .where(PortalTask.patient_sort_key == "")).one()
        return month / max(reviewed, 1), unsorted


def _bulk(session, model, rows: list[dict], batch: int = 10_000) -> None:
    for start in range(0, len(rows), batch):
        session.execute(insert(model), rows[start:start + batch])


def _accounts(session, rng: random.Random, now) -> dict[int, tuple[int, str, AccessType]]:
    """100,000 accounts: 90% a chart's own (Self), 10% a parent acting for 1-3 other charts.
    Returns {patient_id: (account_id, user_id, access)} for the charts' sending accounts."""
    charts = session.execute(text("SELECT id, first_name, last_name, email_lower FROM patient "
                                  "ORDER BY id")).all()
    n_self = ACCOUNTS * 9 // 10
    accounts, connections = [], []
    sender: dict[int, tuple[int, str, AccessType]] = {}

    def account(account_id: int, user_id: str, first: str, last: str) -> None:
        roll = rng.random()
        status = (AccountStatus.ACTIVE if roll < 0.72 else
                  AccountStatus.PENDING if roll < 0.96 else AccountStatus.DISABLED)
        has_password = status == AccountStatus.ACTIVE or (status == AccountStatus.DISABLED and rng.random() < 0.7)
        deleted = rng.random() < 0.005
        accounts.append({
            "id": account_id, "user_id": f"deleted-{account_id}-{user_id}" if deleted else user_id,
            "first_name": first, "last_name": last,
            "password_hash": "bench-not-a-real-hash" if has_password else None, "status": status,
            "must_change_password": has_password and rng.random() < 0.03, "failed_logins": 0,
            "last_sign_in_at": now - timedelta(minutes=rng.randint(1, 525_600)) if has_password else None,
            "deleted_at": now - timedelta(days=rng.randint(1, 300)) if deleted else None,
            "created_at": now - timedelta(days=rng.randint(1, 730)),
        })

    def connect(account_id: int, patient_id: int, access: AccessType, relationship: str = "",
                revoked: bool = False) -> None:
        connections.append({
            "account_id": account_id, "patient_id": patient_id, "access_type": access,
            "relationship": relationship, "permissions": "messages,appointments,forms,documents",
            "requested_by": "bench", "connected_at": now - timedelta(days=rng.randint(1, 700)),
            "revoked_at": now - timedelta(days=rng.randint(1, 30)) if revoked else None,
        })

    for account_id, (patient_id, first, last, email) in enumerate(charts[:n_self], start=1):
        roll = rng.random()
        if email and roll < 0.80:
            user_id = email
        elif roll < 0.93:
            user_id = f"+1{rng.choice(demo.AREA_CODES)}{account_id:07d}"
        else:
            user_id = f"{first}.{last}.{account_id}".lower()
        named = rng.random() < 0.85  # the rest show their chart's name
        account(account_id, user_id, first if named else "", last if named else "")
        connect(account_id, patient_id, AccessType.SELF)
        sender[patient_id] = (account_id, user_id, AccessType.SELF)
    pool = iter(row[0] for row in charts[n_self:])
    for account_id in range(n_self + 1, ACCOUNTS + 1):
        first, last = rng.choice(demo.FIRST), rng.choice(demo.LAST)
        user_id = f"{first}.{last}.r{account_id}@{rng.choice(demo.DOMAINS)}".lower()
        account(account_id, user_id, first, last)
        for _ in range(rng.choice((1, 1, 2, 2, 3))):
            child = next(pool, None) or rng.randint(1, len(charts))
            connect(account_id, child, AccessType.REPRESENTATIVE, "parent")
            sender.setdefault(child, (account_id, user_id, AccessType.REPRESENTATIVE))
    for account_id in rng.sample(range(1, ACCOUNTS + 1), ACCOUNTS * 3 // 100):  # some ended connections
        connect(account_id, rng.randint(1, len(charts)), AccessType.REPRESENTATIVE, "spouse", revoked=True)
    _bulk(session, PortalAccount, accounts)
    _bulk(session, PortalConnection, connections)
    return sender


def _tasks(session, rng: random.Random, now: datetime, month_start: datetime, sender,
           staff_ids: list[int]) -> None:
    """200,000 items on 50,000 charts (95% sent by the chart's own account, 5% by a parent),
    over 12 months, about 80% reviewed (a twelfth of those this month, whatever the day of the
    month); 6,000 forwards, a quarter still open. Each item takes its chart's sort key
    afterwards, as the migration backfills it (services/queue.file_item copies it when filing)."""
    own = [pid for pid, (_a, _u, access) in sender.items() if access == AccessType.SELF]
    by_parent = [pid for pid, (_a, _u, access) in sender.items() if access == AccessType.REPRESENTATIVE]
    charts = own[: TASK_PATIENTS * 95 // 100] + by_parent[: TASK_PATIENTS - TASK_PATIENTS * 95 // 100]
    kinds = [TaskKind.MESSAGE] * 45 + [TaskKind.INTAKE_FORM] * 20 + [TaskKind.DOCUMENT_SHARE] * 20 + \
        [TaskKind.APPOINTMENT_REQUEST] * 15
    subjects = {TaskKind.MESSAGE: "Question about my prescription", TaskKind.INTAKE_FORM: "Intake form",
                TaskKind.DOCUMENT_SHARE: "outside-lab-results.pdf", TaskKind.APPOINTMENT_REQUEST: "Appointment"}
    rows = []
    for _ in range(TASKS):
        patient_id = rng.choice(charts)
        account_id, user_id, access = sender[patient_id]
        kind = rng.choice(kinds)
        reviewed = rng.random() < REVIEWED
        if not reviewed:
            created, reviewed_at = now - timedelta(seconds=rng.randint(60, 365 * 86_400)), None
        else:
            # Reviewed 10 minutes to 3 days after it came in; this month for a twelfth of them.
            this_month = rng.random() < REVIEWED_THIS_MONTH
            low, high = ((month_start, now - timedelta(seconds=1)) if this_month else
                         (now - timedelta(days=365), month_start - timedelta(seconds=1)))
            reviewed_at = low + timedelta(seconds=rng.uniform(0, max((high - low).total_seconds(), 0)))
            created = reviewed_at - timedelta(seconds=rng.randint(600, 3 * 86_400))
        rows.append({
            "kind": kind, "status": TaskStatus.REVIEWED if reviewed else TaskStatus.PENDING,
            "patient_id": patient_id, "account_id": account_id, "submitted_by": user_id,
            "access_type": access, "subject": subjects[kind], "created_at": created,
            "last_activity_at": created, "reviewed_at": reviewed_at,
            "reviewed_by_staff_id": rng.choice(staff_ids[:3]) if reviewed else None,
        })
    rows.sort(key=lambda row: row["created_at"])  # ids grow with time, as items are filed
    _bulk(session, PortalTask, rows)
    session.execute(text("UPDATE portaltask SET patient_sort_key = "
                         "(SELECT sort_key FROM patient WHERE patient.id = portaltask.patient_id)"))
    forwards = []
    for task_id in rng.sample(range(1, TASKS + 1), FORWARDS):
        created = rows[task_id - 1]["created_at"] + timedelta(minutes=rng.randint(5, 600))
        to = staff_ids[0] if rng.random() < 0.3 else rng.choice(staff_ids[1:])
        sender_id = rng.choice([s for s in staff_ids[:3] if s != to])
        done = rng.random() < 0.75
        forwards.append({
            "task_id": task_id, "from_staff_id": sender_id, "to_staff_id": to,
            "note": "Please look at this one.", "created_at": created,
            "opened_at": created + timedelta(hours=1) if done or rng.random() < 0.5 else None,
            "done_at": created + timedelta(hours=rng.randint(1, 72)) if done else None,
        })
    _bulk(session, TaskForward, forwards)


def build(url: str, path: Path, rebuild: bool) -> None:
    """Reuse the database when it has the expected shape; else build it (about a minute).
    A month boundary since the build empties "Reviewed (month)", so that rebuilds too."""
    wanted = (PATIENTS, TASKS, ACCOUNTS, len(STAFF))
    if path.exists() and not rebuild:
        try:
            db.migrate(url)
            found = _counts(url)
            why = f"it holds {found}, not {wanted}" if found != wanted else _stale(url)
            if not why:
                print(f"Reusing {path} ({PATIENTS:,} patients, {TASKS:,} queue items, {ACCOUNTS:,} accounts).")
                return
            print(f"Not reusing {path}: {why}; rebuilding.")
        except Exception as exc:  # a half-built file from an interrupted run
            print(f"Cannot reuse {path}: {exc}; rebuilding.")
    started = time.perf_counter()
    start_fresh(url, path)
    rng = random.Random(20261129)
    now = clock.now()
    with db.session_scope(url) as session:
        demo.generate(session=session, count=PATIENTS)
        settings.get(session=session)  # the settings row, so no timed call creates it
        staff_ids = [staff_auth.create_staff(session=session, username=name, full_name=full, role=role,
                                             password="bench-not-a-real-password", check_strength=False).id
                     for name, full, role in STAFF]
        # In the practice's zone, as the queue counts it.
        month_start, _ = tasks.month_start(settings.zone(session=session))
        sender = _accounts(session, rng, now)
        _tasks(session, rng, now, month_start, sender, staff_ids)
        session.commit()
    with db.engine(url).begin() as conn:
        conn.exec_driver_sql(f"PRAGMA user_version = {BENCH_VERSION}")
    print(f"Built {path} in {time.perf_counter() - started:.1f} s.")


def no_statistics(url: str) -> None:
    """No ANALYZE: the app never runs it, so neither does the benchmark (the planner's choices
    are the ones a practice's database gets)."""
    engine = db.engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS sqlite_stat1")
    engine.dispose()  # fresh connections see the schema as it is now


def refresh_locks(url: str) -> int:
    """Locks last minutes: lock a few accounts now, so the Locked filter finds some."""
    with db.session_scope(url) as session:
        session.execute(text("UPDATE portalaccount SET locked_until = NULL WHERE locked_until IS NOT NULL"))
        session.execute(text("UPDATE portalaccount SET locked_until = :until, failed_logins = 10 "
                             "WHERE id % 2500 = 7"), {"until": clock.now() + timedelta(hours=2)})
        session.commit()
        return session.exec(select(func.count()).where(col(PortalAccount.locked_until).is_not(None))).one()


# ---- timing ------------------------------------------------------------------------------------

def timed(url: str, runs: int, budget_s: float, call: Callable[..., object],
          args: Callable[[int], dict]) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds per run (at least 20 runs, else stops after `budget_s`); each run
    opens and closes its own session, as a handler does. CPU time leaves out waiting for a busy
    machine's processor."""
    for i in range(3):  # warm the page cache and the statement cache
        with db.session_scope(url) as session:
            call(session=session, **args(i))
    wall, cpu = [], []
    deadline = time.perf_counter() + budget_s
    for i in range(runs):
        if i >= 20 and time.perf_counter() > deadline:
            break
        kwargs = args(i)
        started, started_cpu = time.perf_counter_ns(), time.process_time_ns()
        with db.session_scope(url) as session:
            call(session=session, **kwargs)
        cpu.append((time.process_time_ns() - started_cpu) / 1e6)
        wall.append((time.perf_counter_ns() - started) / 1e6)
    return wall, cpu


def p(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def _summary(statement: str) -> str:
    sql = " ".join(statement.split())
    sql = re.sub(r"SELECT .*? FROM", "SELECT … FROM", sql, count=1) if "count(" not in sql else sql
    return sql if len(sql) <= 150 else sql[:147] + "…"


def queries_of(url: str, call: Callable, kwargs: dict) -> list[tuple[str, object]]:
    """The SELECTs one call runs against the big tables, in order."""
    engine = db.engine(url)
    captured: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if statement.lstrip().upper().startswith("SELECT") and any(
                re.search(rf"\b(FROM|JOIN) {table}\b", statement) for table in BIG_TABLES):
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with db.session_scope(url) as session:
            call(session=session, **kwargs)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return captured


def explain(url: str, statement: str, parameters, repeat: int = 7) -> tuple[list[str], float]:
    """SQLite's plan for a statement, and its median time (ms) run on its own."""
    raw = db.engine(url).raw_connection()
    try:
        cursor = raw.cursor()
        lines = [row[-1] for row in cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()]
        times = []
        for _ in range(repeat):
            started = time.perf_counter_ns()
            cursor.execute(statement, parameters).fetchall()
            times.append((time.perf_counter_ns() - started) / 1e6)
    finally:
        raw.close()
    return lines, statistics.median(times)


def plan_problems(lines: list[str], bounded_sort: str = "") -> tuple[list[str], list[str]]:
    """(problems, notes). A sort is only a note when the filter bounds it to a few rows, or when
    it sorts only the right part of the ORDER BY: the index gives the leading columns' order and
    each group of equal leading values (one chart's items) is sorted on its own. Whether the
    index walk itself is short shows in the query's own time."""
    problems, notes = [], []
    for line in lines:
        table = next((t for t in BIG_TABLES if re.match(rf"SCAN {t}\b", line)), None)
        if table and "INDEX" not in line:
            problems.append(f"full scan of {table}")
        if "TEMP B-TREE" in line:
            if "RIGHT PART OF ORDER BY" in line:
                notes.append("the index orders by chart; only each chart's own items are sorted")
            elif bounded_sort:
                notes.append(bounded_sort)
            else:
                problems.append("sorts in a temp b-tree")
    return problems, sorted(set(notes))


def short_searches(url: str, runs: int, budget_s: float) -> int:
    """User Management searched with 1-2 characters, one term at a time (the operations above
    cycle through three terms): accounts matched, server time, and the list query's own time.
    Returns how many terms miss the target."""
    print("\nUser Management short searches, term by term (ms; every account filter 'All'):")
    print(f"  {'term':<6} {'matches':>8} {'runs':>4} {'p50':>8} {'p95':>8}   {'cpu p50':>8} {'cpu p95':>8}   "
          f"{'query':>8}  wall p95 <= {TARGET_MS:g} ms")
    failed = 0
    for term in SHORT_SEARCHES:
        with db.session_scope(url) as session:
            matches = session.exec(portal_users._filtered(select(func.count()).select_from(PortalAccount),
                                                          search=term, status=AccountFilter.ALL)).one()
        wall, cpu = timed(url, runs, budget_s, portal_users.list_page, lambda i, term=term: {"search": term})
        statement, parameters = next((sql, params) for sql, params in
                                     queries_of(url, portal_users.list_page, {"search": term})
                                     if "FROM portalaccount" in sql)
        _lines, query_ms = explain(url, statement, parameters)
        verdict = "PASS" if p(wall, 95) <= TARGET_MS else "FAIL"
        failed += verdict == "FAIL"
        print(f"  {term!r:<6} {matches:8,d} {len(wall):4d} {p(wall, 50):8.2f} {p(wall, 95):8.2f}   "
              f"{p(cpu, 50):8.2f} {p(cpu, 95):8.2f}   {query_ms:8.2f}  {verdict}", flush=True)
    return failed


# ---- the run ---------------------------------------------------------------------------------

# (name, service function, the keyword arguments of run i)
Operation = tuple[str, Callable, Callable[[int], dict]]


@dataclass
class DataSet:
    """What the timed operations take from the database: the bench user, its open forwards, search
    terms from a fixed sample of accounts, and the cursors 10,000 rows into the user list."""
    me: int | None
    forwards_open: int
    emails: list[str]
    locals_: list[str]
    phones: list[str]
    lasts: list[str]
    last_firsts: list[str]
    first_lasts: list[str]
    charts: list[str]
    deep_user: str | None
    deep_enabled: str | None


class Counts(NamedTuple):
    status_counts: dict
    reviewed_month: int
    month_label: str
    forwards_open: int
    account_counts: dict
    must: int


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--budget", type=float, default=8.0,
                        help="seconds per operation before it stops early (after at least 20 runs)")
    parser.add_argument("--db", default="/tmp/portal_queue_bench.db")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--no-plans", action="store_true", help="skip the EXPLAIN QUERY PLAN section")
    return parser.parse_args(argv)


def _counts_of(session, me: int | None) -> Counts:
    """The queue's items by status, "Reviewed (month)", the bench user's open forwards, the accounts."""
    status_counts = dict(session.exec(select(PortalTask.status, func.count()).group_by(PortalTask.status)).all())
    _pending, reviewed_month, month_label = tasks.review_counts(session=session)
    forwards_open = session.exec(select(func.count()).select_from(TaskForward).where(
        TaskForward.to_staff_id == me, col(TaskForward.done_at).is_(None))).one()
    account_counts = dict(session.exec(select(PortalAccount.status, func.count())
                                       .group_by(PortalAccount.status)).all())
    must = session.exec(select(func.count()).where(col(PortalAccount.must_change_password).is_(True))).one()
    return Counts(status_counts, reviewed_month, month_label, forwards_open, account_counts, must)


def _sample_accounts(session) -> tuple[list[PortalAccount], list[str]]:
    """About 300 accounts picked with a fixed seed, and the chart numbers they are connected to."""
    rng = random.Random(7)
    sample = list(session.exec(select(PortalAccount).where(
        col(PortalAccount.id).in_([rng.randint(1, ACCOUNTS) for _ in range(300)]),
        col(PortalAccount.deleted_at).is_(None))))
    charts = [row[0] for row in session.execute(text(
        "SELECT p.chart_number FROM patient p JOIN portalconnection c ON c.patient_id = p.id "
        "WHERE c.revoked_at IS NULL AND c.account_id IN (%s)" % ",".join(str(a.id) for a in sample)))]
    return sample, charts


def _print_counts(counts: Counts, locked: int) -> None:
    print(f"Queue: {TASKS:,} items on {TASK_PATIENTS:,} of {PATIENTS:,} charts; "
          + ", ".join(f"{s.value} {n:,}" for s, n in counts.status_counts.items())
          + f" ({counts.reviewed_month:,} in {counts.month_label}, the Reviewed list)"
          + f"; {FORWARDS:,} forwards, {counts.forwards_open} open to the bench user.")
    print(f"Accounts: {ACCOUNTS:,}; " + ", ".join(f"{s.value} {n:,}" for s, n in counts.account_counts.items())
          + f"; must change {counts.must:,}; locked {locked}.")


def _walk(url: str, rows: int, **filters) -> str | None:
    """The user list's cursor after paging `rows` rows in."""
    with db.session_scope(url) as session:
        page = portal_users.list_page(session=session, **filters)
        walked = len(page.rows)
        while walked < rows and page.has_next:
            page = portal_users.list_page(session=session, after=page.last, **filters)
            walked += len(page.rows)
        return page.last


def describe_data_set(url: str, locked: int) -> DataSet:
    """Print what the database holds and take what the operations need from it."""
    with db.session_scope(url) as session:
        staff = session.exec(select(StaffUser).where(StaffUser.username == "bench")).one()
        me = staff.id
        counts = _counts_of(session, me)
        sample, charts = _sample_accounts(session)
    _print_counts(counts, locked)
    named = [a for a in sample if a.last_name]
    return DataSet(
        me=me, forwards_open=counts.forwards_open,
        emails=[a.user_id for a in sample if "@" in a.user_id],
        locals_=[a.user_id.split("@")[0][:12] for a in sample if "@" in a.user_id],
        phones=[a.user_id[2:9] for a in sample if a.user_id.startswith("+1")],
        lasts=[a.last_name[:3] for a in named],
        last_firsts=[f"{a.last_name}, {a.first_name[:2]}" for a in named],
        first_lasts=[f"{a.first_name} {a.last_name}" for a in named],
        charts=charts,
        deep_user=_walk(url, DEEP_ROWS),
        deep_enabled=_walk(url, DEEP_ROWS, status=AccountFilter.ENABLED),
    )


def queue_operations(data: DataSet) -> list[Operation]:
    """The Patient Portal queue's calls: counts, both review lists in each order (first page and
    10,000 rows deep), the communication list (first and last page)."""
    me = data.me
    deep_page = DEEP_ROWS // tasks.PAGE_SIZE + 1
    comm_pages = max(1, -(-data.forwards_open // tasks.PAGE_SIZE))

    def review(status: str, arrange: str, page: int = 1):
        return lambda i: {"staff_user_id": me, "status": status, "arrange": arrange, "page": page}

    queue_ops: list[Operation] = [
        ("my_tasks (both counts)", tasks.my_tasks, lambda i: {"staff_user_id": me}),
        ("review_counts", tasks.review_counts, lambda i: {}),
    ]
    for status in ("pending", "reviewed"):
        for arrange in (tasks.ARRANGE_REQUEST, tasks.ARRANGE_PATIENT, tasks.ARRANGE_DATE):
            queue_ops.append((f"review {status} by {arrange}, page 1", tasks.review_page, review(status, arrange)))
            queue_ops.append((f"review {status} by {arrange}, page {deep_page}", tasks.review_page,
                              review(status, arrange, deep_page)))
    queue_ops += [
        ("communication, page 1", tasks.communication_page, lambda i: {"staff_user_id": me}),
        (f"communication, page {comm_pages} (last)", tasks.communication_page,
         lambda i: {"staff_user_id": me, "page": comm_pages}),
    ]
    return queue_ops


def user_operations(data: DataSet) -> list[Operation]:
    """User Management's list: paging, each account filter, and searches of each kind."""
    emails, locals_, phones, charts = data.emails, data.locals_, data.phones, data.charts
    lasts, last_firsts, first_lasts = data.lasts, data.last_firsts, data.first_lasts
    deep_user, deep_enabled = data.deep_user, data.deep_enabled
    lp = portal_users.list_page
    return [
        ("users: first page", lp, lambda i: {}),
        (f"users: {DEEP_ROWS:,} rows deep", lp, lambda i: {"after": deep_user}),
        ("users: previous page (from deep)", lp, lambda i: {"before": deep_user}),
        ("users: enabled", lp, lambda i: {"status": AccountFilter.ENABLED}),
        (f"users: enabled, {DEEP_ROWS:,} deep", lp, lambda i: {"status": AccountFilter.ENABLED, "after": deep_enabled}),
        ("users: disabled", lp, lambda i: {"status": AccountFilter.DISABLED}),
        ("users: locked", lp, lambda i: {"status": AccountFilter.LOCKED}),
        ("users: must change password", lp, lambda i: {"status": AccountFilter.MUST_CHANGE}),
        ("users: whole email", lp, lambda i: {"search": emails[i % len(emails)]}),
        ("users: email start (no @)", lp, lambda i: {"search": locals_[i % len(locals_)]}),
        ("users: phone start", lp, lambda i: {"search": phones[i % len(phones)]}),
        ("users: last name prefix (3)", lp, lambda i: {"search": lasts[i % len(lasts)]}),
        ("users: 'last, fi'", lp, lambda i: {"search": last_firsts[i % len(last_firsts)]}),
        ("users: 'first last'", lp, lambda i: {"search": first_lasts[i % len(first_lasts)]}),
        ("users: chart number", lp, lambda i: {"search": charts[i % len(charts)]}),
        ("users: one letter ('s', 'm', 'j')", lp, lambda i: {"search": "smj"[i % 3]}),
        ("users: two letters ('ma', 'jo', 'sm')", lp, lambda i: {"search": ("ma", "jo", "sm")[i % 3]}),
        ("users: disabled + last name prefix", lp,
         lambda i: {"status": AccountFilter.DISABLED, "search": lasts[i % len(lasts)]}),
        ("users: locked + one letter", lp, lambda i: {"status": AccountFilter.LOCKED, "search": "smj"[i % 3]}),
    ]


def time_operations(url: str, runs: int, budget_s: float, queue_ops: list[Operation],
                    user_ops: list[Operation]) -> tuple[dict[str, tuple[float, float]], int]:
    """Time every operation and print the table. Returns ({name: (p50, p95)}, how many miss the target)."""
    results: dict[str, tuple[float, float]] = {}
    failed = 0
    load = os.getloadavg()[0]
    print(f"\nServer time per call, up to {runs} runs each (ms; load average {load:.2f} "
          f"on {os.cpu_count()} CPUs):")
    print(f"  {'operation':<42} {'runs':>4} {'p50':>8} {'p95':>8}   {'cpu p50':>8} {'cpu p95':>8}  "
          f"wall p95 <= {TARGET_MS:g} ms")
    for title, ops in (("Patient Portal queue (services/tasks.py)", queue_ops),
                       ("User Management (services/portal_users.py)", user_ops)):
        print(f"  {title}")
        for name, call, make_args in ops:
            wall, cpu = timed(url, runs, budget_s, call, make_args)
            p50, p95 = p(wall, 50), p(wall, 95)
            results[name] = (p50, p95)
            verdict = "PASS" if p95 <= TARGET_MS else "FAIL"
            failed += verdict == "FAIL"
            print(f"  {name:<42} {len(wall):4d} {p50:8.2f} {p95:8.2f}   {p(cpu, 50):8.2f} {p(cpu, 95):8.2f}  {verdict}",
                  flush=True)
    print(f"  (load average now {os.getloadavg()[0]:.2f}; on a busy machine wall p95 includes "
          "waiting for a CPU, which the cpu columns leave out)")
    return results, failed


def print_ratios(results: dict[str, tuple[float, float]], queue_ops: list[Operation],
                 user_ops: list[Operation]) -> None:
    print("\nRatios to each list's first page (p50, p95):")
    for base, names in (("review pending by request, page 1", [n for n, *_ in queue_ops]),
                        ("users: first page", [n for n, *_ in user_ops])):
        b50, b95 = results[base]
        print(f"  against '{base}':")
        for name in names:
            if name != base:
                p50, p95 = results[name]
                print(f"    {name:<42} {p50 / b50:7.2f}x {p95 / b95:7.2f}x")


def _bounded_sort(name: str, make_args: Callable[[int], dict]) -> str:
    """Why a sort in this operation's plan only sorts a few rows ("" when nothing says so)."""
    sort_notes = {
        "users: locked": "sorts only the locked accounts (locks last minutes: a handful)",
    }
    search_sort = name.startswith("users:") and "search" in make_args(0)
    return sort_notes.get(name, "") or ("sorts only the accounts the search matched" if search_sort else "")


def _print_plan(url: str, statement: str, parameters, bounded: str) -> tuple[str, list[str]]:
    """Time and explain one query and print it. Returns (its key among distinct plans, its problems)."""
    lines, ms = explain(url, statement, parameters)
    problems, notes = plan_problems(lines, bounded)
    if ms > TARGET_MS:
        problems.append(f"{ms:.0f} ms on its own")
    verdict = "PROBLEM: " + ", ".join(problems) if problems else "OK"
    print(f"    [{ms:7.2f} ms] {verdict}" + "".join(f" (note: {n})" for n in notes))
    print(f"        {_summary(statement)}")
    for line in lines:
        print(f"          {line}")
    return statement + repr(lines), problems


def query_plans(url: str, queue_ops: list[Operation], user_ops: list[Operation]) -> tuple[int, int]:
    """Every query of each list call, its own time and plan. Returns (distinct plans with a
    problem, distinct plans)."""
    print("\nEvery query of each list call against the big tables: its own time (median of 7, ms), "
          "then EXPLAIN QUERY PLAN:")
    plan_cases = [op for op in queue_ops if op[0] not in ("review_counts",)] + [
        op for op in user_ops if "deep" not in op[0] and "previous" not in op[0]]
    bad = total_plans = 0
    seen: set[str] = set()
    for name, call, make_args in plan_cases:
        print(f"  {name}:")
        for statement, parameters in queries_of(url, call, make_args(0)):
            key, problems = _print_plan(url, statement, parameters, _bounded_sort(name, make_args))
            total_plans += key not in seen
            bad += bool(problems) and key not in seen
            seen.add(key)
    return bad, total_plans


def print_summary(results: dict[str, tuple[float, float]], failed: int, bad: int, total_plans: int,
                  short_failed: int, started_run: float, started_run_cpu: float) -> None:
    print(f"\n{len(results) - failed}/{len(results)} operations at or under {TARGET_MS:g} ms at p95"
          + (f"; {total_plans - bad}/{total_plans} distinct plans with no full scan and no unbounded sort"
             if total_plans else "")
          + f"; short searches: {len(SHORT_SEARCHES) - short_failed}/{len(SHORT_SEARCHES)} terms at or under "
            f"{TARGET_MS:g} ms"
          + f". Run took {time.perf_counter() - started_run:.0f} s wall, "
            f"{time.process_time() - started_run_cpu:.0f} s CPU.")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started_run, started_run_cpu = time.perf_counter(), time.process_time()

    path = Path(args.db)
    url = f"sqlite:///{path}"
    build(url, path, args.rebuild)
    no_statistics(url)
    locked = refresh_locks(url)

    data = describe_data_set(url, locked)
    queue_ops, user_ops = queue_operations(data), user_operations(data)
    results, failed = time_operations(url, args.runs, args.budget, queue_ops, user_ops)
    print_ratios(results, queue_ops, user_ops)
    bad, total_plans = (0, 0) if args.no_plans else query_plans(url, queue_ops, user_ops)
    short_failed = short_searches(url, args.runs, args.budget)
    print_summary(results, failed, bad, total_plans, short_failed, started_run, started_run_cpu)
    return 0 if not failed and not bad else 1


if __name__ == "__main__":
    raise SystemExit(main())
