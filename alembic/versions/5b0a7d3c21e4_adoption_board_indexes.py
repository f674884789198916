"""adoption board indexes

The stuck list and its reason counts read one covering index, walked newest step first
(ix_adoption_stuck_since replaces ix_adoption_stuck, whose stage-first order made every page
sort the whole stuck set and read the table for the stuck rule); the funnel of every chart
counts stages in index order (ix_adoption_stage_seen); the trends by channel or by staff
member read the channel and the staff member from the account_at / first_sign_in_at indexes.
Measured in bench/adoption.py.

Revision ID: 5b0a7d3c21e4
Revises: 191444aaea02
Create Date: 2026-12-04 19:30:00.000000
"""
from typing import Sequence, Union

from alembic import op


revision: str = '5b0a7d3c21e4'
down_revision: Union[str, None] = '191444aaea02'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

STUCK_SINCE = ['enabled', 'since_at', 'patient_id', 'stage', 'locked_until', 'account_at', 'first_sign_in_at',
               'temp_password_expires_at', 'attempt_at', 'delivery_failed', 'attempt_used', 'attempt_tries',
               'attempt_channel', 'attempt_expires_at', 'attempt_opened_at']

TRENDS = [('ix_adoption_account_at', 'account_at'), ('ix_adoption_first_sign_in', 'first_sign_in_at')]


def upgrade() -> None:
    with op.batch_alter_table('chartadoption', schema=None) as batch_op:
        batch_op.drop_index('ix_adoption_stuck')
        batch_op.create_index('ix_adoption_stuck_since', STUCK_SINCE, unique=False)
        batch_op.create_index('ix_adoption_stage_seen', ['stage', 'last_sign_in_at', 'added_at'], unique=False)
        for name, column in TRENDS:
            batch_op.drop_index(name)
            batch_op.create_index(name, [column, 'channel', 'started_by_staff_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('chartadoption', schema=None) as batch_op:
        for name, column in TRENDS:
            batch_op.drop_index(name)
            batch_op.create_index(name, [column], unique=False)
        batch_op.drop_index('ix_adoption_stage_seen')
        batch_op.drop_index('ix_adoption_stuck_since')
        batch_op.create_index('ix_adoption_stuck', ['enabled', 'stage', 'since_at', 'patient_id'], unique=False)
