"""bulk job: count of charts skipped because their invitation is still live; patient mobile index

"Enable and invite" no longer re-invites a chart whose invitation link is unused, unrevoked and
unexpired (that would kill the link the patient just got) unless staff tick "send again";
the job row counts those skips like the others. "Create Account" with a phone number looks up
charts by mobile (a chart that has not agreed to texts gets none): ix_patient_mobile.

Revision ID: c4e1b7a9d2f0
Revises: 5b0a7d3c21e4
Create Date: 2026-12-05 05:45:00.000000
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = 'c4e1b7a9d2f0'
down_revision: Union[str, None] = '5b0a7d3c21e4'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('bulkjob', schema=None) as batch_op:
        batch_op.add_column(sa.Column('skipped_live_invitation', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.create_index('ix_patient_mobile', ['mobile_phone'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.drop_index('ix_patient_mobile')
    with op.batch_alter_table('bulkjob', schema=None) as batch_op:
        batch_op.drop_column('skipped_live_invitation')
