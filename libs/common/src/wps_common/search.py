"""Word search through an index, once for every service: how a record's searchable words are
stored (folded, each word marked where it starts) and how a query's words match them — through
an FTS5 trigram table on SQLite and a pg_trgm GIN index on PostgreSQL.

A query word of three characters or more matches anywhere inside a stored word (`petr` finds
Petrova and Kuznetsov-Petrov); a word of one or two characters matches the start of a stored
word (`ko` finds Kovalenko, not Nikolaeva), because a trigram index cannot find a shorter run
anywhere without reading every row, and a person who types two letters means the beginning.
Every query word must match (`ana petr` finds Ana Petrova)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import DDL, Select, and_, func, literal, literal_column, select, table, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

__all__ = [
    "FTS_TABLES",
    "WORD_START",
    "compared",
    "fold",
    "fts5_ddl",
    "matches",
    "search_text",
    "sorted_matches",
    "unindexed",
]

WORD_START = "  "
"""What precedes every stored word. Two characters, so that a one-character word start is still
a three-character run a trigram index holds ("  k"); pg_trgm pads a word start the same way."""

SHORT = 3  # a query word shorter than this matches word starts only


# Letters with a stroke or a ligature, which Unicode does not decompose into a base letter and
# an accent.
_UNDECOMPOSED = str.maketrans(
    {"ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ı": "i", "ŧ": "t", "æ": "ae", "œ": "oe"}
)


def fold(text: str) -> str:
    """Lower case without accents, the form both sides of a search are compared in: `Ёлкина`
    and `ёлкина` and `Елкина` are one word, `Müller` is `muller`, `Łukasik` is `lukasik`."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_UNDECOMPOSED))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def search_text(*values: str | None) -> str:
    """The stored form of a record's searchable values: each folded word after `WORD_START`."""
    return "".join(WORD_START + word for value in values if value for word in fold(value).split())


def _run(word: str) -> str:
    """What a query word must find in the stored text: itself, or a word start when short."""
    return WORD_START + word if len(word) < SHORT else word


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(word: str) -> str:
    return f"%{_escaped(_run(word))}%"


_ALNUM = re.compile(r"[^\W_]+")


def _trigram_condition(column: Any, word: str) -> ColumnElement[bool]:
    """PostgreSQL: `word` in `column`, read from the GIN index by its longest run of letters
    and digits alone. pg_trgm splits a pattern at every other character and pads each part's
    ends, so `%kz-0333333%` would also read `kz ` and `  0` — trigrams of nearly every employee
    number — where `%0333333%` reads `033` and `333` only; the whole word is then checked on the
    rows found (`strpos`, which no index answers, so the planner keeps the index to the run)."""
    runs = _ALNUM.findall(word)
    core = max(runs, key=len) if runs else ""
    if len(word) < SHORT or len(core) < SHORT or core == word:
        return column.like(_like(word), escape="\\")
    return and_(column.like(f"%{_escaped(core)}%", escape="\\"), func.strpos(column, word) > 0)


def _quoted(run: str) -> str:
    return '"' + run.replace('"', '""') + '"'


PROBE = 200
"""How many of a trigram's documents its probe reads (see `_rare_parts`)."""
RARE = 10
"""A trigram up to this many times as common as a run's rarest is rare enough to read."""


async def _rare_parts(
    session: AsyncSession, runs: list[str], fts_table: str, table_name: str
) -> list[str]:
    """For each run, its longest stretch made only of rare trigrams.

    FTS5 answers a phrase by reading the whole document list of each of its trigrams, and a
    trigram that nearly every row holds (`kz-` of every employee number) costs as much as a scan
    whatever the rest of the word. Reading a trigram's first `PROBE` documents costs next to
    nothing and tells how common it is: fewer than `PROBE` in all, or, as the documents come in
    rowid order, `PROBE` in the span up to the last of them. So the index is asked only for a
    stretch of rare trigrams (as a phrase, which keeps their order), and the whole run is then
    checked on the rows found."""
    trigrams = sorted({run[i : i + 3] for run in runs for i in range(len(run) - 2)})
    probes = "".join(
        f", (SELECT count(*) || ' ' || coalesce(max(rowid), 0) FROM (SELECT rowid FROM "
        f"{fts_table} WHERE {fts_table} MATCH :t{i} LIMIT {PROBE}))"
        for i in range(len(trigrams))
    )
    top, *found = (
        await session.execute(
            text(f"SELECT (SELECT coalesce(max(rowid), 0) FROM {table_name}){probes}"),
            {f"t{i}": _quoted(t) for i, t in enumerate(trigrams)},
        )
    ).one()
    documents: dict[str, float] = {}
    for trigram, probe in zip(trigrams, found, strict=True):
        count, last = map(int, probe.split())
        documents[trigram] = count if count < PROBE else PROBE * max(top, last) / max(last, 1)
    parts = []
    for run in runs:
        each = [documents[run[i : i + 3]] for i in range(len(run) - 2)]
        rare = [n <= RARE * max(min(each), 1) for n in each]
        best, start = (0, 0), None
        for i, ok in enumerate([*rare, False]):
            if ok and start is None:
                start = i
            elif not ok and start is not None:
                best = max(best, (i - start, -start))
                start = None
        length, first = best[0], -best[1]
        parts.append(run[first : first + length + 2])
    return parts


async def matches(
    session: AsyncSession, column: Any, query: str, *, fts_table: str
) -> ColumnElement[bool] | None:
    """The condition that a row's `column` (kept by `search_text`) holds every word of `query`;
    None when the query has no words. On SQLite the candidates come from `fts_table`, the FTS5
    index `fts5_ddl` keeps over that column (by the row's `rowid`), and `LIKE` confirms them."""
    words = fold(query).split()
    if not words:
        return None
    each = and_(*(column.like(_like(word), escape="\\") for word in words))
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    if dialect == "postgresql":
        return and_(*(_trigram_condition(column, word) for word in words))
    parts = await _rare_parts(session, [_run(w) for w in words], fts_table, column.table.name)
    found: Select[tuple[Any]] = (
        select(literal_column("rowid"))
        .select_from(table(fts_table))
        .where(literal_column(fts_table).op("MATCH")(literal(" ".join(map(_quoted, parts)))))
    )
    return and_(literal_column(f"{column.table.name}.rowid").in_(found), each)


def unindexed(session: AsyncSession, column: Any) -> Any:
    """`column` for a condition no index should answer, on SQLite (elsewhere the column).

    Without statistics (SQLite has them only after an ANALYZE) SQLite guesses that `academy_id
    = ?` holds for ten rows and walks that index, checking each row against the search, past
    every row of the academy. A unary `+` keeps the column from any index, so the search's own
    index leads; PostgreSQL keeps statistics itself and needs no such help."""
    if session.bind is not None and session.bind.dialect.name != "sqlite":
        return column
    return literal_column(f"+{column.table.name}.{column.name}", column.type)


def sorted_matches(session: AsyncSession, order: tuple[Any, ...]) -> tuple[Any, ...]:
    """PostgreSQL: `order` for a list filtered by a search, with its first term (when text) as an
    expression no index holds, so the matches are read from the search index and sorted.

    The planner expects a search's matches spread evenly through the list's order and walks the
    order's index until a page is full; but the matches of a surname lie together in name order
    (and of a number prefix in number order), so that walk reads past every row before them:
    1.3–2 s for a surname a seventh of a million trainees hold. SQLite sorts already (see
    `unindexed`)."""
    if session.bind is None or session.bind.dialect.name != "postgresql" or not order:
        return order
    first, *rest = order
    if first.type.python_type is not str:
        return order
    return (first.concat("").label(first.key), *rest)


def fts5_ddl(table_name: str, column: str, fts_table: str) -> list[DDL]:
    """SQLite: an FTS5 trigram index over `table_name.column` (external content, keyed by the
    table's rowid) and the triggers that keep it in step with every insert, update and delete,
    whichever code writes the row. A migration that rebuilds the table (SQLite's batch ALTER
    copies it, and its rowids) must run these again and `rebuild` the index."""
    t, c, f = table_name, column, fts_table
    return [
        DDL(
            f"CREATE VIRTUAL TABLE {f} USING fts5({c}, content='{t}', content_rowid='rowid', "
            "tokenize='trigram')"
        ),
        DDL(
            f"CREATE TRIGGER {f}_insert AFTER INSERT ON {t} BEGIN "
            f"INSERT INTO {f}(rowid, {c}) VALUES (new.rowid, new.{c}); END"
        ),
        DDL(
            f"CREATE TRIGGER {f}_delete AFTER DELETE ON {t} BEGIN "
            f"INSERT INTO {f}({f}, rowid, {c}) VALUES ('delete', old.rowid, old.{c}); END"
        ),
        DDL(
            f"CREATE TRIGGER {f}_update AFTER UPDATE OF {c} ON {t} BEGIN "
            f"INSERT INTO {f}({f}, rowid, {c}) VALUES ('delete', old.rowid, old.{c}); "
            f"INSERT INTO {f}(rowid, {c}) VALUES (new.rowid, new.{c}); END"
        ),
    ]


FTS_TABLES = "fts_tables"
"""The key of `MetaData.info` naming a service's FTS5 indexes: tables SQLite makes (the index
and its shadow tables) that no model describes, left out when migrations and models are
compared."""


def compared(metadata: Any, dialect: str) -> dict[str, Any]:
    """Alembic's `include_name` and `include_object` hooks for comparing `metadata` with a
    database of `dialect`: they leave out the FTS5 index tables the metadata names, and the
    indexes a model creates only on another database (`Index(...).ddl_if(dialect=...)`, such
    as a trigram index on PostgreSQL)."""
    indexes = tuple(metadata.info.get(FTS_TABLES, ()))

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        if type_ != "table" or name is None:
            return True
        return not any(name == f or name.startswith(f + "_") for f in indexes)

    def include_object(
        item: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        only = getattr(item, "_ddl_if", None) if type_ == "index" else None
        if only is None or only.dialect is None:
            return True
        return dialect in ((only.dialect,) if isinstance(only.dialect, str) else only.dialect)

    return {"include_name": include_name, "include_object": include_object}
