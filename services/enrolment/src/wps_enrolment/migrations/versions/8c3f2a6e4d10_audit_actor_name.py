"""audit log records the actor's display name from their token

Revision ID: 8c3f2a6e4d10
Revises: 11118fbe2bff
Create Date: 2026-11-24 03:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '8c3f2a6e4d10'
down_revision: str | None = '11118fbe2bff'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('audit_log') as batch:
        batch.add_column(sa.Column('actor_name', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('audit_log') as batch:
        batch.drop_column('actor_name')
