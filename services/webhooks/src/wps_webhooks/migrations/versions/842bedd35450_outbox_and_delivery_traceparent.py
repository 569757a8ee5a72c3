"""outbox rows and webhook deliveries keep the W3C traceparent of what caused them

Revision ID: 842bedd35450
Revises: d4262dd3cbe4
Create Date: 2026-11-24 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from wps_common import migrations as shared_tables

revision: str = '842bedd35450'
down_revision: str | None = 'd4262dd3cbe4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    shared_tables.add_outbox_traceparent()
    with op.batch_alter_table('deliveries') as batch:
        batch.add_column(sa.Column('traceparent', sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deliveries') as batch:
        batch.drop_column('traceparent')
    shared_tables.drop_outbox_traceparent()
