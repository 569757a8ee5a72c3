"""holders: localised academy names and the academy's language chain

Revision ID: 0a0a6d167f6c
Revises: e7a2c9d05b13
Create Date: 2026-11-24 20:10:00.000000
"""

from collections.abc import Sequence

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision: str = "0a0a6d167f6c"
down_revision: str | None = "e7a2c9d05b13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # SLOT: to be filled by the work that owns it (or this file removed and the chain re-linked)


def downgrade() -> None:
    pass
