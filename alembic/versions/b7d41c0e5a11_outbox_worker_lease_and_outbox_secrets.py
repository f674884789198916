"""outbox: a delivery worker's lease, and the Outbox Secrets permission for Administrator

Revision ID: b7d41c0e5a11
Revises: 6ea7d9955e0b
Create Date: 2026-12-05 13:20:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = 'b7d41c0e5a11'
down_revision: Union[str, None] = '6ea7d9955e0b'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

SECRETS = "Outbox Secrets"


def upgrade() -> None:
    with op.batch_alter_table('outboxmessage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    # The built-in Administrator role has every permission: grant the new one (Write).
    op.execute(sa.text(
        "INSERT INTO rolepermission (role_id, permission, level) "
        "SELECT role.id, :name, 3 FROM role WHERE role.name = 'Administrator' AND role.built_in "
        "AND NOT EXISTS (SELECT 1 FROM rolepermission rp WHERE rp.role_id = role.id AND rp.permission = :name)"
    ).bindparams(name=SECRETS))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM rolepermission WHERE permission = :name").bindparams(name=SECRETS))
    with op.batch_alter_table('outboxmessage', schema=None) as batch_op:
        batch_op.drop_column('lease_until')
