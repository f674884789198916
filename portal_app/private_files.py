"""Files only this process's user may read: the SQLite database (and its -wal/-shm/-journal
companions) and the folder Reflex keeps uploads in.

A process's default umask (022) leaves a new file readable by every local user; a database of
charts must not be. SQLite gives its -wal and -shm files the main file's permissions, so creating
the main file 0600 before the first connection covers them; the modes of files that already exist
are set again at each start (a database made by an older version)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
COMPANIONS = ("-wal", "-shm", "-journal")


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for another database or an in-memory one)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    name = parsed.database or ""
    if not name or name == ":memory:" or name.startswith("file:") or parsed.query.get("mode") == "memory":
        return None
    return Path(name)


def private_sqlite_file(url: str) -> None:
    """Create the SQLite file of `url` 0600 when it is missing (an empty file is an empty
    database), and set 0600 on it and on any companion file already there."""
    path = sqlite_path(url)
    if path is None or not path.parent.is_dir():
        return  # (SQLite itself reports a missing folder)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in COMPANIONS)):
        if candidate.exists():
            os.chmod(candidate, PRIVATE_FILE)


def private_dir(path: Path) -> Path:
    """`path` as a folder only its owner may open (made 0700, or set to 0700 when it exists)."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    os.chmod(path, PRIVATE_DIR)
    return path
