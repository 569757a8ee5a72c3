"""the audit trail takes the shape every service shares (wps_common.audit)

`audit_entries` becomes `audit_log`: `code` is `entity_id`, the statuses and the comment move
into `changes` (JSON), `academy_id` is added (NULL: curriculum entries belong to no academy).
Existing rows and their ids are kept.

Revision ID: e4a7c2d95b16
Revises: b12378b99b49
Create Date: 2026-11-24 06:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'e4a7c2d95b16'
down_revision: str | None = 'b12378b99b49'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SAID = ('from_status', 'to_status', 'comment')


def upgrade() -> None:
    with op.batch_alter_table('audit_entries') as batch:
        batch.drop_index('ix_audit_entries_subject')
        batch.alter_column(
            'code', new_column_name='entity_id', existing_type=sa.String(length=40),
            existing_nullable=False,
        )
        batch.alter_column(
            'action', type_=sa.String(length=30), existing_type=sa.String(length=20),
            existing_nullable=False,
        )
        batch.add_column(sa.Column('academy_id', sa.String(length=36), nullable=True))
        batch.add_column(sa.Column('changes', sa.JSON(), nullable=True))

    bind = op.get_bind()
    old = sa.table(
        'audit_entries',
        sa.column('id', sa.BigInteger),
        sa.column('changes', sa.JSON),
        *(sa.column(name, sa.Text) for name in SAID),
    )
    rows = bind.execute(sa.select(old.c.id, *(old.c[name] for name in SAID))).all()
    if rows:
        bind.execute(
            old.update().where(old.c.id == sa.bindparam('entry')).values(
                changes=sa.bindparam('said')
            ),
            [
                {
                    'entry': row.id,
                    'said': {
                        name: getattr(row, name)
                        for name in SAID
                        if getattr(row, name) is not None
                    },
                }
                for row in rows
            ],
        )

    with op.batch_alter_table('audit_entries') as batch:
        batch.alter_column('changes', existing_type=sa.JSON(), nullable=False)
        for name in SAID:
            batch.drop_column(name)
    op.rename_table('audit_entries', 'audit_log')
    with op.batch_alter_table('audit_log') as batch:
        batch.create_index('ix_audit_log_entity', ['entity', 'entity_id', 'id'], unique=False)
        batch.create_index(batch.f('ix_audit_log_academy_id'), ['academy_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_log') as batch:
        batch.drop_index(batch.f('ix_audit_log_academy_id'))
        batch.drop_index('ix_audit_log_entity')
    op.rename_table('audit_log', 'audit_entries')
    with op.batch_alter_table('audit_entries') as batch:
        batch.add_column(sa.Column('from_status', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('to_status', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('comment', sa.Text(), nullable=True))

    bind = op.get_bind()
    old = sa.table(
        'audit_entries',
        sa.column('id', sa.BigInteger),
        sa.column('changes', sa.JSON),
        *(sa.column(name, sa.Text) for name in SAID),
    )
    rows = bind.execute(sa.select(old.c.id, old.c.changes)).all()
    if rows:
        bind.execute(
            old.update().where(old.c.id == sa.bindparam('entry')).values(
                **{name: sa.bindparam(f'said_{name}') for name in SAID}
            ),
            [
                {'entry': row.id, **{f'said_{name}': (row.changes or {}).get(name) for name in SAID}}
                for row in rows
            ],
        )

    with op.batch_alter_table('audit_entries') as batch:
        batch.drop_column('changes')
        batch.drop_column('academy_id')
        batch.alter_column(
            'action', type_=sa.String(length=20), existing_type=sa.String(length=30),
            existing_nullable=False,
        )
        batch.alter_column(
            'entity_id', new_column_name='code', existing_type=sa.String(length=40),
            existing_nullable=False,
        )
    with op.batch_alter_table('audit_entries') as batch:
        batch.create_index('ix_audit_entries_subject', ['entity', 'code', 'id'], unique=False)
