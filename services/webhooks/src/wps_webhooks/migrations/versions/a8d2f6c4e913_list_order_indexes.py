"""list order indexes: subscriptions oldest first (with and without the owner), a
subscription's deliveries in queue order

Revision ID: a8d2f6c4e913
Revises: f519cd95e43d
Create Date: 2026-11-24 11:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a8d2f6c4e913"
down_revision: str | None = "f519cd95e43d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_subscriptions_created": ("subscriptions", ["created_at", "id"]),
    "ix_subscriptions_owner_created": ("subscriptions", ["owner", "created_at", "id"]),
    "ix_deliveries_subscription": ("deliveries", ["subscription_id", "id"]),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
