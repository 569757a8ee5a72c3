"""event retention: the inbox index by age

Revision ID: a0739ea0eedc
Revises: 5e2b7d9c1f43
Create Date: 2026-11-24 07:00:00.000000
"""

from collections.abc import Sequence

from wps_common import migrations as shared_tables

revision: str = "a0739ea0eedc"
down_revision: str | None = "5e2b7d9c1f43"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    shared_tables.add_inbox_processed_at_index()


def downgrade() -> None:
    shared_tables.drop_inbox_processed_at_index()
