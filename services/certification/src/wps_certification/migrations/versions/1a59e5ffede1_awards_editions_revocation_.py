"""awards, editions, revocation, recertification, expiry notices

One certificate per enrolment becomes one per (enrolment, award, edition): a module that grants
its own certificate is a second award of the same enrolment, and a correction is the next
edition. The old unique constraint on enrolment_id was created unnamed; PostgreSQL named it
`certificates_enrolment_id_key`, SQLite gets a name from the naming convention while the batch
operation rebuilds the table.

Revision ID: 1a59e5ffede1
Revises: 775820459375
Create Date: 2026-11-23 15:47:00.735061
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import wps_common.db


revision: str = '1a59e5ffede1'
down_revision: str | None = '775820459375'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXPIRY_SCAN_WHERE = "status = 'valid' AND expires_on IS NOT NULL"
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _old_unique_name() -> str:
    if op.get_bind().dialect.name == "postgresql":
        return "certificates_enrolment_id_key"
    return "uq_certificates_enrolment_id"


def upgrade() -> None:
    op.create_table('certificate_notices',
    sa.Column('certificate_id', sa.String(length=36), nullable=False),
    sa.Column('notice', sa.String(length=20), nullable=False),
    sa.Column('sent_at', wps_common.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('certificate_id', 'notice')
    )
    with op.batch_alter_table('certificates', schema=None, naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint(_old_unique_name(), type_='unique')
        batch_op.add_column(sa.Column('awarded_for', sa.String(length=40), nullable=False, server_default='track'))
        batch_op.add_column(sa.Column('edition', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('previous_certificate_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('supersedes_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('superseded_by_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('revoked_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('revocation_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('revoked_by', sa.String(length=100), nullable=True))
        batch_op.create_index('ix_certificates_expiry_scan', ['expires_on'], unique=False, postgresql_where=sa.text(EXPIRY_SCAN_WHERE), sqlite_where=sa.text(EXPIRY_SCAN_WHERE))
        batch_op.create_index('ix_certificates_trainee_track', ['trainee_id', 'track_code'], unique=False)
        batch_op.create_unique_constraint('uq_certificates_award', ['enrolment_id', 'awarded_for', 'edition'])
    # The defaults only filled the existing rows; the application always sets both.
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.alter_column('awarded_for', server_default=None)
        batch_op.alter_column('edition', server_default=None)


def downgrade() -> None:
    # Only possible while no enrolment has more than one certificate (no module awards and no
    # corrections yet); otherwise the restored constraint refuses, and nothing is changed.
    with op.batch_alter_table('certificates', schema=None, naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint('uq_certificates_award', type_='unique')
        batch_op.drop_index('ix_certificates_trainee_track')
        batch_op.drop_index('ix_certificates_expiry_scan', postgresql_where=sa.text(EXPIRY_SCAN_WHERE), sqlite_where=sa.text(EXPIRY_SCAN_WHERE))
        batch_op.drop_column('revoked_by')
        batch_op.drop_column('revocation_reason')
        batch_op.drop_column('revoked_on')
        batch_op.drop_column('superseded_by_id')
        batch_op.drop_column('supersedes_id')
        batch_op.drop_column('previous_certificate_id')
        batch_op.drop_column('edition')
        batch_op.drop_column('awarded_for')
        batch_op.create_unique_constraint(_old_unique_name(), ['enrolment_id'])

    op.drop_table('certificate_notices')
