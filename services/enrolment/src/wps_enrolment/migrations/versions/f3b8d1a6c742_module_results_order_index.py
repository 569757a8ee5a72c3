"""module results order index: an enrolment's entries oldest first (replaces the enrolment index)

Revision ID: f3b8d1a6c742
Revises: d41e7c2b9a57
Create Date: 2026-11-24 14:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f3b8d1a6c742"
down_revision: str | None = "d41e7c2b9a57"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The new index starts with the column of the one it replaces.
    op.drop_index("ix_module_results_enrolment_id", table_name="module_results")
    op.create_index(
        "ix_module_results_enrolment_recorded",
        "module_results",
        ["enrolment_id", "recorded_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_module_results_enrolment_recorded", table_name="module_results")
    op.create_index(
        "ix_module_results_enrolment_id", "module_results", ["enrolment_id"], unique=False
    )
