"""requirements: the refresher track that renews them

Revision ID: e85c15c143ba
Revises: e26f3e4f9c36
Create Date: 2026-11-24 20:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e85c15c143ba"
down_revision: str | None = "e26f3e4f9c36"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requirements") as batch:
        batch.add_column(sa.Column("refresher_track_code", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requirements") as batch:
        batch.drop_column("refresher_track_code")
