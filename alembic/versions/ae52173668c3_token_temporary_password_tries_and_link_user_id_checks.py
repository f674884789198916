"""read-back token: 6 digits by default, a token-made temporary password's total tries, and an
invitation link's count of usernames tried that are already in use

- practicesettings.token_length: the server default becomes 6; an existing practice row keeps
  the length it has (4 stays allowed as the practice's choice).
- portalaccount.temp_password_tries_left: wrong sign-in tries a temporary password made from a
  read-back token has left in total (NULL for every other password, so existing accounts are
  unchanged).
- onetimesecret.user_id_checks: usernames already in use tried on an invitation link.

Revision ID: ae52173668c3
Revises: b7d41c0e5a11
Create Date: 2026-12-05 13:10:00.000000
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = 'ae52173668c3'
down_revision: Union[str, None] = 'b7d41c0e5a11'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('practicesettings', schema=None) as batch_op:
        batch_op.alter_column('token_length', existing_type=sa.Integer(), existing_nullable=False,
                              server_default='6')
    with op.batch_alter_table('portalaccount', schema=None) as batch_op:
        batch_op.add_column(sa.Column('temp_password_tries_left', sa.Integer(), nullable=True))
    with op.batch_alter_table('onetimesecret', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_id_checks', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('onetimesecret', schema=None) as batch_op:
        batch_op.drop_column('user_id_checks')
    with op.batch_alter_table('portalaccount', schema=None) as batch_op:
        batch_op.drop_column('temp_password_tries_left')
    with op.batch_alter_table('practicesettings', schema=None) as batch_op:
        batch_op.alter_column('token_length', existing_type=sa.Integer(), existing_nullable=False,
                              server_default='4')
