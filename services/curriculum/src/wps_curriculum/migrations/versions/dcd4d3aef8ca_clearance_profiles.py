"""deployment clearance profiles

Revision ID: dcd4d3aef8ca
Revises: e85c15c143ba
Create Date: 2026-11-24 20:10:00.000000
"""

from collections.abc import Sequence

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision: str = "dcd4d3aef8ca"
down_revision: str | None = "e85c15c143ba"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # SLOT: to be filled by the work that owns it (or this file removed and the chain re-linked)


def downgrade() -> None:
    pass
