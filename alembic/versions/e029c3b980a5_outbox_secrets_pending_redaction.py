"""outbox: secrets pending redaction

Revision ID: e029c3b980a5
Revises: 93cae00ff9f9
Create Date: 2026-11-23 20:13:48.506220
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = 'e029c3b980a5'
down_revision: Union[str, None] = '93cae00ff9f9'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('outboxmessage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_secrets', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False, server_default=''))



def downgrade() -> None:
    with op.batch_alter_table('outboxmessage', schema=None) as batch_op:
        batch_op.drop_column('pending_secrets')

