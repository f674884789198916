"""Import jobs: one uploaded file's format, column mapping, preview, dry run and import.

The job row is the source of truth for progress (the `bulk.py` pattern): counts are committed
with each batch of charts, in the same transaction, and `resume_after` says how many of the
file's records are done. A restart marks a running job interrupted (`mark_interrupted`); running
the import again resumes after `resume_after`, so no row is ever applied twice. A dry run writes
nothing but its counts and its refused/updated rows (`ImportRowResult`, dry_run=True).
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, insert, update
from sqlmodel import Session, col, func, select

from portal_app.models import ImportJob, ImportRowResult, ident
from portal_app.services import audit, clock, leases, patient_records, settings
from portal_app.services.errors import DomainError, InvalidInput, NotFound
from portal_app.services.importing import csv_source, detect
from portal_app.services.importing.rows import SourceRow
from portal_app.services.patient_records import FIELDS, Outcome, PatientRecord

BATCH = 2000
# In its own process (run_in_own_process) an import works in smaller batches and pauses after
# each, so a staff click that writes waits at most one short batch (bench/import.py).
SHARED_BATCH = 250
SHARED_PAUSE = 0.010
# The worker process runs this much "nicer" than the server (os.nice), so the CPU goes to a click first.
IMPORT_NICENESS = 10
LEFT_ALONE = 3  # the worker's exit code when another worker had the job already
PAGE_SIZE = 50
PREVIEW = 20
# A finished job is still offered on the import page for this long.
RECENT = timedelta(hours=12)

UPLOADED = "uploaded"
CHECKED = "checked"  # a dry run finished
RUNNING = "running"
DONE = "done"
FAILED = "failed"
INTERRUPTED = "interrupted"
NOTHING_CHANGED = "Nothing changed: every chart already matches the file."

Progress = Callable[["JobView"], None]
# The SQLite settings of a process that only imports (`python -m portal_app import`, the worker of
# run_in_own_process): a 128 MB page cache keeps the indexes it inserts into in memory (db.py
# gives every connection 64 MB), and no memory-mapped reads (db.py maps up to 256 MB, which an
# import touching index pages all over the file would make resident).
IMPORT_PRAGMAS = ("PRAGMA cache_size=-131072", "PRAGMA mmap_size=0")


@dataclass(frozen=True)
class JobView:
    """A job as the page shows it (plain values: no stored path, no rows)."""

    id: int
    file_name: str
    file_size: int
    file_format: str  # csv, fhir-bundle, ndjson
    format_label: str  # "CSV (UTF-8, comma-separated)"
    status: str  # uploaded, checked, running, done, failed, interrupted
    dry_run: bool  # the counts are a dry run's
    total: int
    processed: int
    percent: int
    new: int
    updated: int
    unchanged: int
    refused: int
    skipped: int
    error: str
    summary: str
    mapping: tuple[tuple[str, str], ...]  # (our field, the file's column), FIELDS order
    can_resume: bool  # an import stopped part-way: running it again continues after the last done row


@dataclass(frozen=True)
class PreviewRow:
    line: int
    chart_number: str
    values: tuple[tuple[str, str], ...]  # (our field, the value as it will be stored, shown)
    outcome: str  # new, updated, unchanged, refused
    reason: str  # why it is refused ("" otherwise)


@dataclass(frozen=True)
class ResultRow:
    line: int
    chart_number: str
    detail: str  # the reason (refused) or "Label: old -> new; ..." (updated)


@dataclass(frozen=True)
class ResultPage:
    rows: tuple[ResultRow, ...]
    total: int
    page: int
    pages: int


def _label(job: ImportJob) -> str:
    if not job.file_format:
        return ""
    return detect.Detected(job.file_format, job.encoding, job.delimiter).describe()


def summary_of(job: ImportJob) -> str:
    """E.g. "Dry run: 120 new · 3 updated · 5 unchanged · 2 refused"."""
    if job.status in (UPLOADED,) and not job.processed:
        return ""
    if job.status == DONE and not job.dry_run and job.unchanged and not job.new and not job.updated:
        refused = f" {job.refused} {'row was' if job.refused == 1 else 'rows were'} refused." if job.refused else ""
        return NOTHING_CHANGED + refused
    counts = [f"{job.new} new", f"{job.updated} updated", f"{job.unchanged} unchanged", f"{job.refused} refused"]
    if job.skipped:
        counts.append(f"{job.skipped} skipped (not patients)")
    verb = {RUNNING: "Checking" if job.dry_run else "Importing", CHECKED: "Dry run",
            DONE: "Imported", FAILED: "Stopped", INTERRUPTED: "Interrupted"}.get(job.status, "")
    if job.status in (FAILED, INTERRUPTED) and job.dry_run:
        verb += " (dry run)"
    return f"{verb}: " + " · ".join(counts)


def view_of(job: ImportJob) -> JobView:
    percent = 0 if job.total == 0 else min(100, job.processed * 100 // job.total)
    if job.status in (DONE, CHECKED):
        percent = 100
    mapping = json.loads(job.mapping) if job.mapping else {}
    return JobView(
        id=ident(job), file_name=job.file_name, file_size=job.file_size, file_format=job.file_format,
        format_label=_label(job), status=job.status, dry_run=job.dry_run, total=job.total,
        processed=job.processed, percent=percent, new=job.new, updated=job.updated, unchanged=job.unchanged,
        refused=job.refused, skipped=job.skipped, error=job.error, summary=summary_of(job),
        mapping=tuple((field, mapping[field]) for field in FIELDS if field in mapping),
        can_resume=_resumable(job))


def _resumable(job: ImportJob) -> bool:
    return job.status in (FAILED, INTERRUPTED) and not job.dry_run and job.resume_after > 0


def _job(session: Session, job_id: int, actor: audit.Actor | None = None) -> ImportJob:
    """The job (refreshed: another thread may be working it); NotFound for another staff user's."""
    job = session.get(ImportJob, job_id)
    if job is None or (actor is not None and actor.kind == "staff" and job.staff_user_id != actor.staff_user_id):
        raise NotFound("That import does not exist.")
    session.refresh(job)
    return job


def create_job(*, session: Session, actor: audit.Actor, file_name: str, stored_path: str,
               file_size: int) -> JobView:
    """Register an uploaded file (already on disk): detect its format; for a CSV read its header
    and guess the mapping. Audited; committed.

    Raises:
        InvalidInput (field "file"): the file is empty, binary, JSON that is not FHIR, a CSV with
            only a header row, or a header we cannot use.
    """
    name = Path(file_name or "upload").name[:255]
    try:
        found = detect.detect(stored_path)
        mapping: dict[str, str] = {}
        if found.fmt == detect.CSV:
            columns = csv_source.header(stored_path, encoding=found.encoding, delimiter=found.delimiter)
            mapping = csv_source.guess_mapping(columns)
    except InvalidInput as refused:
        audit.record(session=session, actor=actor, action="import.refused",
                     detail=f"file={name!r}; size={file_size}; {refused.message}")
        session.commit()
        raise
    job = ImportJob(staff_user_id=actor.staff_user_id, file_name=name, stored_path=str(stored_path),
                    file_size=file_size, file_format=found.fmt, encoding=found.encoding,
                    delimiter=found.delimiter, mapping=json.dumps(mapping), created_at=clock.now())
    session.add(job)
    session.flush()
    audit.record(session=session, actor=actor, action="import.upload",
                 detail=f"job #{job.id}: file={name!r}; size={file_size}; format={found.describe()}")
    session.commit()
    session.refresh(job)
    return view_of(job)


def columns(*, session: Session, job_id: int) -> list[str]:
    """The CSV's column names, in file order ([] for FHIR)."""
    job = _job(session, job_id)
    if job.file_format != detect.CSV:
        return []
    return csv_source.header(job.stored_path, encoding=job.encoding, delimiter=job.delimiter)


def guess_mapping(*, session: Session, job_id: int) -> dict[str, str]:
    """Our field -> column, guessed from the header names."""
    return csv_source.guess_mapping(columns(session=session, job_id=job_id))


def save_mapping(*, session: Session, job_id: int, mapping: dict[str, str], actor: audit.Actor) -> JobView:
    """Keep the staff user's column choices (a changed mapping needs a new dry run). Audited.

    Raises:
        InvalidInput: `field=` the field whose column is unknown or already used, or "chart_number".
    """
    job = _job(session, job_id, actor)
    if job.status == RUNNING:
        raise InvalidInput("This import is running; wait for it to finish before changing the columns.")
    kept = csv_source.check_mapping(mapping, columns(session=session, job_id=job_id))
    text = json.dumps(kept)
    if text != job.mapping:  # (the same columns again keep the job as it is: a stopped import stays resumable)
        old = json.loads(job.mapping) if job.mapping else {}
        job.mapping = text
        _reset(job, dry_run=True)
        job.status = UPLOADED
        session.add(job)
        audit.record(session=session, actor=actor, action="import.mapping",
                     detail=f"job #{job.id}: " + "; ".join(f"{FIELDS[key]}: {old.get(key, '')} -> {value}"
                                                          for key, value in kept.items() if old.get(key) != value))
    session.commit()
    return view_of(job)


def fhir_rows(path: str, *, fmt: str, chart_system: str) -> Iterator[SourceRow]:
    """The FHIR reader (services/importing/fhir_source.py)."""
    module = importlib.import_module("portal_app.services.importing.fhir_source")
    rows: Iterator[SourceRow] = module.read(path, fmt=fmt, chart_system=chart_system)
    return rows


def source_rows(*, session: Session, job: ImportJob, charts_only: bool = False) -> Iterator[SourceRow]:
    """The job's file, one SourceRow at a time (`charts_only`: a CSV's chart and line numbers alone)."""
    if job.file_format == detect.CSV:
        mapping = json.loads(job.mapping) if job.mapping else {}
        return csv_source.read(job.stored_path, encoding=job.encoding, delimiter=job.delimiter, mapping=mapping,
                               charts_only=charts_only)
    system = settings.get(session=session).fhir_chart_system
    return fhir_rows(job.stored_path, fmt=job.file_format, chart_system=system)


def _shown_values(record: PatientRecord) -> tuple[tuple[str, str], ...]:
    shown: list[tuple[str, str]] = []
    for item in fields(record):
        value = getattr(record, item.name)
        if item.name in FIELDS and value is not None:
            shown.append((item.name, patient_records.shown(value)))
    return tuple(shown)


def preview(*, session: Session, job_id: int, limit: int = PREVIEW) -> list[PreviewRow]:
    """The first `limit` rows as they will be stored (cleaned), each with what would happen."""
    job = _job(session, job_id)
    rows: list[PreviewRow] = []
    for row in source_rows(session=session, job=job):
        if len(rows) >= limit:
            break
        if row.skipped:
            continue
        if row.record is None:
            rows.append(PreviewRow(row.line, row.chart_number, (), "refused", row.error))
            continue
        try:
            cleaned = patient_records.clean(row.record, phones_as_written=True)
            result = patient_records.upsert(session=session, record=row.record, actor=audit.Actor.system("preview"),
                                            source="preview", dry_run=True)
        except InvalidInput as refused:
            rows.append(PreviewRow(row.line, row.chart_number, _shown_values(row.record), "refused",
                                   refused.message))
            continue
        rows.append(PreviewRow(row.line, cleaned.chart_number, _shown_values(cleaned), result.kind, ""))
    session.rollback()
    return rows


def _reset(job: ImportJob, *, dry_run: bool) -> None:
    job.dry_run = dry_run
    job.total = job.processed = job.resume_after = 0
    job.new = job.updated = job.unchanged = job.refused = job.skipped = 0
    job.error = ""
    job.started_at = clock.now()
    job.finished_at = None


def _claim(session: Session, job: ImportJob, dry_run: bool) -> bool:
    """Mark the job running (once: a second click or tab gets False). A stopped import resumes."""
    if job.status == RUNNING:
        return False
    if job.file_format == detect.CSV and not job.mapping:
        raise InvalidInput("Choose the columns first.", field="chart_number")
    resume = not dry_run and _resumable(job)
    claimed = session.execute(update(ImportJob).where(col(ImportJob.id) == job.id, col(ImportJob.status) == job.status)
                              .values(status=RUNNING, lease_owner=leases.OWNER,
                                      lease_expires_at=clock.now() + leases.LEASE))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return False
    session.refresh(job)
    if not resume:
        _reset(job, dry_run=dry_run)
        session.execute(delete(ImportRowResult).where(col(ImportRowResult.job_id) == job.id,
                                                      col(ImportRowResult.dry_run) == dry_run))
    job.error = ""
    session.add(job)
    session.commit()
    return True


def _duplicates(rows: Iterator[SourceRow]) -> tuple[dict[str, list[int]], int]:
    """Chart numbers on more than one row (-> their lines), and how many records the file has.
    The chart numbers wait in a scratch SQLite file, not in memory (500,000 of them would
    take about 60 MB as a dict)."""
    total = 0
    with tempfile.TemporaryDirectory(prefix="portal-import-") as folder:
        scratch = sqlite3.connect(Path(folder) / "charts.db")
        try:
            scratch.execute("CREATE TABLE seen (chart TEXT NOT NULL, line INTEGER NOT NULL)")
            pending: list[tuple[str, int]] = []
            for row in rows:
                total += 1
                if row.chart_number and not row.skipped:
                    pending.append((row.chart_number, row.line))
                if len(pending) >= 10_000:
                    scratch.executemany("INSERT INTO seen VALUES (?, ?)", pending)
                    pending = []
            scratch.executemany("INSERT INTO seen VALUES (?, ?)", pending)
            repeated: dict[str, list[int]] = {}
            for chart, line in scratch.execute(
                    "SELECT chart, line FROM seen WHERE chart IN (SELECT chart FROM seen GROUP BY chart "
                    "HAVING COUNT(*) > 1) ORDER BY chart, line"):
                repeated.setdefault(chart, []).append(line)
        finally:
            scratch.close()
    return repeated, total


def _duplicate_reason(chart: str, lines: list[int]) -> str:
    where = ", ".join(str(line) for line in lines[:-1]) + f" and {lines[-1]}"
    return f"Chart number {chart} is on lines {where} of the file; none of them was imported. Keep one row per chart."


@dataclass
class _Batch:
    """One batch's rows on their way to the database."""

    results: list[dict[str, object]]
    records: list[tuple[SourceRow, PatientRecord]]
    refused: int = 0
    skipped: int = 0


def _sort(rows: list[tuple[int, SourceRow]], repeated: dict[str, list[int]], job_id: int, dry_run: bool) -> _Batch:
    batch = _Batch([], [])
    for _, row in rows:
        if row.skipped:
            batch.skipped += 1
        elif row.chart_number in repeated:
            batch.refused += 1
            batch.results.append(_result(job_id, dry_run, "refused", row.line, row.chart_number,
                                         _duplicate_reason(row.chart_number, repeated[row.chart_number])))
        elif row.record is None:
            batch.refused += 1
            batch.results.append(_result(job_id, dry_run, "refused", row.line, row.chart_number, row.error))
        else:
            batch.records.append((row, row.record))
    return batch


def _result(job_id: int, dry_run: bool, outcome: str, line: int, chart: str, detail: str) -> dict[str, object]:
    return {"job_id": job_id, "dry_run": dry_run, "outcome": outcome, "line": line, "chart_number": chart[:40],
            "detail": detail[:2000]}


def _apply(session: Session, job: ImportJob, rows: list[tuple[int, SourceRow]], repeated: dict[str, list[int]],
           actor: audit.Actor) -> None:
    """Apply (or, on a dry run, weigh) one batch and write its counts; the caller commits."""
    batch = _sort(rows, repeated, ident(job), job.dry_run)
    source = "csv" if job.file_format == detect.CSV else "fhir"
    outcomes = patient_records.upsert_many(session=session, records=[record for _, record in batch.records],
                                           actor=actor, source=source, dry_run=job.dry_run)
    counts = {"new": 0, "updated": 0, "unchanged": 0}
    for (row, _), outcome in zip(batch.records, outcomes, strict=True):
        if isinstance(outcome, Outcome):
            counts[outcome.kind] += 1
            if outcome.kind == "updated":
                detail = "; ".join(f"{c.label}: {c.old} -> {c.new}" for c in outcome.changes)
                if outcome.notes:
                    detail += " (" + "; ".join(outcome.notes) + ")"
                batch.results.append(_result(ident(job), job.dry_run, "updated", row.line, row.chart_number, detail))
        else:
            batch.refused += 1
            batch.results.append(_result(ident(job), job.dry_run, "refused", row.line, row.chart_number,
                                          outcome.message))
    if batch.results:
        session.execute(insert(ImportRowResult), batch.results)
    done = rows[-1][0]
    values = {"processed": done, "new": job.new + counts["new"], "updated": job.updated + counts["updated"],
              "unchanged": job.unchanged + counts["unchanged"], "refused": job.refused + batch.refused,
              "skipped": job.skipped + batch.skipped}
    if not job.dry_run:
        values["resume_after"] = done
    session.execute(update(ImportJob).where(col(ImportJob.id) == job.id).values(**values))
    for key, value in values.items():
        setattr(job, key, value)


def _finish(session: Session, job_id: int, actor: audit.Actor, exc: Exception | None = None) -> JobView:
    """Close the run and audit it: done/checked, or failed with the reason (committed batches stay)."""
    if exc is not None:
        session.rollback()
    job = _job(session, job_id)
    what = "dry run" if job.dry_run else "import"
    if exc is None:
        job.status = CHECKED if job.dry_run else DONE
        job.total = job.processed
        if job.processed and job.skipped == job.processed:
            job.error = (f"The file holds no patients: its {job.skipped:,} "
                         f"{'resource is' if job.skipped == 1 else 'resources are'} not Patient resources.")
        action = f"import.{'dry_run' if job.dry_run else 'done'}"
    else:
        job.status = FAILED
        message = exc.message if isinstance(exc, DomainError) else "An unexpected error stopped it."
        job.error = (f"The {what} stopped after {job.processed:,} of {job.total:,} rows: {message}"
                     + (" Run it again to continue where it stopped." if _resumable(job) else ""))[:500]
        action = "import.failed"
    job.finished_at = clock.now()
    session.add(job)
    audit.record(session=session, actor=actor, action=action, detail=f"job #{job.id}: {summary_of(job)}")
    session.commit()
    return view_of(job)


def _run(session: Session, job_id: int, actor: audit.Actor, dry_run: bool, progress: Progress | None,
         batch: int, pause: float = 0.0) -> JobView:
    job = _job(session, job_id, actor)
    if not _claim(session, job, dry_run):
        return view_of(job)
    audit.record(session=session, actor=actor, action="import.start" if not dry_run else "import.dry_run.start",
                 detail=f"job #{job.id}: file={job.file_name!r}" + (f"; resuming after row {job.resume_after}"
                                                                     if job.resume_after else ""))
    session.commit()
    try:
        return _work(session, job, actor, dry_run, progress, batch, pause)
    finally:
        session.rollback()
        leases.release(session, job_id, table=ImportJob)


def _work(session: Session, job: ImportJob, actor: audit.Actor, dry_run: bool, progress: Progress | None,
          batch: int, pause: float) -> JobView:
    """The claimed job's rows in batches, renewing its lease after each (lost: stop there, the
    job left "running" for its new owner)."""
    job_id = ident(job)
    try:
        repeated, total = _duplicates(source_rows(session=session, job=job, charts_only=True))
        job.total = total
        session.add(job)
        session.commit()
        start = job.resume_after if not dry_run else 0
        pending: list[tuple[int, SourceRow]] = []
        for number, row in enumerate(source_rows(session=session, job=job), start=1):
            if number <= start:
                continue
            pending.append((number, row))
            if len(pending) >= batch:
                _apply(session, job, pending, repeated, actor)
                session.commit()
                pending = []
                if not leases.renew(session, job_id, table=ImportJob):
                    return view_of(job)
                if pause:
                    time.sleep(pause)  # a click waiting for the database gets its turn
                if progress is not None:
                    progress(view_of(job))
        if pending:
            _apply(session, job, pending, repeated, actor)
            session.commit()
    except Exception as exc:  # noqa: BLE001 (the job row must say it stopped, whatever the cause)
        return _finish(session, job_id, actor, exc)
    view = _finish(session, job_id, actor)
    if progress is not None:
        progress(view)
    return view


def dry_run(*, session: Session, job_id: int, actor: audit.Actor, progress: Progress | None = None,
            batch: int = BATCH) -> JobView:
    """Weigh the whole file without changing a chart: new / updated / unchanged / refused counts,
    each refused row's reason and each update's changed fields (see `refusals`, `updates`)."""
    return _run(session, job_id, actor, True, progress, batch)


def run_import(*, session: Session, job_id: int, actor: audit.Actor, progress: Progress | None = None,
               batch: int = BATCH, pause: float = 0.0) -> JobView:
    """Apply the file, committing each batch with the job's counts. A stopped import (failed,
    interrupted) continues after its last committed row. A running job is left alone.

    Args:
        pause: seconds to wait after each batch, so other writers (staff clicks) get the database.
    """
    return _run(session, job_id, actor, False, progress, batch, pause)


def run_in_own_process(*, session: Session, job_id: int, actor: audit.Actor, dry_run: bool = False,
                       db_url: str = "") -> JobView:
    """`run_import` (or `dry_run`) in a separate Python process, waiting for it: the server's
    own threads keep their interpreter to themselves, so staff clicks stay quick while a large
    file goes in (bench/import.py measures both ways). The job row carries the progress, as
    ever; if the process dies, the row says the job stopped and it can be resumed.

    Args:
        db_url: the database (default: the one this process uses).
    """
    job = _job(session, job_id, actor)
    if job.status == RUNNING:
        return view_of(job)  # (a second click, or another tab: one worker per job)
    session.rollback()  # (no transaction held open while the other process writes)
    url = db_url or session.connection().engine.url.render_as_string(hide_password=False)
    command = [sys.executable, "-m", "portal_app", "run-import-job", str(job.id), "--actor", actor.kind,
               "--staff-id", str(actor.staff_user_id or 0), "--label", actor.label, "--ip", actor.ip]
    if dry_run:
        command.append("--dry-run")
    finished = subprocess.run(command, env={**os.environ, "REFLEX_DB_URL": url}, capture_output=True, text=True,
                              check=False, cwd=Path(__file__).resolve().parents[3])
    job = _job(session, job_id)
    if job.status == RUNNING and finished.returncode != LEFT_ALONE:  # it ended without closing the job
        job.status = FAILED
        job.error = (f"The import process stopped after {job.processed:,} of {job.total:,} rows "
                     f"(exit code {finished.returncode}). Run it again to continue where it stopped.")[:500]
        job.finished_at = clock.now()
        session.add(job)
        audit.record(session=session, actor=actor, action="import.failed",
                     detail=f"job #{job.id}: process exit {finished.returncode}; {finished.stderr[-300:]}")
        session.commit()
    return view_of(job)


def _results(session: Session, job_id: int, dry_run: bool, outcome: str, page: int, page_size: int) -> ResultPage:
    where = (col(ImportRowResult.job_id) == job_id, col(ImportRowResult.dry_run) == dry_run,
             col(ImportRowResult.outcome) == outcome)
    total = session.exec(select(func.count()).select_from(ImportRowResult).where(*where)).one()
    pages = max(1, -(-total // page_size))
    page = min(max(0, page), pages - 1)
    found = session.exec(select(ImportRowResult).where(*where).order_by(col(ImportRowResult.line))
                         .offset(page * page_size).limit(page_size)).all()
    return ResultPage(tuple(ResultRow(r.line, r.chart_number, r.detail) for r in found), total, page, pages)


def refusals(*, session: Session, job_id: int, dry_run: bool, page: int = 0, page_size: int = PAGE_SIZE) -> ResultPage:
    """The refused rows (line, chart number, reason), by line, paged."""
    return _results(session, job_id, dry_run, "refused", page, page_size)


def updates(*, session: Session, job_id: int, dry_run: bool, page: int = 0, page_size: int = PAGE_SIZE) -> ResultPage:
    """The updated charts (line, chart number, "Label: old -> new; ..."), by line, paged."""
    return _results(session, job_id, dry_run, "updated", page, page_size)


def neutralise(cell: str) -> str:
    """A cell a spreadsheet will show as text, never run as a formula."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def refusals_csv(*, session: Session, job_id: int, dry_run: bool, actor: audit.Actor | None = None) -> Iterator[str]:
    """The refused rows as CSV text (Line, Chart number, Reason), a few rows per piece. Audited
    when `actor` is given (the download shows chart numbers)."""
    job = _job(session, job_id, actor)
    if actor is not None:
        audit.record(session=session, actor=actor, action="import.refusals_download",
                     detail=f"job #{job.id}: {'dry run' if dry_run else 'import'}")
        session.commit()
    return _csv_pieces(session, ident(job), dry_run)


def _csv_pieces(session: Session, job_id: int, dry_run: bool) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["Line", "Chart number", "Reason"])
    after = -1
    while True:
        found = session.exec(select(ImportRowResult).where(
            col(ImportRowResult.job_id) == job_id, col(ImportRowResult.dry_run) == dry_run,
            col(ImportRowResult.outcome) == "refused", col(ImportRowResult.line) > after)
            .order_by(col(ImportRowResult.line)).limit(1000)).all()
        for row in found:
            writer.writerow([row.line, neutralise(row.chart_number), neutralise(row.detail)])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(found) < 1000:
            return
        after = found[-1].line


def job_view(*, session: Session, job_id: int, staff_user_id: int | None) -> JobView | None:
    """A job's progress, only for the staff user who started it."""
    job = session.get(ImportJob, job_id)
    if job is None or job.staff_user_id != staff_user_id:
        return None
    session.refresh(job)
    return view_of(job)


def latest_job(*, session: Session, staff_user_id: int) -> JobView | None:
    """The user's newest import, unless it finished long ago."""
    job = session.exec(select(ImportJob).where(col(ImportJob.staff_user_id) == staff_user_id)
                       .order_by(col(ImportJob.id).desc()).limit(1)).first()
    if job is None:
        return None
    session.refresh(job)
    if job.finished_at is not None and clock.now() - clock.aware(job.finished_at) > RECENT:
        return None
    return view_of(job)


def mark_interrupted(*, session: Session) -> int:
    """A job still "running" whose lease ran out was cut off (its worker died); say so on its
    row. Every server calls this every few seconds: a job another worker works is left alone."""
    count = 0
    for job in session.exec(select(ImportJob).where(col(ImportJob.status) == RUNNING,
                                                    leases.expired(ImportJob))).all():
        job.status = INTERRUPTED
        what = "dry run" if job.dry_run else "import"
        job.error = (f"The {what} was interrupted by a server restart after {job.processed:,} of {job.total:,} rows; "
                     + ("what was done stays done. Run it again to continue where it stopped." if not job.dry_run
                        else "nothing was changed. Run the dry run again."))[:500]
        job.finished_at = clock.now()
        session.add(job)
        audit.record(session=session, actor=audit.Actor.system("server start"), action="import.interrupted",
                     detail=f"job #{job.id}")
        count += 1
    session.commit()
    return count
