"""outbox rows keep the W3C traceparent of the request or event that wrote them

Revision ID: 4dd6d469a044
Revises: 8c3f2a6e4d10
Create Date: 2026-11-24 06:00:00
"""

from collections.abc import Sequence

from wps_common import migrations as shared_tables

revision: str = '4dd6d469a044'
down_revision: str | None = '8c3f2a6e4d10'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    shared_tables.add_outbox_traceparent()


def downgrade() -> None:
    shared_tables.drop_outbox_traceparent()
