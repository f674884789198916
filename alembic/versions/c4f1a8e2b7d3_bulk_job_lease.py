"""job leases: lease_owner, lease_expires_at on bulkjob and importjob

One worker process works a job at a time, by a lease it renews (services/leases.py); a job
whose lease ran out (its worker died) is picked up by another worker instead of being marked
interrupted at the next start; an import is marked interrupted only once its lease ran out.

Revision ID: c4f1a8e2b7d3
Revises: a7c3e9d41b20
Create Date: 2026-12-06 15:30:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = 'c4f1a8e2b7d3'
down_revision: Union[str, None] = 'a7c3e9d41b20'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


TABLES = ("bulkjob", "importjob")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("lease_owner", sqlmodel.sql.sqltypes.AutoString(length=120),
                                       nullable=False, server_default=""))
            batch.add_column(sa.Column("lease_expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("lease_expires_at")
            batch.drop_column("lease_owner")
