"""deployment clearance profiles (read model); certificate records keep modules' own
certificates (`award`) and the track version a certificate attests

Revision ID: 6ff9fae8c93e
Revises: 3d409c72b039
Create Date: 2026-11-24 20:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wps_common.db

revision: str = "6ff9fae8c93e"
down_revision: str | None = "3d409c72b039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clearance_profiles",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("title", sa.JSON(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("changed_at", wps_common.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    with op.batch_alter_table("certificate_records") as batch:
        batch.add_column(
            sa.Column("award", sa.String(length=10), server_default="track", nullable=False)
        )
        batch.add_column(sa.Column("track_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("certificate_records") as batch:
        batch.drop_column("track_version")
        batch.drop_column("award")
    op.drop_table("clearance_profiles")
