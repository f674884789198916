"""audit log hash chain: auditevent.chain, computed here for the rows already there

Each audit row carries SHA-256(previous row's chain + its canonical content), so an edit or a
deletion made on a copy with the append-only triggers dropped shows (`python -m portal_app
audit verify`). The rows already in the table are chained in id order: the triggers are lifted
for that one UPDATE pass and put back.

The canonical form is copied here, frozen (services/audit_chain.py writes the same form):
a migration must not change meaning when the application's code changes later.

Revision ID: a7c3e9d41b20
Revises: bb486c6e3058
Create Date: 2026-12-05 13:30:00
"""
import hashlib
import json
from datetime import datetime, timezone
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = 'a7c3e9d41b20'
down_revision: Union[str, None] = 'bb486c6e3058'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

FIELDS = ("at", "actor_type", "staff_user_id", "portal_account_id", "actor_label", "action",
          "patient_id", "account_id", "ip", "detail")
SQLITE_TRIGGERS = [
    "CREATE TRIGGER auditevent_no_update BEFORE UPDATE ON auditevent "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
    "CREATE TRIGGER auditevent_no_delete BEFORE DELETE ON auditevent "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
]
BATCH = 5000

audit = sa.table(
    "auditevent", sa.column("id", sa.Integer), sa.column("at", sa.DateTime), sa.column("actor_type", sa.String),
    sa.column("staff_user_id", sa.Integer), sa.column("portal_account_id", sa.Integer),
    sa.column("actor_label", sa.String), sa.column("action", sa.String), sa.column("patient_id", sa.Integer),
    sa.column("account_id", sa.Integer), sa.column("ip", sa.String), sa.column("detail", sa.String),
    sa.column("chain", sa.String),
)


def _at(value) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds")
    return ""


def _link(previous: str, row) -> str:
    values = [_at(row["at"])] + [row[name] for name in FIELDS[1:]]
    content = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((previous + content).encode("utf-8")).hexdigest()


def _lift_triggers(dialect: str) -> None:
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS auditevent_no_update")
        op.execute("DROP TRIGGER IF EXISTS auditevent_no_delete")
    elif dialect == "postgresql":
        op.execute("ALTER TABLE auditevent DISABLE TRIGGER auditevent_no_change")


def _restore_triggers(dialect: str) -> None:
    if dialect == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute("ALTER TABLE auditevent ENABLE TRIGGER auditevent_no_change")


def _chain_existing_rows(bind) -> None:
    previous, after = "", 0
    while True:
        rows = bind.execute(sa.select(audit).where(audit.c.id > after).order_by(audit.c.id).limit(BATCH)
                            ).mappings().all()
        if not rows:
            return
        chains = []
        for row in rows:
            previous = _link(previous, row)
            chains.append({"row_id": row["id"], "row_chain": previous})
        bind.execute(audit.update().where(audit.c.id == sa.bindparam("row_id"))
                     .values(chain=sa.bindparam("row_chain")), chains)
        after = rows[-1]["id"]


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table('auditevent', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chain', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False,
                                      server_default=''))
    _lift_triggers(bind.dialect.name)
    _chain_existing_rows(bind)
    _restore_triggers(bind.dialect.name)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    _lift_triggers(dialect)
    with op.batch_alter_table('auditevent', schema=None) as batch_op:
        batch_op.drop_column('chain')
    if dialect == "sqlite":
        # (a batch drop rebuilds the table, which loses its triggers; they were lifted above)
        op.execute("DROP TRIGGER IF EXISTS auditevent_no_update")
        op.execute("DROP TRIGGER IF EXISTS auditevent_no_delete")
    _restore_triggers(dialect)
