"""The audit log's hash chain (services/audit_chain.py) and `python -m portal_app audit verify`."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import select

from portal_app import cli, db
from portal_app.models import AuditEvent
from portal_app.services import audit, audit_chain, patient_records
from portal_app.services.patient_records import PatientRecord
from tests.unit.conftest import START


def _path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def _write(session, count: int, action: str = "test.event") -> None:
    for n in range(count):
        audit.record(session=session, actor=audit.Actor.system(), action=action, detail=f"n={n}")
        session.commit()


def _verify(url: str, monkeypatch, capsys) -> tuple[int, str]:
    monkeypatch.setenv("REFLEX_DB_URL", url)
    code = cli.main(["audit", "verify"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _tampered_copy(url: str, tmp_path: Path, *statements: str) -> str:
    """A copy of the database with the append-only triggers dropped and `statements` run on it.
    (PostgreSQL: the database itself, its trigger disabled for the edit; what `verify` reads is
    the same.)"""
    if not url.startswith("sqlite"):
        with db.engine(url).begin() as connection:
            connection.exec_driver_sql("ALTER TABLE auditevent DISABLE TRIGGER auditevent_no_change")
            for statement in statements:
                connection.exec_driver_sql(statement)
            connection.exec_driver_sql("ALTER TABLE auditevent ENABLE TRIGGER auditevent_no_change")
        return url
    copy = tmp_path / "copy.db"
    with sqlite3.connect(_path(url)) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    connection = sqlite3.connect(copy)
    connection.execute("DROP TRIGGER IF EXISTS auditevent_no_update")
    connection.execute("DROP TRIGGER IF EXISTS auditevent_no_delete")
    for statement in statements:
        connection.execute(statement)
    connection.commit()
    connection.close()
    return f"sqlite:///{copy}"


def test_each_row_carries_the_hash_of_the_previous_chain_and_its_content(session):
    _write(session, 3)
    rows = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
    previous = ""
    for row in rows:
        assert len(row.chain) == 64
        assert row.chain == audit_chain.link(previous, row.model_dump())
        previous = row.chain
    assert len({row.chain for row in rows}) == 3


def test_verify_reports_an_intact_chain_with_its_row_count(db_url, session, monkeypatch, capsys):
    _write(session, 5)
    code, out = _verify(db_url, monkeypatch, capsys)
    assert code == 0
    assert "Audit chain intact: 5 rows" in out


def test_a_field_changed_on_a_copy_is_named_by_its_row(db_url, session, tmp_path, monkeypatch, capsys):
    _write(session, 6)
    copy = _tampered_copy(db_url, tmp_path, "UPDATE auditevent SET detail = 'nothing to see' WHERE id = 4")
    code, out = _verify(copy, monkeypatch, capsys)
    assert code == 1
    assert "Audit chain broken at row 4 (" in out and "changed" in out
    db.forget(copy)


def test_a_changed_time_is_named_too(db_url, session, tmp_path, monkeypatch, capsys):
    _write(session, 3)
    copy = _tampered_copy(db_url, tmp_path, "UPDATE auditevent SET at = '2020-01-01 00:00:00.000000' WHERE id = 2")
    code, out = _verify(copy, monkeypatch, capsys)
    assert code == 1 and "row 2 (2020-01-01 00:00:00 UTC)" in out
    db.forget(copy)


def test_a_deleted_row_is_named_as_the_gap(db_url, session, tmp_path, monkeypatch, capsys):
    _write(session, 6)
    copy = _tampered_copy(db_url, tmp_path, "DELETE FROM auditevent WHERE id = 3")
    code, out = _verify(copy, monkeypatch, capsys)
    assert code == 1
    assert "Audit chain broken before row 4 (" in out and "row 3 missing (deleted)" in out
    db.forget(copy)


def test_deleting_the_first_rows_is_seen(db_url, session, tmp_path, monkeypatch, capsys):
    _write(session, 4)
    copy = _tampered_copy(db_url, tmp_path, "DELETE FROM auditevent WHERE id IN (1, 2)")
    code, out = _verify(copy, monkeypatch, capsys)
    assert code == 1 and "rows 1 to 2 missing (deleted)" in out
    db.forget(copy)


def test_bulk_import_rows_are_chained(db_url, session, frozen_clock):
    records = [PatientRecord(chart_number=f"B{n:04d}", first_name="Ann", last_name=f"Bulk{n}",
                             dob=START.date().replace(year=1990)) for n in range(5)]
    _write(session, 1)
    outcomes = patient_records.upsert_many(session=session, records=records, actor=audit.Actor.system("import"),
                                           source="test")
    assert [outcome.kind for outcome in outcomes] == ["new"] * 5
    session.commit()
    _write(session, 1, action="after.import")
    with db.engine(db_url).connect() as connection:
        verdict = audit_chain.verify(connection)
    assert verdict.ok and verdict.rows == 7


def test_a_writer_waits_for_the_one_holding_the_chain_so_it_never_forks(db_url, session):
    """Session A holds the write lock (its row flushed, not committed); B's row, written from
    another connection meanwhile, must link to A's row, not to the row before it."""
    _write(session, 1)
    audit.record(session=session, actor=audit.Actor.system(), action="first.writer")
    session.flush()

    def other_writer() -> None:
        with db.session_scope(db_url) as other:
            audit.record(session=other, actor=audit.Actor.system(), action="second.writer")
            other.commit()

    thread = threading.Thread(target=other_writer)
    thread.start()
    time.sleep(0.3)  # let B read (without the lock it would read the head A has not committed yet)
    session.commit()
    thread.join()
    with db.engine(db_url).connect() as connection:
        verdict = audit_chain.verify(connection)
    assert verdict.ok, verdict.message
    actions = session.exec(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["test.event", "first.writer", "second.writer"]


@pytest.fixture
def old_db(new_database):
    url = new_database("old.db")
    yield url
    db.forget(url)


def _upgrade(url: str, revision: str) -> None:
    from alembic.config import Config

    from alembic import command

    config = Config(str(db.ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(db.ROOT / "alembic"))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, revision)


def test_the_migration_chains_the_rows_already_there_and_keeps_the_triggers(old_db, tmp_path, monkeypatch,
                                                                            capsys):
    _upgrade(old_db, "6ea7d9955e0b")
    with db.engine(old_db).begin() as connection:
        for n in range(3):
            connection.exec_driver_sql("INSERT INTO auditevent (at, actor_type, actor_label, action, ip, detail) "
                               f"VALUES ('2026-11-2{n} 10:00:00.000000', 'system', '', 'old.{n}', '', 'é {n}')")
    db.forget(old_db)
    _upgrade(old_db, "head")
    with db.session_scope(old_db) as session:
        _write(session, 2, action="new.event")
    code, out = _verify(old_db, monkeypatch, capsys)
    assert code == 0 and "Audit chain intact: 5 rows" in out
    with db.engine(old_db).connect() as connection:
        with pytest.raises(Exception, match="append-only"):
            connection.execute(text("UPDATE auditevent SET action = 'x' WHERE id = 1"))
    # The copy-and-edit check works on a migrated database as well.
    copy = _tampered_copy(old_db, tmp_path, "UPDATE auditevent SET action = 'old.9' WHERE id = 2")
    code, out = _verify(copy, monkeypatch, capsys)
    assert code == 1 and "row 2 (2026-11-21 10:00:00 UTC)" in out
    db.forget(copy)
