"""compliance: academy time zone, import summaries

Revision ID: 835fd9759362
Revises: 5a1c3342f266
Create Date: 2026-11-24 20:10:00.000000
"""

from collections.abc import Sequence

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision: str = "835fd9759362"
down_revision: str | None = "5a1c3342f266"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # SLOT: to be filled by the work that owns it (or this file removed and the chain re-linked)


def downgrade() -> None:
    pass
