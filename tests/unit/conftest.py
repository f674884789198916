"""Unit-test fixtures: a fresh SQLite database per test, a frozen clock, a quiet outbox."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlmodel import Session, SQLModel

from portal_app import db
from portal_app.models import Patient
from portal_app.notify import transports
from portal_app.services import clock, message_limits, onboarding, staff_auth, throttle

START = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
ADMIN_PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def db_url(tmp_path, monkeypatch) -> str:
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
