"""connect patient: token and key settings, secret salt, letter attachment

Revision ID: 93cae00ff9f9
Revises: b7d2e4a91c55
Create Date: 2026-11-23 19:41:17.710731
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '93cae00ff9f9'
down_revision: Union[str, None] = 'b7d2e4a91c55'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('onetimesecret', schema=None) as batch_op:
        batch_op.add_column(sa.Column('salt', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False, server_default=''))

    with op.batch_alter_table('outboxmessage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attachment', sa.LargeBinary(), nullable=True))

    with op.batch_alter_table('practicesettings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_length', sa.Integer(), nullable=False, server_default='4'))
        batch_op.add_column(sa.Column('connect_token_days', sa.Integer(), nullable=False, server_default='3'))
        batch_op.add_column(sa.Column('key_days', sa.Integer(), nullable=False, server_default='3'))
        batch_op.add_column(sa.Column('letter_key_days', sa.Integer(), nullable=False, server_default='21'))
        batch_op.add_column(sa.Column('verification_minutes', sa.Integer(), nullable=False, server_default='30'))



def downgrade() -> None:
    with op.batch_alter_table('practicesettings', schema=None) as batch_op:
        batch_op.drop_column('verification_minutes')
        batch_op.drop_column('letter_key_days')
        batch_op.drop_column('key_days')
        batch_op.drop_column('connect_token_days')
        batch_op.drop_column('token_length')

    with op.batch_alter_table('outboxmessage', schema=None) as batch_op:
        batch_op.drop_column('attachment')

    with op.batch_alter_table('onetimesecret', schema=None) as batch_op:
        batch_op.drop_column('salt')

