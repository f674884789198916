"""queue indexes for review time and patient order

Revision ID: d2d9bd07033f
Revises: 094a209dbe36
Create Date: 2026-11-29 13:01:31.223236
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = 'd2d9bd07033f'
down_revision: Union[str, None] = '094a209dbe36'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('portaltask', schema=None) as batch_op:
        batch_op.add_column(sa.Column('patient_sort_key', sqlmodel.sql.sqltypes.AutoString(length=210), nullable=False,
                                      server_default=''))
        batch_op.create_index('ix_task_status_kind_reviewed', ['status', 'kind', 'reviewed_at'], unique=False)
        batch_op.create_index('ix_task_status_reviewed', ['status', 'reviewed_at'], unique=False)

    # Newest first inside a chart, as the list orders it (written by hand: autogenerate skips DESC).
    op.create_index('ix_task_status_patient_sort', 'portaltask',
                    ['status', 'patient_sort_key', 'patient_id', sa.text('created_at DESC'), sa.text('id DESC')])
    # Items filed before this column existed take their chart's name order now.
    op.execute("UPDATE portaltask SET patient_sort_key = "
               "(SELECT sort_key FROM patient WHERE patient.id = portaltask.patient_id)")


def downgrade() -> None:
    op.drop_index('ix_task_status_patient_sort', table_name='portaltask')
    with op.batch_alter_table('portaltask', schema=None) as batch_op:
        batch_op.drop_index('ix_task_status_reviewed')
        batch_op.drop_index('ix_task_status_kind_reviewed')
        batch_op.drop_column('patient_sort_key')

