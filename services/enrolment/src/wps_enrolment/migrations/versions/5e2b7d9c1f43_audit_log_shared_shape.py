"""the audit trail takes the shape every service shares (wps_common.audit)

`academy_id` may be NULL (enrolment's entries all name one; the shape allows entries that belong
to no academy), `entity_id` holds up to 40 characters, and the entity index ends in the id (one
entity's trail in order of writing). Existing rows are kept as they are.

Revision ID: 5e2b7d9c1f43
Revises: 4dd6d469a044
Create Date: 2026-11-24 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '5e2b7d9c1f43'
down_revision: str | None = '4dd6d469a044'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('audit_log') as batch:
        batch.drop_index('ix_audit_log_entity')
        batch.alter_column('academy_id', existing_type=sa.String(length=36), nullable=True)
        batch.alter_column(
            'entity_id', type_=sa.String(length=40), existing_type=sa.String(length=36),
            existing_nullable=False,
        )
        batch.create_index('ix_audit_log_entity', ['entity', 'entity_id', 'id'], unique=False)


def downgrade() -> None:
    # Enrolment writes an academy with every entry, so none is NULL to refuse the constraint.
    with op.batch_alter_table('audit_log') as batch:
        batch.drop_index('ix_audit_log_entity')
        batch.alter_column(
            'entity_id', type_=sa.String(length=36), existing_type=sa.String(length=40),
            existing_nullable=False,
        )
        batch.alter_column('academy_id', existing_type=sa.String(length=36), nullable=False)
        batch.create_index('ix_audit_log_entity', ['entity', 'entity_id'], unique=False)
