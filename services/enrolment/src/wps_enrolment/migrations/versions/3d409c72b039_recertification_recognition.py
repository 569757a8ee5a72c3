"""recertification and recognition of training done elsewhere

Revision ID: 3d409c72b039
Revises: 835fd9759362
Create Date: 2026-11-24 20:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from wps_common.db import UTCDateTime

revision: str = "3d409c72b039"
down_revision: str | None = "835fd9759362"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requirements") as batch:
        batch.add_column(sa.Column("refresher_track_code", sa.String(length=20), nullable=True))
    with op.batch_alter_table("compliance") as batch:
        batch.add_column(sa.Column("recognition_id", sa.String(length=36), nullable=True))
    op.create_table(
        "recognitions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("academy_id", sa.String(length=36), nullable=False),
        sa.Column("trainee_id", sa.String(length=36), nullable=False),
        sa.Column("track_code", sa.String(length=20), nullable=False),
        sa.Column("issuer", sa.String(length=200), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("evidence", sa.LargeBinary(), nullable=False),
        sa.Column("evidence_type", sa.String(length=40), nullable=False),
        sa.Column("evidence_name", sa.String(length=200), nullable=False),
        sa.Column("evidence_size", sa.Integer(), nullable=False),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["academy_id"], ["academies.id"]),
        sa.ForeignKeyConstraint(["trainee_id"], ["trainees.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_recognitions_academy_status",
        "recognitions",
        ["academy_id", "status", "recorded_at", "id"],
    )
    op.create_index("ix_recognitions_trainee", "recognitions", ["trainee_id", "track_code"])


def downgrade() -> None:
    op.drop_index("ix_recognitions_trainee", table_name="recognitions")
    op.drop_index("ix_recognitions_academy_status", table_name="recognitions")
    op.drop_table("recognitions")
    with op.batch_alter_table("compliance") as batch:
        batch.drop_column("recognition_id")
    with op.batch_alter_table("requirements") as batch:
        batch.drop_column("refresher_track_code")
