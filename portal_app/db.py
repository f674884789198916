"""Database URL, engine and migrations, shared by the app, the CLI and the tests; and
`select_columns`, for queries of more than four columns."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Unpack

from sqlalchemy import Engine, event, make_url
from sqlmodel import Session, create_engine
from sqlmodel.sql.expression import Select

from portal_app import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from portal_app.private_files import private_sqlite_file

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_URL = "sqlite:///portal.db"

_engines: dict[str, Engine] = {}


def database_url() -> str:
    return os.environ.get("REFLEX_DB_URL") or DEFAULT_DB_URL


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the list page read while a bulk job writes; foreign keys are off by default.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Keep the hot list indexes in memory (measured in bench/onboarding.py).
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute("PRAGMA mmap_size=268435456")
        cursor.close()


def engine(url: str | None = None) -> Engine:
    """The engine for `url` (default: the configured database); the first call also makes
    every session keep the adoption read model exact (services/adoption/facts.py)."""
    from portal_app.services.adoption import facts  # (it imports models; db must load first)

    facts.install()
    url = url or database_url()
    if url not in _engines:
        private_sqlite_file(url)  # 0600 before SQLite creates it (it would follow the umask)
        _engines[url] = create_engine(driver_url(url), connect_args=_connect_args(url))
    return _engines[url]


def driver_url(url: str) -> str:
    """`url` with the driver we install: a bare `postgresql://` (SQLAlchemy's default driver,
    psycopg2, is not in requirements.txt) means psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def _connect_args(url: str) -> dict[str, Any]:
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return {"check_same_thread": False}
    if backend == "postgresql":
        # Times are kept and compared in UTC whatever the server's or the role's default zone
        # (services/audit_chain.py hashes them as naive UTC).
        return {"options": "-c TimeZone=UTC"}
    return {}


def dialect(session: Session) -> str:
    """The session's database: "sqlite" or "postgresql" (for the few queries written for each)."""
    return session.get_bind().dialect.name


def select_columns(*columns: Any) -> Select[Unpack[tuple[Any, ...]]]:
    """`select(a, b, c, d, e, ...)` for five columns or more.

    sqlmodel types `select()` for at most four (fastapi/sqlmodel#271, a stub gap), so mypy
    rejects a longer call; the `Select` it builds takes any number. The columns are `Any`
    as in sqlmodel's own `select`: mypy sees `Table.column` as the column's Python value
    type. The rows are untyped tuples: unpack them into named values at once.
    """
    return Select(*columns)


def forget(url: str) -> None:
    """Close the engine of `url` and drop it, so the next `engine(url)` opens a new one
    (a benchmark that deletes and rebuilds its database file)."""
    found = _engines.pop(url, None)
    if found is not None:
        found.dispose()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    with Session(engine(url)) as session:
        yield session


def migrate(url: str | None = None) -> None:
    """Bring the schema to the newest migration (never drops data)."""
    from alembic.config import Config

    from alembic import command

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.set_main_option("sqlalchemy.url", url or database_url())
    command.upgrade(config, "head")
