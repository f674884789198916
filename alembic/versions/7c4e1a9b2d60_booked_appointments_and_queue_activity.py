"""booked appointments and queue activity order

An appointment request marked scheduled keeps what was booked: the time (UTC), the provider
and the location, so the patient's Appointments page, the notice and the calendar file can
show them; `decision_seen_at` tells the portal home which decisions are new. The pending queue sorts by each item's latest activity (a patient's reply on a
reviewed item brings it back to the top): two indexes on (status[, kind], last_activity_at).
The patient arrangement's index follows Pending Review's order inside a chart (latest activity)
instead of the creation time the list no longer sorts by.

Revision ID: 7c4e1a9b2d60
Revises: c4e1b7a9d2f0
Create Date: 2026-12-05 05:40:00.000000
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '7c4e1a9b2d60'
down_revision: Union[str, None] = 'c4e1b7a9d2f0'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('appointmentrequest', schema=None) as batch_op:
        batch_op.add_column(sa.Column('booked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=120),
                                      nullable=False, server_default=''))
        batch_op.add_column(sa.Column('location', sqlmodel.sql.sqltypes.AutoString(length=200),
                                      nullable=False, server_default=''))
        batch_op.add_column(sa.Column('decision_seen_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    with op.batch_alter_table('portaltask', schema=None) as batch_op:
        batch_op.create_index('ix_task_status_activity', ['status', 'last_activity_at'], unique=False)
        batch_op.create_index('ix_task_status_kind_activity', ['status', 'kind', 'last_activity_at'], unique=False)
    op.drop_index('ix_task_status_patient_sort', table_name='portaltask')
    op.create_index('ix_task_status_patient_activity', 'portaltask',
                    ['status', 'patient_sort_key', 'patient_id', sa.text('last_activity_at DESC'), sa.text('id DESC')])


def downgrade() -> None:
    op.drop_index('ix_task_status_patient_activity', table_name='portaltask')
    op.create_index('ix_task_status_patient_sort', 'portaltask',
                    ['status', 'patient_sort_key', 'patient_id', sa.text('created_at DESC'), sa.text('id DESC')])
    with op.batch_alter_table('portaltask', schema=None) as batch_op:
        batch_op.drop_index('ix_task_status_kind_activity')
        batch_op.drop_index('ix_task_status_activity')
    with op.batch_alter_table('appointmentrequest', schema=None) as batch_op:
        batch_op.drop_column('decision_seen_at')
        batch_op.drop_column('location')
        batch_op.drop_column('provider')
        batch_op.drop_column('booked_at')
