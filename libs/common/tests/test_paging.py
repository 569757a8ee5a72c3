"""Keyset pages: walking a list by cursor gives every row once, in order, whatever the order's
directions; a cursor from another order is refused; the total stops at the cap."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import String, case, event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, aliased, mapped_column

from wps_common import paging
from wps_common.db import UTCDateTime
from wps_common.errors import InvalidInput


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "rows"
    id: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime)  # stored as text on SQLite


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[AsyncSession]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'paging.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    async with async_sessionmaker(engine)() as session:
        start = datetime(2026, 1, 1, tzinfo=UTC)
        # Repeated names and times, so the unique last column decides ties.
        session.add_all(
            Row(id=f"r{i:03d}", name=f"n{i % 7}", at=start + timedelta(minutes=i % 5))
            for i in range(60)
        )
        await session.commit()
        yield session
    await engine.dispose()


ORDERS = {
    "ascending": (Row.name, Row.id),
    "descending": (Row.at.desc(), Row.id.desc()),
    "mixed": (Row.name, Row.at.desc(), Row.id),
    # A computed term, labelled so its cursor names it.
    "computed": (case((Row.name.in_(("n1", "n2")), 0), else_=1).label("place"), Row.at, Row.id),
}


@pytest.mark.parametrize("order_name", ORDERS)
async def test_walking_by_cursor_gives_every_row_once_in_order(
    session: AsyncSession, order_name: str
) -> None:
    order = ORDERS[order_name]
    expected = [r.id for r in (await session.scalars(select(Row).order_by(*order))).all()]
    seen: list[str] = []
    cursor = None
    while True:
        listing = await paging.keyset_page(
            session, select(Row), order=order, limit=7, offset=0, cursor=cursor
        )
        seen += [r.id for r in listing.items]
        assert listing.total == 60 and listing.total_exact
        if listing.next_cursor is None:
            break
        cursor = listing.next_cursor
    assert seen == expected


async def test_a_cursor_from_another_order_or_garbage_is_refused(session: AsyncSession) -> None:
    first = await paging.keyset_page(
        session, select(Row), order=ORDERS["ascending"], limit=5, offset=0, cursor=None
    )
    assert first.next_cursor is not None
    for cursor in (first.next_cursor, "bm90LWpzb24", "A"):
        with pytest.raises(InvalidInput):
            await paging.keyset_page(
                session, select(Row), order=ORDERS["descending"], limit=5, offset=0, cursor=cursor
            )


async def test_the_total_stops_at_the_cap(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paging, "TOTAL_CAP", 10)
    listing = await paging.keyset_page(
        session, select(Row), order=ORDERS["ascending"], limit=5, offset=0, cursor=None
    )
    assert (listing.total, listing.total_exact) == (10, False)


async def test_a_select_of_two_entities_pages_by_cursor_as_row_tuples(
    session: AsyncSession,
) -> None:
    twin = aliased(Row)
    stmt = select(Row, twin).join(twin, twin.id == Row.id)
    order = (twin.name, Row.id)  # a joined table's column first
    expected = [r.id for r in (await session.scalars(select(Row).order_by(Row.name, Row.id)))]
    seen: list[str] = []
    cursor = None
    while True:
        listing = await paging.keyset_page(
            session, stmt, order=order, limit=9, offset=0, cursor=cursor
        )
        assert all(row.id == other.id for row, other in listing.items)
        seen += [row.id for row, _ in listing.items]
        if listing.next_cursor is None:
            break
        cursor = listing.next_cursor
    assert seen == expected


def test_a_computed_term_without_a_label_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="Label"):
        paging.cursor_after((case((Row.name == "n1", 0), else_=1), Row.id), Row(id="x", name="y"))


async def test_a_first_page_that_holds_every_match_is_not_counted_again(
    session: AsyncSession,
) -> None:
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    engine = session.bind
    assert engine is not None
    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        few = select(Row).where(Row.name == "n3")  # 9 of the 60 rows
        whole = await paging.keyset_page(
            session, few, order=ORDERS["ascending"], limit=9, offset=0, cursor=None
        )
        assert (len(whole.items), whole.total, whole.total_exact) == (9, 9, True)
        assert whole.next_cursor is None
        assert len(statements) == 1 and "count" not in statements[0]
        # A page that is not the whole list, or not its start, still counts every match.
        for limit, offset in ((8, 0), (9, 1)):
            statements.clear()
            part = await paging.keyset_page(
                session, few, order=ORDERS["ascending"], limit=limit, offset=offset, cursor=None
            )
            assert part.total == 9 and len(statements) == 2
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)
