"""requirements: the refresher track that renews them

Revision ID: e85c15c143ba
Revises: e26f3e4f9c36
Create Date: 2026-11-24 20:10:00.000000
"""

from collections.abc import Sequence

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision: str = "e85c15c143ba"
down_revision: str | None = "e26f3e4f9c36"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # SLOT: to be filled by the work that owns it (or this file removed and the chain re-linked)


def downgrade() -> None:
    pass
