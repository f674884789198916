"""Server time of the onboarding list at 500,000 patients (not part of the test suite).

Builds (or reuses) a SQLite database under /tmp, then times what a state handler does for
each operation: open a session, call one `services.onboarding` function, close the session.
Prints p50/p95 per operation, ratios against the first page, PASS/FAIL against the 5 ms p95
target, and the query plan of every list query.

The list counts up to `onboarding.COUNT_CAP` rows: "a search as the app runs it" is
`first_page` (the first page and the capped count in one session), a jump to a letter
`page_from` (the page and the capped count of the rows before it), "Go to page" an OFFSET within
the cap. Exact counts, which only the bulk confirmation still runs, are timed apart with fewer
runs and no verdict. (Go to page over the whole table by OFFSET is gone: the list offers the
cap's pages only; before it, a random page at 5,000,000 took 438 ms.)

    python bench/onboarding.py [--patients 500000] [--runs 200] [--db /tmp/portal_bench.db] [--rebuild]
    python bench/onboarding.py --postgres /tmp/portal_bench_pg --patients 5000000

`--postgres DIR` runs the same on PostgreSQL 15: a cluster of its own in DIR (tests/pg_cluster.py,
kept after the run and started again next time, so the database is built once), database
`portal_bench`, the migrated schema, ANALYZE after the build as autovacuum would do.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, event, func, make_url, text  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402
from sqlmodel import col, select  # noqa: E402

from bench.sqlite_file import start_fresh  # noqa: E402
from portal_app import db  # noqa: E402
from portal_app.models import Patient, StaffUser  # noqa: E402
from portal_app.services import audit, demo, onboarding, staff_auth  # noqa: E402
from portal_app.services.onboarding import Cursor, StatusFilter  # noqa: E402
from tests import pg_cluster  # noqa: E402

TARGET_MS = 5.0
DEEP_ROWS = 10_000


def _count(url: str) -> int:
    with db.session_scope(url) as session:
        return demo.patient_count(session=session)


def on_postgres(url: str) -> bool:
    return url.startswith("postgresql")


def _fresh_postgres(url: str) -> None:
    """Drop and create the benchmark's database (C collation, as the README asks) and migrate it."""
    db.forget(url)
    name = make_url(url).database
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT",
                          poolclass=NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}" LOCALE "C.UTF-8" TEMPLATE template0')
    admin.dispose()
    db.migrate(url)


def build(url: str, path: Path, patients: int, rebuild: bool) -> None:
    """Reuse the database when it holds exactly `patients` charts and a staff user; else build it."""
    exists = _postgres_has(url) if on_postgres(url) else path.exists()
    if exists and not rebuild:
        try:
            db.migrate(url)
            with db.session_scope(url) as session:
                has_staff = session.exec(select(StaffUser)).first() is not None
            if has_staff and _count(url) == patients:
                print(f"Reusing {path} ({patients:,} patients).")
                return
        except Exception as exc:  # a half-built file from an interrupted run
            print(f"Cannot reuse {path}: {exc}")
        print(f"{path} is not the right size; rebuilding.")
    started = time.perf_counter()
    if on_postgres(url):
        _fresh_postgres(url)
    else:
        start_fresh(url, path)
    with db.session_scope(url) as session:
        # In steps, each committed, so a 5,000,000-chart build shows it is alive.
        step = 500_000
        for done in range(0, patients, step):
            demo.generate(session=session, count=min(step, patients - done))  # about 1 in 4 enabled
            print(f"  {done + min(step, patients - done):,} patients ({time.perf_counter() - started:.0f} s)",
                  flush=True)
        # Give the status filters something to find: some enabled charts invited, some active.
        for state, remainder in (("INVITED", 0), ("ACTIVE", 1)):
            session.execute(text(f"UPDATE patient SET account_state = '{state}' "
                                 "WHERE portal_enabled = :yes AND id % 5 = :remainder"),
                            {"yes": True, "remainder": remainder})
        session.commit()
        staff_auth.create_staff(session=session, username="bench", full_name="Bench Mark",
                                password="bench-not-a-real-password", check_strength=False)
    if on_postgres(url):
        with db.engine(url).connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    print(f"Built {path} with {patients:,} patients in {time.perf_counter() - started:.1f} s.")


def _postgres_has(url: str) -> bool:
    admin = create_engine(make_url(url).set(database="postgres"), poolclass=NullPool)
    try:
        with admin.connect() as connection:
            return connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                      {"name": make_url(url).database}).first() is not None
    finally:
        admin.dispose()


def timed(url: str, runs: int, call: Callable[..., object],
          args: Callable[[int], dict]) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds per run; each run opens and closes its own session, as a
    handler does. CPU time leaves out waiting for a busy machine's processor."""
    for i in range(5):  # warm the page cache and the statement cache
        with db.session_scope(url) as session:
            call(session=session, **args(i))
    wall, cpu = [], []
    for i in range(runs):
        kwargs = args(i)
        started, started_cpu = time.perf_counter_ns(), time.process_time_ns()
        with db.session_scope(url) as session:
            call(session=session, **kwargs)
        cpu.append((time.process_time_ns() - started_cpu) / 1e6)
        wall.append((time.perf_counter_ns() - started) / 1e6)
    return wall, cpu


def p(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def plan_of(url: str, **kwargs) -> tuple[str, list[str]]:
    """The SQL list_page runs for these arguments, and SQLite's plan for it."""
    engine = db.engine(url)
    captured: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if statement.lstrip().upper().startswith("SELECT") and "FROM patient" in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with db.session_scope(url) as session:
            onboarding.list_page(session=session, **kwargs)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = captured[-1]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(("EXPLAIN " if on_postgres(url) else "EXPLAIN QUERY PLAN ") + statement, parameters)
        rows = cursor.fetchall()
    finally:
        raw.close()
    return statement, [row[-1] for row in rows]


def pg_plan_problems(lines: list[str], *, bounded_sort: bool = False) -> tuple[list[str], list[str]]:
    """PostgreSQL's EXPLAIN: a sequential scan of patient is a problem; so is a sort the planner
    expects to sort more than a page's worth of rows for, unless the filter bounds it."""
    problems, notes = [], []
    for line in lines:
        if "Seq Scan on patient" in line:
            problems.append("full table scan")
        node = line.strip().lstrip("->").strip()
        if node.startswith("Sort ") and "rows=" in line:
            rows = int(line.split("rows=", 1)[1].split()[0])
            if rows > 1_000 and not bounded_sort:
                problems.append(f"sorts about {rows:,} rows")
            elif rows > 1_000:
                notes.append(f"sorts about {rows:,} rows matching the email prefix")
    return problems, notes


def plan_problems(lines: list[str], *, bounded_sort: bool = False) -> tuple[list[str], list[str]]:
    """(problems, notes). A sort is only a note when the filter bounds it to a few rows."""
    problems, notes = [], []
    for line in lines:
        if line.startswith("SCAN patient") and "INDEX" not in line:
            problems.append("full table scan")
        if "TEMP B-TREE" in line:
            if bounded_sort:
                notes.append("sorts only the rows matching the email prefix, which always holds the "
                             "whole local part and '@' (a handful, unless many charts share one address)")
            else:
                problems.append("sorts in a temp b-tree")
    return problems, notes


def cursor_at(url: str, rows: int, **filters) -> Cursor:
    """Walk the pages as a user pressing Next would, to the cursor before row `rows`."""
    with db.session_scope(url) as session:
        page = onboarding.list_page(session=session, **filters)
        walked = len(page.rows)
        while walked < rows and page.has_next:
            page = onboarding.list_page(session=session, after=page.last, **filters)
            walked += len(page.rows)
        return page.last


def jump_to_row(*, session, row: int, **filters):
    """"Go to page": the OFFSET walk to the page's first row, then the keyset page from it."""
    filters = {"search": "", "status": StatusFilter.ALL, **filters}
    cursor = onboarding.cursor_before_row(session=session, row=row, **filters)
    return onboarding.list_page(session=session, after=cursor, **filters)


def new_search(*, session, search: str = "", status: StatusFilter = StatusFilter.ALL):
    """A new search or filter as the app runs it: the first page and the capped count, one call."""
    return onboarding.first_page(session=session, search=search, status=status, cap=onboarding.COUNT_CAP)


def jump_to_letter(*, session, letter: str, **filters):
    """"Last names from": the keyset page from the letter and the capped count of the rows before it."""
    filters = {"search": "", "status": StatusFilter.ALL, **filters}
    return onboarding.page_from(session=session, cursor=onboarding.letter_cursor(letter),
                                cap=onboarding.COUNT_CAP, **filters)


def previous_uncounted(*, session, url: str, cursor: Cursor, **filters):
    """Previous from a page whose row number was not counted (a letter past the cap): the page
    before it, then in another call the capped count of the rows before that page."""
    filters = {"search": "", "status": StatusFilter.ALL, **filters}
    page = onboarding.list_page(session=session, before=cursor, **filters)
    with db.session_scope(url) as other:
        onboarding.count_before(session=other, cursor=page.first, cap=onboarding.COUNT_CAP, **filters)
    return page


def refresh_in_place(*, session, url: str, cursor: Cursor, **filters):
    """The page re-read after a bulk job, and the capped count again (two calls in the app)."""
    filters = {"search": "", "status": StatusFilter.ALL, **filters}
    page = onboarding.list_page(session=session, after=cursor, **filters)
    with db.session_scope(url) as other:
        onboarding.count_matching(session=other, cap=onboarding.COUNT_CAP, **filters)
    return page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--db", default="/tmp/portal_bench.db")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--postgres", metavar="DIR", type=Path,
                        help="run on PostgreSQL: a cluster of its own in DIR, kept for the next run")
    args = parser.parse_args(argv)

    if args.postgres:
        # A real server gives PostgreSQL more than the tests' 64 MB; durability stays off (a benchmark).
        server, folder = pg_cluster.start(args.postgres, settings={"shared_buffers": "'1GB'",
                                                                   "effective_cache_size": "'8GB'"})
        url = make_url(server).set(database="portal_bench").render_as_string(hide_password=False)
        path = folder
        print(f"PostgreSQL cluster in {folder} (stop it: python tests/pg_cluster.py stop --keep {folder})")
    else:
        path = Path(args.db)
        url = f"sqlite:///{path}"
    build(url, path, args.patients, args.rebuild)

    with db.session_scope(url) as session:
        staff = session.exec(select(StaffUser)).first()
        actor = audit.Actor.staff(staff.id, "127.0.0.1")
        # Real values to search for, spread over the table.
        rng = random.Random(7)
        sample = list(session.exec(select(Patient).where(
            col(Patient.id).in_([rng.randint(1, args.patients) for _ in range(400)]))))
        red = list(session.exec(select(Patient.id).where(col(Patient.portal_enabled).is_(False))
                                .where(col(Patient.id) > rng.randint(1, args.patients // 2))
                                .limit(args.runs + 10)))
        counts = dict(session.exec(select(Patient.account_state, func.count())
                                   .group_by(Patient.account_state)).all())
        enabled = session.exec(select(func.count()).where(col(Patient.portal_enabled).is_(True))).one()
    print(f"Patients: {args.patients:,}; enabled {enabled:,}; "
          + ", ".join(f"{state.value} {n:,}" for state, n in counts.items()))

    lasts = [p.last_name for p in sample]
    last_firsts = [f"{p.last_name}, {p.first_name[:2]}" for p in sample]
    first_lasts = [f"{p.first_name} {p.last_name}" for p in sample]
    dobs = [p.dob.strftime("%m/%d/%Y") if i % 2 else p.dob.isoformat() for i, p in enumerate(sample)]
    charts = [p.chart_number for p in sample]
    emails = [p.email_lower[: p.email_lower.index("@") + 1] for p in sample if p.email_lower]
    email_starts = [email[:-3] for email in emails]  # "anna.adams1" of "anna.adams10@": no "@"
    count = onboarding.count_matching
    cap = onboarding.COUNT_CAP
    letters = "abcdefghijklmnopqrstuvwxyz"

    deep = cursor_at(url, DEEP_ROWS)
    deep_red = cursor_at(url, DEEP_ROWS, status=StatusFilter.NOT_ENABLED)
    runs = args.runs
    list_page = onboarding.list_page
    operations: list[tuple[str, Callable, Callable[[int], dict]]] = [
        ("first page", list_page, lambda i: {}),
        (f"page {DEEP_ROWS:,} rows deep", list_page, lambda i: {"after": deep}),
        ("previous page (from deep)", list_page, lambda i: {"before": deep}),
        ("name prefix 'last'", list_page, lambda i: {"search": lasts[i % len(lasts)][:4]}),
        ("name 'last, first'", list_page, lambda i: {"search": last_firsts[i % len(last_firsts)]}),
        ("name 'first last'", list_page, lambda i: {"search": first_lasts[i % len(first_lasts)]}),
        ("DOB search (both formats)", list_page, lambda i: {"search": dobs[i % len(dobs)]}),
        ("chart number", list_page, lambda i: {"search": charts[i % len(charts)]}),
        ("email prefix", list_page, lambda i: {"search": emails[i % len(emails)]}),
        ("status: not enabled", list_page, lambda i: {"status": StatusFilter.NOT_ENABLED}),
        (f"status: not enabled, {DEEP_ROWS:,} deep", list_page,
         lambda i: {"status": StatusFilter.NOT_ENABLED, "after": deep_red}),
        ("status: invited", list_page, lambda i: {"status": StatusFilter.INVITED}),
        ("status: enabled + name prefix", list_page,
         lambda i: {"status": StatusFilter.ENABLED, "search": lasts[i % len(lasts)][:3]}),
        ("status: not enabled + DOB", list_page,
         lambda i: {"status": StatusFilter.NOT_ENABLED, "search": dobs[i % len(dobs)]}),
        ("status: invited + DOB", list_page,
         lambda i: {"status": StatusFilter.INVITED, "search": dobs[i % len(dobs)]}),
        ("status: not enabled + email prefix", list_page,
         lambda i: {"status": StatusFilter.NOT_ENABLED, "search": emails[i % len(emails)]}),
        ("email start, no '@'", list_page, lambda i: {"search": email_starts[i % len(email_starts)]}),
        ("search as the app runs it: all patients", new_search, lambda i: {}),
        ("search: not enabled", new_search, lambda i: {"status": StatusFilter.NOT_ENABLED}),
        ("search: invited", new_search, lambda i: {"status": StatusFilter.INVITED}),
        ("search: name prefix 'last'", new_search, lambda i: {"search": lasts[i % len(lasts)][:4]}),
        ("search: name 'last, first'", new_search, lambda i: {"search": last_firsts[i % len(last_firsts)]}),
        ("search: enabled + name prefix", new_search,
         lambda i: {"status": StatusFilter.ENABLED, "search": lasts[i % len(lasts)][:3]}),
        ("search: DOB", new_search, lambda i: {"search": dobs[i % len(dobs)]}),
        ("search: email start, no '@'", new_search, lambda i: {"search": email_starts[i % len(email_starts)]}),
        (f"go to page within the cap ({cap // 50} pages)", jump_to_row,
         lambda i: {"row": random.Random(i).randrange(cap // 50) * 50}),
        (f"go to page {cap // 50} (the cap's last)", jump_to_row, lambda i: {"row": cap - 50}),
        ("go to page within the cap, not enabled", jump_to_row,
         lambda i: {"row": random.Random(i).randrange(cap // 50) * 50, "status": StatusFilter.NOT_ENABLED}),
        ("jump to a letter (capped count)", jump_to_letter, lambda i: {"letter": letters[i % 26]}),
        ("jump to a letter, invited", jump_to_letter,
         lambda i: {"letter": letters[i % 26], "status": StatusFilter.INVITED}),
        ("last page by keyset (nobody from Z on)", list_page, lambda i: {"before": onboarding.END}),
        ("previous page, row number uncounted", previous_uncounted, lambda i: {"cursor": deep, "url": url}),
        ("refresh in place (page + capped count)", refresh_in_place, lambda i: {"cursor": deep, "url": url}),
        ("enable access (new patient each run)", onboarding.enable_access,
         lambda i: {"patient_id": red[i % len(red)], "actor": actor}),
    ]

    results: dict[str, tuple[float, float]] = {}
    print(f"\nServer time per call, {runs} runs each (ms; load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} CPUs):")
    print(f"  {'operation':<40} {'p50':>7} {'p95':>7}   {'cpu p50':>7} {'cpu p95':>7}  "
          f"wall p95 < {TARGET_MS:g} ms")
    failed = 0
    for name, call, make_args in operations:
        wall, cpu = timed(url, runs, call, make_args)
        p50, p95 = p(wall, 50), p(wall, 95)
        results[name] = (p50, p95)
        verdict = "PASS" if p95 < TARGET_MS else "FAIL"
        failed += verdict == "FAIL"
        print(f"  {name:<40} {p50:7.3f} {p95:7.3f}   {p(cpu, 50):7.3f} {p(cpu, 95):7.3f}  {verdict}")
    print(f"  (load average now {os.getloadavg()[0]:.2f}; on a busy machine wall p95 includes "
          "waiting for a CPU, which the cpu columns leave out)")

    # What the list no longer runs: exact counts (the bulk confirmation's "Enable and invite all N").
    exact_runs = min(runs, 20)
    informational = [
        ("exact count: all patients", {"search": "", "status": StatusFilter.ALL}),
        ("exact count: not enabled", {"search": "", "status": StatusFilter.NOT_ENABLED}),
        ("exact count: invited", {"search": "", "status": StatusFilter.INVITED}),
        ("exact count: name prefix 'last'", {"search": lasts[0][:4], "status": StatusFilter.ALL}),
    ]
    print(f"\nExact counts, informational ({exact_runs} runs each; only the bulk confirmation counts "
          "exactly, the list stops at the cap):")
    for name, kwargs in informational:
        wall, cpu = timed(url, exact_runs, count, lambda i, kwargs=kwargs: kwargs)
        print(f"  {name:<40} {p(wall, 50):7.3f} {p(wall, 95):7.3f}   {p(cpu, 50):7.3f} {p(cpu, 95):7.3f}  (info)")

    # Put the benchmark's patients back to red, so a reused database stays the same shape.
    with db.session_scope(url) as session:
        session.execute(text("UPDATE patient SET portal_enabled = :no WHERE id IN (%s)"
                             % ",".join(str(int(i)) for i in red)), {"no": False})
        session.commit()

    first50, first95 = results["first page"]
    print("\nRatios to the first page (p50, p95):")
    for name, (p50, p95) in results.items():
        if name != "first page":
            print(f"  {name:<40} {p50 / first50:6.2f}x {p95 / first95:6.2f}x")

    print(f"\n{'EXPLAIN' if on_postgres(url) else 'EXPLAIN QUERY PLAN'} of each list query:")
    plans = [
        ("first page", {}),
        ("deep page (after cursor)", {"after": deep}),
        ("previous page (before cursor)", {"before": deep}),
        ("name prefix", {"search": "smit"}),
        ("name 'last, first' + cursor", {"search": "smith, ma", "after": Cursor("smith\x1fm", 1)}),
        ("DOB", {"search": dobs[0]}),
        ("chart number", {"search": charts[0]}),
        ("email prefix", {"search": emails[0]}),
        ("status: not enabled", {"status": StatusFilter.NOT_ENABLED}),
        ("status: not enabled, deep", {"status": StatusFilter.NOT_ENABLED, "after": deep_red}),
        ("status: invited", {"status": StatusFilter.INVITED}),
        ("status: enabled + name prefix", {"status": StatusFilter.ENABLED, "search": "smi"}),
        ("status: invited + DOB", {"status": StatusFilter.INVITED, "search": dobs[0]}),
        ("status: not enabled + DOB", {"status": StatusFilter.NOT_ENABLED, "search": dobs[1]}),
        ("status: not enabled + email prefix", {"status": StatusFilter.NOT_ENABLED, "search": emails[0]}),
    ]
    bad_plans = 0
    for name, kwargs in plans:
        _sql, lines = plan_of(url, **kwargs)
        judge = pg_plan_problems if on_postgres(url) else plan_problems
        problems, notes = judge(lines, bounded_sort="email" in name)
        bad_plans += bool(problems)
        verdict = "PROBLEM: " + ", ".join(problems) if problems else "OK"
        print(f"  {name}: {verdict}" + "".join(f" (note: {note})" for note in notes))
        for line in lines:
            print(f"      {line}")

    print(f"\n{len(operations) - failed}/{len(operations)} operations under {TARGET_MS:g} ms at p95; "
          f"{len(plans) - bad_plans}/{len(plans)} plans use an index with no full scan and no unbounded sort.")
    return 0 if not failed and not bad_plans else 1


if __name__ == "__main__":
    raise SystemExit(main())
