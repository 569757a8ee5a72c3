"""certificate list indexes: the list's order, for everyone and within an academy

Revision ID: c3d8f1a6b240
Revises: a755fdc50cd1
Create Date: 2026-11-24 07:05:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c3d8f1a6b240"
down_revision: str | None = "a755fdc50cd1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_certificates_created": ["created_at", "id"],
    "ix_certificates_academy_created": ["academy_id", "created_at", "id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "certificates", columns, unique=False)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="certificates")
