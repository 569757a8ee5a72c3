"""trainee search: folded search_text, FTS5 trigram (SQLite) or pg_trgm GIN (PostgreSQL)

Existing trainees get their search_text here, in batches; the SQLite index is built from the
column once it is filled.

Revision ID: d41e7c2b9a57
Revises: e5a9c3f71b28
Create Date: 2026-11-24 11:10:00.000000
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d41e7c2b9a57"
down_revision: str | None = "e5a9c3f71b28"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5_000
FTS = "trainee_search"
UNDECOMPOSED = str.maketrans(
    {"ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ı": "i", "ŧ": "t", "æ": "ae", "œ": "oe"}
)


def _search_text(*values: str | None) -> str:
    # A frozen copy of wps_common.search.search_text as of this revision.
    def fold(text: str) -> str:
        decomposed = unicodedata.normalize("NFKD", text.casefold().translate(UNDECOMPOSED))
        return "".join(ch for ch in decomposed if not unicodedata.combining(ch))

    return "".join("  " + word for value in values if value for word in fold(value).split())


def _pg_trgm() -> None:
    bind = op.get_bind()
    if bind.scalar(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")):
        return
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        database = bind.scalar(sa.text("SELECT current_database()"))
        raise RuntimeError(
            "Trainee search needs PostgreSQL's pg_trgm extension, and this database user may "
            f"not create it. Ask the database administrator to run `CREATE EXTENSION pg_trgm;` "
            f"in the database {database}, then start the service again. ({exc.orig})"
        ) from exc


def _backfill() -> None:
    bind = op.get_bind()
    trainees = sa.table(
        "trainees",
        sa.column("id", sa.String),
        sa.column("family_name", sa.String),
        sa.column("given_name", sa.String),
        sa.column("employee_number", sa.String),
        sa.column("search_text", sa.Text),
    )
    update = (
        sa.update(trainees)
        .where(trainees.c.id == sa.bindparam("key"))
        .values(search_text=sa.bindparam("words"))
    )
    after = ""
    while True:
        rows = bind.execute(
            sa.select(
                trainees.c.id,
                trainees.c.family_name,
                trainees.c.given_name,
                trainees.c.employee_number,
            )
            .where(trainees.c.id > after)
            .order_by(trainees.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        bind.execute(
            update,
            [
                {"key": r.id, "words": _search_text(r.family_name, r.given_name, r.employee_number)}
                for r in rows
            ],
        )
        after = rows[-1].id


def upgrade() -> None:
    with op.batch_alter_table("trainees", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
    _backfill()
    if op.get_bind().dialect.name == "postgresql":
        _pg_trgm()
        op.create_index(
            "ix_trainees_search_text",
            "trainees",
            ["search_text"],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        )
        return
    # SQLite: the same statements as wps_common.search.fts5_ddl as of this revision.
    for statement in (
        f"CREATE VIRTUAL TABLE {FTS} USING fts5(search_text, content='trainees', "
        "content_rowid='rowid', tokenize='trigram')",
        f"CREATE TRIGGER {FTS}_insert AFTER INSERT ON trainees BEGIN "
        f"INSERT INTO {FTS}(rowid, search_text) VALUES (new.rowid, new.search_text); END",
        f"CREATE TRIGGER {FTS}_delete AFTER DELETE ON trainees BEGIN "
        f"INSERT INTO {FTS}({FTS}, rowid, search_text) "
        "VALUES ('delete', old.rowid, old.search_text); END",
        f"CREATE TRIGGER {FTS}_update AFTER UPDATE OF search_text ON trainees BEGIN "
        f"INSERT INTO {FTS}({FTS}, rowid, search_text) "
        "VALUES ('delete', old.rowid, old.search_text); "
        f"INSERT INTO {FTS}(rowid, search_text) VALUES (new.rowid, new.search_text); END",
        f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",
    ):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # pg_trgm stays: other things in the database may use it.
        op.drop_index("ix_trainees_search_text", table_name="trainees")
    else:
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {FTS}_{trigger}")
        op.execute(f"DROP TABLE IF EXISTS {FTS}")
    with op.batch_alter_table("trainees", schema=None) as batch_op:
        batch_op.drop_column("search_text")
