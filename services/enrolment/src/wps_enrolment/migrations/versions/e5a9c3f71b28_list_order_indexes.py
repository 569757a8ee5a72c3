"""list order indexes: cohorts by start (with and without the academy), a trainee's enrolments

Revision ID: e5a9c3f71b28
Revises: b7c4e2a91f05
Create Date: 2026-11-24 11:05:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "e5a9c3f71b28"
down_revision: str | None = "b7c4e2a91f05"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_cohorts_starts": ("cohorts", ["starts_on", "id"]),
    "ix_cohorts_academy_starts": ("cohorts", ["academy_id", "starts_on", "id"]),
    "ix_enrolments_trainee_enrolled": ("enrolments", ["trainee_id", "enrolled_at", "id"]),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
