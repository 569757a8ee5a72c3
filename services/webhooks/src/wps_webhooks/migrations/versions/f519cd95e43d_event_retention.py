"""event retention: job_runs (for the leased prune) and the inbox index by age

Revision ID: f519cd95e43d
Revises: 842bedd35450
Create Date: 2026-11-24 07:00:00.000000
"""

from collections.abc import Sequence

from wps_common import migrations as shared_tables

revision: str = "f519cd95e43d"
down_revision: str | None = "842bedd35450"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    shared_tables.create_job_runs()
    shared_tables.add_inbox_processed_at_index()


def downgrade() -> None:
    shared_tables.drop_inbox_processed_at_index()
    shared_tables.drop_job_runs()
