"""Unit-test fixtures: a fresh database per test, a frozen clock, a quiet outbox.

The database is SQLite (a new file per test, schema from the models) unless
`PORTAL_TEST_DATABASE=postgresql`: then each test gets a new PostgreSQL database copied from one
migrated at the start of the run (`CREATE DATABASE ... TEMPLATE`), on the server at
`PORTAL_TEST_POSTGRES_URL` (a superuser's URL, e.g. `postgresql+psycopg://portal@127.0.0.1:5432/postgres`)
or, without it, on a throwaway cluster started for the run (tests/pg_cluster.py).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from sqlmodel import Session, SQLModel

from portal_app import db
from portal_app.models import Patient
from portal_app.notify import transports
from portal_app.services import clock, message_limits, onboarding, staff_auth, throttle
from tests import pg_cluster

START = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
ADMIN_PASSWORD = "correct horse battery staple 42"

BACKEND = os.environ.get("PORTAL_TEST_DATABASE", "sqlite").strip().lower() or "sqlite"
if BACKEND not in ("sqlite", "postgresql"):
    raise pytest.UsageError(f"PORTAL_TEST_DATABASE={BACKEND!r}: use sqlite or postgresql")
ON_POSTGRES = BACKEND == "postgresql"
# For tests about SQLite itself (its files, pragmas, backups).
sqlite_only = pytest.mark.skipif(ON_POSTGRES, reason="about SQLite itself")
# For tests that read SQLite's query plans (EXPLAIN QUERY PLAN): PostgreSQL plans a test's few
# rows differently (a sequential scan is its best plan there); its plans at scale are bench/'s.
sqlite_plan = pytest.mark.skipif(ON_POSTGRES, reason="reads SQLite's query plan (EXPLAIN QUERY PLAN)")


class Postgres:
    """A PostgreSQL server for the run: new databases, empty or copied from the migrated one."""

    def __init__(self, server_url: str) -> None:
        self.server_url = make_url(server_url)
        self.admin = create_engine(self.server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self._names = itertools.count(1)
        self.prefix = f"portal_test_{os.getpid()}"
        self.template = f"{self.prefix}_migrated"
        with self.admin.connect() as connection:
            version = int(connection.exec_driver_sql("SHOW server_version_num").scalar_one())
        # PostgreSQL 15 copies a small template quicker file by file than through the WAL.
        self._copy = " STRATEGY FILE_COPY" if version >= 150000 else ""
        self._sql(f'DROP DATABASE IF EXISTS "{self.template}"')
        self._sql(f'CREATE DATABASE "{self.template}"')
        url = self.url(self.template)
        db.migrate(url)
        db.forget(url)  # a template must have no connections when it is copied

    def _sql(self, statement: str) -> None:
        with self.admin.connect() as connection:
            connection.exec_driver_sql(statement)

    def url(self, name: str) -> str:
        return self.server_url.set(database=name).render_as_string(hide_password=False)

    def create(self, *, migrated: bool = True) -> str:
        """A new database (the migrated schema, or empty); returns its URL."""
        name = f"{self.prefix}_{next(self._names)}"
        self._sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{self.template}"{self._copy}' if migrated else ""))
        return self.url(name)

    def drop(self, url: str) -> None:
        db.forget(url)
        self._sql(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')

    def close(self) -> None:
        self._sql(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres | None]:
    """The run's PostgreSQL server (None on SQLite)."""
    if not ON_POSTGRES:
        yield None
        return
    given = os.environ.get("PORTAL_TEST_POSTGRES_URL")
    with nullcontext(given) if given else pg_cluster.throwaway() as server_url:
        server = Postgres(server_url)
        yield server
        server.close()


@pytest.fixture
def new_database(tmp_path, postgres) -> Iterator[Callable[[str], str]]:
    """`new_database("old.db")`: the URL of a new, empty database (no tables) of the run's kind:
    a file of that name in tmp_path on SQLite, a new database on PostgreSQL."""
    made: list[str] = []

    def make(name: str) -> str:
        url = postgres.create(migrated=False) if postgres is not None else f"sqlite:///{tmp_path / name}"
        made.append(url)
        return url

    yield make
    for url in made:
        if postgres is not None:
            postgres.drop(url)
        else:
            db.forget(url)


@pytest.fixture
def db_url(tmp_path, monkeypatch, postgres) -> Iterator[str]:
    if postgres is not None:
        url = postgres.create()
        monkeypatch.setenv("REFLEX_DB_URL", url)
        yield url
        postgres.drop(url)
        return
    url = f"sqlite:///{tmp_path / 'test.db'}"
    monkeypatch.setenv("REFLEX_DB_URL", url)
    SQLModel.metadata.create_all(db.engine(url))
    yield url
    db.engine(url).dispose()
    db._engines.pop(url, None)


@pytest.fixture
def session(db_url) -> Session:
    with db.session_scope(db_url) as session:
        yield session


@pytest.fixture
def frozen_clock():
    """The clock stands at START until the test moves it with `frozen_clock(new_time)`."""
    clock.freeze(START)
    yield clock.freeze
    clock.freeze(None)


@pytest.fixture(autouse=True)
def _reset_transports():
    yield
    transports._override.clear()


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """The sign-in throttles and the limits on unsigned messages live in the process: each test
    starts with none of another test's tries counted."""
    throttle.use(throttle.MemoryCounter)
    message_limits.reset()
    yield


@pytest.fixture
def admin(session):
    return staff_auth.create_staff(session=session, username="admin", full_name="Ada Admin",
                                   password=ADMIN_PASSWORD)


def make_patient(session: Session, *, first: str = "Maria", last: str = "Lopez",
                 email: str = "maria.lopez@example.com", dob: date = date(1980, 4, 2),
                 enabled: bool = False, chart: str | None = None, **extra) -> Patient:
    """Insert one chart; returns it refreshed."""
    number = chart or f"C{abs(hash((first, last, email))) % 10_000_000:07d}"
    patient = Patient(chart_number=number, first_name=first, last_name=last, dob=dob,
                      email=email, email_lower=email.lower(), portal_enabled=enabled,
                      sort_key=onboarding.sort_key(last, first), **extra)
    session.add(patient)
    session.commit()
    session.refresh(patient)
    return patient


@pytest.fixture
def patient(session):
    return make_patient(session)
