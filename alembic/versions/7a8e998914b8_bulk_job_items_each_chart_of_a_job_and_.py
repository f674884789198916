"""bulk job items: each chart of a job and its outcome, so a resumed job does each chart once

"Enable and invite" fixes its charts when it starts (one row each, outcome "" until done). A chart's
outcome is committed with the chart's own changes, so a job cut off by a restart knows exactly
which charts it did: Resume does the rest once each, and the counts are read from these rows.
`bulkjob.resend` keeps "Send again" for a resumed job.

Revision ID: 7a8e998914b8
Revises: 43def7f9dd9e
Create Date: 2026-12-05 13:06:56.299236
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = '7a8e998914b8'
down_revision: Union[str, None] = '43def7f9dd9e'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'bulkjobitem',
        sa.Column('job_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('patient_id', sa.Integer(), nullable=False),
        sa.Column('outcome', sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(['job_id'], ['bulkjob.id'], ),
        sa.PrimaryKeyConstraint('job_id', 'position'),
    )
    with op.batch_alter_table('bulkjob', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resend', sa.Boolean(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('bulkjob', schema=None) as batch_op:
        batch_op.drop_column('resend')
    op.drop_table('bulkjobitem')
