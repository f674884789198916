"""audit log append-only in the database itself

The ORM refuses updates and deletes of AuditEvent rows; these triggers refuse them for any
client of the database too (bulk statements, raw SQL, a console).

Revision ID: b7d2e4a91c55
Revises: c370cd7ac015
Create Date: 2026-11-23 19:40:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = "b7d2e4a91c55"
down_revision: Union[str, None] = "c370cd7ac015"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

SQLITE = [
    "CREATE TRIGGER auditevent_no_update BEFORE UPDATE ON auditevent "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
    "CREATE TRIGGER auditevent_no_delete BEFORE DELETE ON auditevent "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
]
POSTGRES = [
    "CREATE FUNCTION auditevent_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$",
    "CREATE TRIGGER auditevent_no_change BEFORE UPDATE OR DELETE ON auditevent "
    "FOR EACH ROW EXECUTE FUNCTION auditevent_append_only()",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE if dialect == "sqlite" else POSTGRES if dialect == "postgresql" else []:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS auditevent_no_update")
        op.execute("DROP TRIGGER IF EXISTS auditevent_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS auditevent_no_change ON auditevent")
        op.execute("DROP FUNCTION IF EXISTS auditevent_append_only()")
