"""practice settings: countries allowed for texts

The unsigned forms (Create Account, Forgot password) text only numbers of these countries
(ISO codes, "US,CA"); existing practices get "US".

Revision ID: 43def7f9dd9e
Revises: ae52173668c3
Create Date: 2026-12-05 13:06:08.943549
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '43def7f9dd9e'
down_revision: Union[str, None] = 'ae52173668c3'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('practicesettings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sms_countries', sqlmodel.sql.sqltypes.AutoString(length=200),
                                      server_default='US', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('practicesettings', schema=None) as batch_op:
        batch_op.drop_column('sms_countries')
