"""holders: localised academy names and the academy's language chain

Revision ID: 0a0a6d167f6c
Revises: e7a2c9d05b13
Create Date: 2026-11-24 20:10:00.000000
"""

from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa

revision: str = "0a0a6d167f6c"
down_revision: str | None = "e7a2c9d05b13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("holders", "certificates")


def upgrade() -> None:
    # The academy's name per language and its languages in fallback order, as the holder's
    # profile last said and as each certificate was issued with. Rows from before start with
    # none: they print the official `academy_name`, as they always did.
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("academy_names", sa.JSON(), nullable=False, server_default="{}")
            )
            batch.add_column(
                sa.Column("academy_languages", sa.JSON(), nullable=False, server_default="[]")
            )


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("academy_languages")
            batch.drop_column("academy_names")
