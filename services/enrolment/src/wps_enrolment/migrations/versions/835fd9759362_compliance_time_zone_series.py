"""compliance: academy time zone, import summaries

Revision ID: 835fd9759362
Revises: 5a1c3342f266
Create Date: 2026-11-24 20:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wps_common.db

revision: str = "835fd9759362"
down_revision: str | None = "5a1c3342f266"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The local date each academy was last swept on (the hourly sweep catches its midnight).
    with op.batch_alter_table("academies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("compliance_swept_on", sa.Date(), nullable=True))
    # An import's compliance transitions, counted per requirement and status chunk by chunk.
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("compliance_changes", sa.JSON(), nullable=True))
    op.create_table(
        "compliance_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("trainee_id", sa.String(length=36), nullable=False),
        sa.Column("academy_id", sa.String(length=36), nullable=False),
        sa.Column("requirement_code", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("changed_on", sa.Date(), nullable=False),
        sa.Column("changed_at", wps_common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["trainee_id"], ["trainees.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("compliance_history", schema=None) as batch_op:
        batch_op.create_index(
            "ix_compliance_history_academy_on", ["academy_id", "changed_on"], unique=False
        )
        batch_op.create_index(
            "ix_compliance_history_trainee", ["trainee_id", "requirement_code"], unique=False
        )
    # The history begins with each current status, from the day it was reached.
    op.execute(
        "INSERT INTO compliance_history"
        " (trainee_id, academy_id, requirement_code, status, changed_on, changed_at)"
        " SELECT trainee_id, academy_id, requirement_code, status, CAST(since AT TIME ZONE 'UTC' AS DATE), since"
        " FROM compliance"
        if op.get_bind().dialect.name == "postgresql"
        else "INSERT INTO compliance_history"
        " (trainee_id, academy_id, requirement_code, status, changed_on, changed_at)"
        " SELECT trainee_id, academy_id, requirement_code, status, date(since), since"
        " FROM compliance"
    )


def downgrade() -> None:
    with op.batch_alter_table("compliance_history", schema=None) as batch_op:
        batch_op.drop_index("ix_compliance_history_trainee")
        batch_op.drop_index("ix_compliance_history_academy_on")
    op.drop_table("compliance_history")
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.drop_column("compliance_changes")
    with op.batch_alter_table("academies", schema=None) as batch_op:
        batch_op.drop_column("compliance_swept_on")
