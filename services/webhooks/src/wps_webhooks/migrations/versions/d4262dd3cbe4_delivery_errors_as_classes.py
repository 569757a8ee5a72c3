"""delivery errors as classes: drop receivers' replies from deliveries.last_error

Revision ID: d4262dd3cbe4
Revises: 9370fdb0be8c
Create Date: 2026-11-30 10:00:00.000000

`last_error` used to hold "HTTP 503: <the first 500 characters of the reply>" or
"<httpx exception>: <message>", shown to the subscriber. It now holds a short class only
(`http_503`, `redirect`, `timeout`, `unreachable`, ...); stored values are rewritten the same
way, so no reply already stored is shown again.
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'd4262dd3cbe4'
down_revision: str | None = '9370fdb0be8c'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

deliveries = sa.table(
    "deliveries", sa.column("id", sa.Integer), sa.column("last_error", sa.Text)
)
HTTP_STATUS = re.compile(r"HTTP (\d{3})\b")
CLASS = re.compile(r"[a-z0-9_]{1,40}")


def error_class(old: str) -> str:
    if CLASS.fullmatch(old):
        return old
    status = HTTP_STATUS.match(old)
    if status:
        code = int(status.group(1))
        return "redirect" if 300 <= code < 400 else f"http_{code}"
    if "Timeout" in old.split(":", 1)[0]:
        return "timeout"
    return "unreachable"


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(deliveries.c.id, deliveries.c.last_error).where(
            deliveries.c.last_error.is_not(None)
        )
    ).all()
    changes = [
        {"row_id": row_id, "error": error_class(old)}
        for row_id, old in rows
        if error_class(old) != old
    ]
    if changes:
        connection.execute(
            deliveries.update()
            .where(deliveries.c.id == sa.bindparam("row_id"))
            .values(last_error=sa.bindparam("error")),
            changes,
        )


def downgrade() -> None:
    # The replies are gone for good; the classes are valid values for the old code too.
    pass
