"""Backups and restores of the portal's database (`python -m portal_app backup FILE` / `restore FILE`).

- SQLite: sqlite3's online backup API, page by page, consistent while the app writes (a plain copy
  of the file can catch a half-written transaction or miss the WAL). Restore copies the same way.
- PostgreSQL: `pg_dump -Fc` and `pg_restore --clean --if-exists --no-owner` from the newest
  /usr/lib/postgresql/*/bin (or PATH). The password travels in PGPASSWORD, never on a command line
  (other users see those in `ps`), and no message prints the URL.

Restore refuses a database that already holds charts unless `force` (a restore onto the live
database by mistake loses everything since the backup), and after it says whether the
migrations are at this version's head (a backup from an older version needs `init` to migrate).
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from portal_app import db
from portal_app.services import deployment
from portal_app.services.errors import InvalidInput


def _tool(name: str) -> str:
    """pg_dump / pg_restore: the newest PostgreSQL's on Debian, else the one on PATH."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    tool = found[-1] if found else shutil.which(name)
    if tool is None:
        raise InvalidInput(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return tool


def _pg(url: str) -> tuple[list[str], dict[str, str]]:
    """libpq connection options for `url`, and an environment with its password (never argv)."""
    parsed = make_url(url)
    options = [f"--dbname={parsed.database}"]
    if parsed.host:
        options.append(f"--host={parsed.host}")
    if parsed.port:
        options.append(f"--port={parsed.port}")
    if parsed.username:
        options.append(f"--username={parsed.username}")
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return options, env


def _run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        words = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]
        raise InvalidInput(f"{Path(command[0]).name} failed: {deployment.scrub(words)}")


def _sqlite_copy(source: str, target: str) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def backup(target: Path, url: str | None = None) -> None:
    """Write the database at `url` (default: the app's) to `target`."""
    url = url or db.database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        _sqlite_copy(str(parsed.database), str(target))
        return
    options, env = _pg(url)
    _run([_tool("pg_dump"), "--format=custom", f"--file={target}", *options], env)


def has_data(url: str) -> bool:
    """The database holds the portal's tables with at least one patient or staff user."""
    engine = db.engine(url)
    tables = set(inspect(engine).get_table_names())
    if not {"patient", "staffuser"} & tables:
        return False
    with engine.connect() as connection:
        return any(connection.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first() is not None
                   for table in ("patient", "staffuser") if table in tables)


def restore(source: Path, url: str | None = None, *, force: bool = False) -> list[deployment.Finding]:
    """Replace the database at `url` with the backup `source`; returns the migrations' finding."""
    url = url or db.database_url()
    if not source.is_file():
        raise InvalidInput(f"{source}: no such backup file")
    if not force and has_data(url):
        raise InvalidInput("The database already holds patients or staff users: restoring would replace "
                           "them. Stop the app and add --force if that is what you mean.")
    db.forget(url)  # no pooled connection keeps the old pages or schema
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        _sqlite_copy(str(source), str(parsed.database))
    else:
        options, env = _pg(url)
        _run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", *options, str(source)], env)
    with db.engine(url).connect() as connection:
        return deployment.migrations(connection)
