"""status list entries: each certificate's entry in its academy's revocation list

Certificates issued before get entries in the order they were issued, and each academy's
counter starts after them.

Revision ID: d41b7e9c2a58
Revises: c3d8f1a6b240
Create Date: 2026-11-24 18:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d41b7e9c2a58"
down_revision: str | None = "c3d8f1a6b240"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "status_list_counters",
        sa.Column("academy_id", sa.String(length=36), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("academy_id"),
    )
    with op.batch_alter_table("certificates") as batch:
        batch.add_column(sa.Column("status_index", sa.Integer(), nullable=True))
    # Ranked once into a table of their own, then copied by key: a correlated window query
    # would rank the whole table again for every row.
    op.execute(
        """
        CREATE TABLE status_index_backfill AS
        SELECT id, ROW_NUMBER() OVER (PARTITION BY academy_id ORDER BY created_at, id) - 1
            AS entry
        FROM certificates
        """
    )
    op.execute("CREATE UNIQUE INDEX ix_status_index_backfill ON status_index_backfill (id)")
    op.execute(
        """
        UPDATE certificates SET status_index = (
            SELECT entry FROM status_index_backfill WHERE status_index_backfill.id = certificates.id
        )
        """
    )
    op.execute("DROP TABLE status_index_backfill")
    op.execute(
        """
        INSERT INTO status_list_counters (academy_id, used)
        SELECT academy_id, MAX(status_index) + 1 FROM certificates GROUP BY academy_id
        """
    )
    with op.batch_alter_table("certificates") as batch:
        batch.create_unique_constraint(
            "uq_certificates_status_index", ["academy_id", "status_index"]
        )


def downgrade() -> None:
    with op.batch_alter_table("certificates") as batch:
        batch.drop_constraint("uq_certificates_status_index", type_="unique")
        batch.drop_column("status_index")
    op.drop_table("status_list_counters")
