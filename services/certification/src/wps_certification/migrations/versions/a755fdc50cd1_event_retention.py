"""event retention: the inbox index by age

Revision ID: a755fdc50cd1
Revises: 604d050f48c2
Create Date: 2026-11-24 07:00:00.000000
"""

from collections.abc import Sequence

from wps_common import migrations as shared_tables

revision: str = "a755fdc50cd1"
down_revision: str | None = "604d050f48c2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    shared_tables.add_inbox_processed_at_index()


def downgrade() -> None:
    shared_tables.drop_inbox_processed_at_index()
