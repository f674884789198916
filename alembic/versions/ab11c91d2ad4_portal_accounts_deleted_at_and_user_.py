"""portal accounts: deleted_at and user management indexes

Revision ID: ab11c91d2ad4
Revises: def13916855b
Create Date: 2026-11-29 12:25:47.406716
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = 'ab11c91d2ad4'
down_revision: Union[str, None] = 'def13916855b'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('portalaccount', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.create_index('ix_account_locked', ['locked_until'], unique=False)
        batch_op.create_index('ix_account_mustchange_user', ['must_change_password', 'user_id'], unique=False)
        batch_op.create_index('ix_account_status_user', ['status', 'user_id'], unique=False)
    # An expression index: autogenerate does not see it, so it is written here by hand.
    op.create_index('ix_account_last_lower', 'portalaccount', [sa.text('lower(last_name)')], unique=False)


def downgrade() -> None:
    op.drop_index('ix_account_last_lower', table_name='portalaccount')
    with op.batch_alter_table('portalaccount', schema=None) as batch_op:
        batch_op.drop_index('ix_account_status_user')
        batch_op.drop_index('ix_account_mustchange_user')
        batch_op.drop_index('ix_account_locked')
        batch_op.drop_column('deleted_at')

