"""modules and tracks have an owning academy, or none (national)

Existing modules and tracks stay national (NULL): until now only the curriculum as a whole
existed, and platform admins keep changing what was there (docs/adr/0017).

Revision ID: 3c9a7e51d2b4
Revises: 5b1e0c7d9a21
Create Date: 2026-11-25 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '3c9a7e51d2b4'
down_revision: str | None = '5b1e0c7d9a21'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ('modules', 'tracks'):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('owner_academy', sa.String(length=100), nullable=True))
            batch.create_index(f'ix_{table}_owner_academy', ['owner_academy'], unique=False)


def downgrade() -> None:
    for table in ('modules', 'tracks'):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f'ix_{table}_owner_academy')
            batch.drop_column('owner_academy')
