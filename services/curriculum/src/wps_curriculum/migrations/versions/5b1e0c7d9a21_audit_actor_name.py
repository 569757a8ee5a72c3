"""audit entries record the actor's display name from their token

Revision ID: 5b1e0c7d9a21
Revises: ad005b76a313
Create Date: 2026-11-24 03:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '5b1e0c7d9a21'
down_revision: str | None = 'ad005b76a313'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('audit_entries') as batch:
        batch.add_column(sa.Column('actor_name', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('audit_entries') as batch:
        batch.drop_column('actor_name')
