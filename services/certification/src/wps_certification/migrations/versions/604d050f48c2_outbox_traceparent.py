"""outbox rows keep the W3C traceparent of the request or event that wrote them

Revision ID: 604d050f48c2
Revises: 1a59e5ffede1
Create Date: 2026-11-24 06:00:00
"""

from collections.abc import Sequence

from wps_common import migrations as shared_tables

revision: str = '604d050f48c2'
down_revision: str | None = '1a59e5ffede1'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    shared_tables.add_outbox_traceparent()


def downgrade() -> None:
    shared_tables.drop_outbox_traceparent()
