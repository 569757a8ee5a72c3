"""signatories and seal: uploaded images, versioned signature sets, the set a certificate names

Revision ID: e7a2c9d05b13
Revises: d41b7e9c2a58
Create Date: 2026-11-24 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wps_common.db

revision: str = "e7a2c9d05b13"
down_revision: str | None = "d41b7e9c2a58"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "certificate_images",
        sa.Column("academy_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("png", sa.LargeBinary(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("created_at", wps_common.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("academy_id", "id"),
    )
    op.create_table(
        "signature_sets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("academy_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("signatories", sa.JSON(), nullable=False),
        sa.Column("seal_image_id", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", wps_common.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("academy_id", "version", name="uq_signature_sets_version"),
    )
    with op.batch_alter_table("certificates") as batch:
        batch.add_column(sa.Column("signature_set_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("certificates") as batch:
        batch.drop_column("signature_set_id")
    op.drop_table("signature_sets")
    op.drop_table("certificate_images")
