"""Backups and restores (services/backups.py) on the run's database kind (SQLite, or PostgreSQL with
PORTAL_TEST_DATABASE=postgresql): back up, change data, restore, the data is back and the audit
chain still verifies; a restore onto a database that holds data needs force."""

from __future__ import annotations

import pytest
from sqlmodel import select

from portal_app import db
from portal_app.models import Patient
from portal_app.services import audit, audit_chain, backups, deployment
from portal_app.services.errors import InvalidInput
from tests.unit.conftest import make_patient


def test_backup_then_restore_brings_the_data_back(session, db_url, tmp_path):
    patient_id = make_patient(session).id
    audit.record(session=session, actor=audit.Actor.system("test"), action="test.before_backup", detail="")
    session.commit()
    target = tmp_path / "portal.backup"
    backups.backup(target, db_url)
    assert target.stat().st_size > 0

    changed = session.get(Patient, patient_id)
    changed.first_name = "Changed"
    session.add(changed)
    session.commit()
    session.close()

    with pytest.raises(InvalidInput, match="--force"):
        backups.restore(target, db_url)
    backups.restore(target, db_url, force=True)
    with db.session_scope(db_url) as fresh:
        restored = fresh.exec(select(Patient).where(Patient.id == patient_id)).one()
        assert restored.first_name == "Maria"
    with db.engine(db_url).connect() as connection:
        verdict = audit_chain.verify(connection)
    assert verdict.ok, verdict.message


def test_a_restore_into_an_empty_database_needs_no_force_and_reports_migrations(db_url, new_database, tmp_path):
    target = tmp_path / "portal.backup"
    backups.backup(target, db_url)
    empty = new_database("restored.db")
    findings = backups.restore(target, empty)
    assert [f.topic for f in findings] == ["Migrations"]
    assert isinstance(findings[0], deployment.Finding)
