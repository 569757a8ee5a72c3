"""personal due dates: a trainee's own deadline for a requirement

Revision ID: 9d2ddfabce52
Revises: 6ff9fae8c93e
Create Date: 2026-11-24 21:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wps_common.db

revision: str = "9d2ddfabce52"
down_revision: str | None = "6ff9fae8c93e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "due_dates",
        sa.Column("trainee_id", sa.String(length=36), nullable=False),
        sa.Column("requirement_code", sa.String(length=40), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.Column("set_at", wps_common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["trainee_id"], ["trainees.id"]),
        sa.PrimaryKeyConstraint("trainee_id", "requirement_code"),
    )


def downgrade() -> None:
    op.drop_table("due_dates")
