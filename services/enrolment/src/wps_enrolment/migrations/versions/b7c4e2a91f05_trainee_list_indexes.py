"""trainee list indexes: one per sort, with and without the academy

Revision ID: b7c4e2a91f05
Revises: a0739ea0eedc
Create Date: 2026-11-24 07:05:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b7c4e2a91f05"
down_revision: str | None = "a0739ea0eedc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_trainees_academy_name": ["academy_id", "family_name", "given_name", "id"],
    "ix_trainees_academy_created": ["academy_id", "created_at", "id"],
    "ix_trainees_name": ["family_name", "given_name", "id"],
    "ix_trainees_employee_number": ["employee_number", "id"],
    "ix_trainees_created": ["created_at", "id"],
}


def upgrade() -> None:
    # The new academy index starts with the columns of the one it replaces.
    op.drop_index("ix_trainees_academy_family_name", table_name="trainees")
    for name, columns in INDEXES.items():
        op.create_index(name, "trainees", columns, unique=False)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="trainees")
    op.create_index(
        "ix_trainees_academy_family_name", "trainees", ["academy_id", "family_name"], unique=False
    )
