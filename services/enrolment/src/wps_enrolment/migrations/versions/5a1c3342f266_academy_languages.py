"""academy languages: localised academy names and the fallback chain

Revision ID: 5a1c3342f266
Revises: f3b8d1a6c742
Create Date: 2026-11-24 20:10:00.000000
"""

from collections.abc import Sequence

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision: str = "5a1c3342f266"
down_revision: str | None = "f3b8d1a6c742"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # SLOT: to be filled by the work that owns it (or this file removed and the chain re-linked)


def downgrade() -> None:
    pass
