"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, inspect
from sqlmodel import SQLModel

from portal_app import db


@pytest.fixture
def empty_db(new_database):
    url = new_database("migrated.db")
    yield url
    db.engine(url).dispose()
    db._engines.pop(url, None)


def _alembic_config():
    from alembic.config import Config

    config = Config(str(db.ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(db.ROOT / "alembic"))
    return config


# Indexes with expressions (lower(...), DESC) that autogenerate cannot compare: checked by
# their SQL in test_expression_indexes_match_the_models instead.
EXPRESSION_INDEXES = {index.name for table in SQLModel.metadata.tables.values() for index in table.indexes
                      if any(not isinstance(expression, Column) for expression in index.expressions)}


def _comparable(_object, name, type_, _reflected, _compare_to) -> bool:
    return not (type_ == "index" and name in EXPRESSION_INDEXES)


def test_upgrade_head_on_an_empty_database_matches_the_models(empty_db):
    db.migrate(empty_db)
    with db.engine(empty_db).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                              "include_object": _comparable})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def _index_sql(url: str) -> dict[str, str]:
    with db.engine(url).connect() as connection:
        if connection.dialect.name == "postgresql":
            rows = connection.exec_driver_sql("SELECT indexname, indexdef FROM pg_indexes "
                                              "WHERE schemaname = current_schema()").all()
        else:
            rows = connection.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'index'").all()
    return {name: " ".join(sql.replace('"', "").split()).lower() for name, sql in rows if name in EXPRESSION_INDEXES}


def test_expression_indexes_match_the_models(empty_db, new_database):
    db.migrate(empty_db)
    created = new_database("created.db")
    SQLModel.metadata.create_all(db.engine(created))
    assert EXPRESSION_INDEXES >= {"ix_account_last_lower", "ix_task_status_patient_activity"}
    assert _index_sql(empty_db) == _index_sql(created) and len(_index_sql(created)) == len(EXPRESSION_INDEXES)
    db.engine(created).dispose()
    db._engines.pop(created, None)


def test_upgrade_reaches_the_single_head_and_is_repeatable(empty_db):
    db.migrate(empty_db)
    db.migrate(empty_db)  # a second run changes nothing and does not fail
    heads = ScriptDirectory.from_config(_alembic_config()).get_heads()
    assert len(heads) == 1
    with db.engine(empty_db).connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == heads[0]
        tables = set(inspect(connection).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables


def test_list_indexes_exist_after_migration(empty_db):
    db.migrate(empty_db)
    with db.engine(empty_db).connect() as connection:
        names = {index["name"] for index in inspect(connection).get_indexes("patient")}
    assert {"ix_patient_sort", "ix_patient_enabled_sort", "ix_patient_state_sort", "ix_patient_dob_sort",
            "ix_patient_email_sort"} <= names


def test_migrated_audit_table_refuses_updates_and_deletes(empty_db):
    from sqlalchemy import text
    from sqlalchemy.exc import DatabaseError

    db.migrate(empty_db)
    with db.engine(empty_db).connect() as connection:
        connection.execute(text("INSERT INTO auditevent (at, actor_type, actor_label, action, ip, detail) "
                                "VALUES ('2026-11-23 00:00:00', 'system', '', 'x', '', '')"))
        connection.commit()
        for statement in ("UPDATE auditevent SET action = 'y'", "DELETE FROM auditevent"):
            with pytest.raises(DatabaseError, match="append-only"):
                connection.execute(text(statement))
            connection.rollback()


def test_an_account_is_live_on_a_chart_once(session):
    """The database itself refuses a second live connection of one account to one chart."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    from portal_app.models import PortalAccount, PortalConnection
    from tests.unit.conftest import make_patient

    patient = make_patient(session)
    account = PortalAccount(user_id="twice@example.com")
    session.add(account)
    session.commit()
    first = PortalConnection(account_id=account.id, patient_id=patient.id)
    session.add(first)
    session.commit()
    session.add(PortalConnection(account_id=account.id, patient_id=patient.id))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    first.revoked_at = first.connected_at  # once disconnected, the account may be connected again
    session.add(first)
    session.add(PortalConnection(account_id=account.id, patient_id=patient.id))
    session.commit()


def test_an_existing_practice_keeps_its_token_length_and_new_ones_get_six(empty_db):
    from alembic import command

    config = _alembic_config()
    config.set_main_option("sqlalchemy.url", empty_db)
    command.upgrade(config, "6ea7d9955e0b")  # before the default became 6
    with db.engine(empty_db).begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO practicesettings (id, portal_active, practice_name, practice_phone, portal_base_url, "
            "sender_address, invitation_hours, reset_minutes, connect_token_days, key_days, letter_key_days, "
            "verification_minutes, updated_at) VALUES (1, TRUE, 'P', '1', 'http://x', 'a@b.org', 72, 60, 3, 3, 21, "
            "30, '2026-01-01 00:00:00')")
    db.migrate(empty_db)
    with db.engine(empty_db).begin() as connection:
        assert connection.exec_driver_sql("SELECT token_length FROM practicesettings").scalar() == 4
        connection.exec_driver_sql(
            "INSERT INTO practicesettings (id, portal_active, practice_name, practice_phone, portal_base_url, "
            "sender_address, invitation_hours, reset_minutes, connect_token_days, key_days, letter_key_days, "
            "verification_minutes, updated_at) VALUES (2, TRUE, 'P', '1', 'http://x', 'a@b.org', 72, 60, 3, 3, 21, "
            "30, '2026-01-01 00:00:00')")
        assert connection.exec_driver_sql("SELECT token_length FROM practicesettings WHERE id = 2").scalar() == 6
