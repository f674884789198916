"""one live connection per account and chart

Revision ID: e059023e6f07
Revises: d2d9bd07033f
Create Date: 2026-11-29 13:11:09.818479
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = 'e059023e6f07'
down_revision: Union[str, None] = 'd2d9bd07033f'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # A duplicate from before the rule (same account, same chart, both live): keep the oldest.
    op.execute("UPDATE portalconnection SET revoked_at = connected_at WHERE revoked_at IS NULL AND id NOT IN "
               "(SELECT MIN(id) FROM portalconnection WHERE revoked_at IS NULL GROUP BY patient_id, account_id)")
    with op.batch_alter_table('portalconnection', schema=None) as batch_op:
        batch_op.create_index('ux_connection_live', ['patient_id', 'account_id'], unique=True, sqlite_where=sa.text('revoked_at IS NULL'), postgresql_where=sa.text('revoked_at IS NULL'))



def downgrade() -> None:
    with op.batch_alter_table('portalconnection', schema=None) as batch_op:
        batch_op.drop_index('ux_connection_live', sqlite_where=sa.text('revoked_at IS NULL'), postgresql_where=sa.text('revoked_at IS NULL'))

