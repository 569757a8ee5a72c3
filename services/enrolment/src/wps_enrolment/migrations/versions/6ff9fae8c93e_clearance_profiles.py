"""deployment clearance profiles (read model)

Revision ID: 6ff9fae8c93e
Revises: 3d409c72b039
Create Date: 2026-11-24 20:10:00.000000
"""

from collections.abc import Sequence

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision: str = "6ff9fae8c93e"
down_revision: str | None = "3d409c72b039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # SLOT: to be filled by the work that owns it (or this file removed and the chain re-linked)


def downgrade() -> None:
    pass
