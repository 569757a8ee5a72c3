"""academy languages: localised academy names and the fallback chain

Revision ID: 5a1c3342f266
Revises: f3b8d1a6c742
Create Date: 2026-11-24 20:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5a1c3342f266"
down_revision: str | None = "f3b8d1a6c742"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The academy's name per language; existing academies start with none (their official
    # `name` is shown until names are given). `languages` already holds the fallback chain.
    with op.batch_alter_table("academies") as batch:
        batch.add_column(sa.Column("names", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("academies") as batch:
        batch.drop_column("names")
