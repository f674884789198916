"""The database and the upload folders are readable by their owner only (issue 11, item 11)."""

from __future__ import annotations

import os
import stat

from sqlalchemy import text

from portal_app import db, private_files
from portal_app.services import import_files


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_sqlite_database_and_its_wal_and_shm_files_are_0600(tmp_path):
    old = os.umask(0o022)  # the usual umask: without care a new file is 0644
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    try:
        with db.engine(url).connect() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
            connection.execute(text("INSERT INTO t VALUES (1)"))
            connection.commit()
            assert (tmp_path / "portal.db-wal").exists()
            assert {name: _mode(tmp_path / name) for name in ("portal.db", "portal.db-wal", "portal.db-shm")} == \
                {"portal.db": 0o600, "portal.db-wal": 0o600, "portal.db-shm": 0o600}
    finally:
        os.umask(old)
        db.forget(url)


def test_an_existing_world_readable_database_is_made_0600_at_start(tmp_path):
    path = tmp_path / "old.db"
    path.write_bytes(b"")
    os.chmod(path, 0o644)
    (tmp_path / "old.db-wal").write_bytes(b"")
    os.chmod(tmp_path / "old.db-wal", 0o664)
    url = f"sqlite:///{path}"
    try:
        db.engine(url)
        assert (_mode(path), _mode(tmp_path / "old.db-wal")) == (0o600, 0o600)
    finally:
        db.forget(url)


def test_other_databases_and_memory_are_left_alone():
    assert private_files.sqlite_path("sqlite://") is None
    assert private_files.sqlite_path("sqlite:///:memory:") is None
    assert private_files.sqlite_path("postgresql://u@h/db") is None


def test_upload_folders_are_0700(tmp_path, monkeypatch):
    folder = tmp_path / "uploads"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    assert _mode(private_files.private_dir(folder)) == 0o700
    monkeypatch.setenv("PORTAL_IMPORT_DIR", str(tmp_path / "imports"))
    assert _mode(import_files.folder()) == 0o700

