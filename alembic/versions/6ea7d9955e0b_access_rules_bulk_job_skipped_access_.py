"""access rules: bulk job count of charts skipped by an access rule; enabled + last visit index

"Enable and invite" skips a chart recorded as deceased or merged into another chart (its access
stays off) and counts those skips on the job row. The daily no-visit rule reads the enabled
charts by last visit date: ix_patient_enabled_visit.

Revision ID: 6ea7d9955e0b
Revises: 3a40f9d6f06a
Create Date: 2026-12-05 08:25:41.081139
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = '6ea7d9955e0b'
down_revision: Union[str, None] = '3a40f9d6f06a'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('bulkjob', schema=None) as batch_op:
        batch_op.add_column(sa.Column('skipped_access_rule', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.create_index('ix_patient_enabled_visit', ['portal_enabled', 'last_visit_on', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.drop_index('ix_patient_enabled_visit')
    with op.batch_alter_table('bulkjob', schema=None) as batch_op:
        batch_op.drop_column('skipped_access_rule')
