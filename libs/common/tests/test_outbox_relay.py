"""Outbox + relay on a real nats-server and real databases: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import StreamInfo
from sqlalchemy import event, func, select

from wps_common.db import Database
from wps_common.events.outbox import EventRouting
from wps_common.events.relay import OutboxRelay
from wps_common.events.streams import ensure_streams
from wps_common.natsserver import NatsServer
from wps_common.settings import ServiceSettings
from wps_common.testing import bus_settings, wait_until

from .conftest import ThingHappened, outbox


def settings_for(nats_url: str, database_url: str) -> ServiceSettings:
    return ServiceSettings(database_url=database_url, **bus_settings(nats_url))


async def stream_count(js: nats.js.JetStreamContext, name: str) -> int:
    info: StreamInfo = await js.stream_info(name)
    return info.state.messages


async def pending(db: Database) -> int:
    async with db.session() as session:
        stmt = (
            select(func.count()).select_from(outbox.table).where(outbox.table.c.sent_at.is_(None))
        )
        return int(await session.scalar(stmt) or 0)


async def test_committed_events_are_published_once_and_rolled_back_ones_never(
    db: Database, nats_server: NatsServer
) -> None:
    settings = settings_for(nats_server.url, db.url)
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js, settings)
    await ensure_streams(js, settings)  # idempotent at every start
    routing = EventRouting(settings.subject_root, settings.restricted_subject_root)
    relay = OutboxRelay(db=db, outbox=outbox, js=js, routing=routing, batch_size=50)

    for n in range(120):
        async with db.session() as session:
            await outbox.add(session, ThingHappened(thing_id=str(uuid.uuid4()), n=n))
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            await outbox.add(session, ThingHappened(thing_id="rolled-back"))
            raise RuntimeError("the business change failed")

    while await relay.publish_pending():
        pass
    assert await pending(db) == 0
    assert await stream_count(js, settings.stream_name) == 120

    # A relay that crashed after publishing but before marking re-sends: JetStream drops it.
    async with db.session() as session:
        await session.execute(outbox.table.update().values(sent_at=None))
    while await relay.publish_pending():
        pass
    assert await stream_count(js, settings.stream_name) == 120
    await nc.close()


async def test_relay_keeps_events_while_nats_is_down_and_delivers_them_after(
    db: Database, tmp_path: Path
) -> None:
    server = NatsServer(tmp_path / "nats").start()
    try:
        settings = settings_for(server.url, db.url)
        nc = await nats.connect(
            server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2, connect_timeout=1
        )
        js = nc.jetstream(timeout=1)
        await ensure_streams(js, settings)
        routing = EventRouting(settings.subject_root, settings.restricted_subject_root)
        relay = OutboxRelay(
            db=db,
            outbox=outbox,
            js=js,
            routing=routing,
            poll_seconds=0.05,
            max_backoff_seconds=0.5,
            publish_timeout_seconds=0.5,
        )
        task = asyncio.create_task(relay.run())

        server.stop()
        for n in range(25):  # writes keep succeeding while the broker is away
            async with db.session() as session:
                await outbox.add(session, ThingHappened(thing_id=f"t{n}", n=n))
        await wait_until(lambda: _true_if(relay.failures > 0), what="the relay to notice")
        assert await pending(db) == 25

        server.start()
        await wait_until(lambda: _zero(db), timeout=30, what="the outbox to drain")
        assert await stream_count(js, settings.stream_name) == 25
        task.cancel()
        await nc.close()
    finally:
        server.stop()


async def _true_if(value: bool) -> bool:
    return value


async def _zero(db: Database) -> bool:
    return await pending(db) == 0


async def test_marking_a_batch_reads_its_own_rows_while_the_outbox_has_no_statistics(
    db: Database, nats_server: NatsServer
) -> None:
    """A batch read from the table is marked sent by primary key: on PostgreSQL, before the
    outbox's first ANALYZE (a bulk import's first minutes), marking it by event id filtered
    every pending row of the backlog against the batch's ids, batch after batch."""
    if not db.is_postgresql:
        pytest.skip("a PostgreSQL plan")
    settings = settings_for(nats_server.url, db.url)
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js, settings)
    routing = EventRouting(settings.subject_root, settings.restricted_subject_root)
    relay = OutboxRelay(db=db, outbox=outbox, js=js, routing=routing, batch_size=50)
    async with db.session() as session:
        await outbox.add_bulk(session, [ThingHappened(thing_id=f"t{n}", n=n) for n in range(2000)])
    marks: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith("UPDATE outbox SET sent_at"):
            marks.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        assert await relay.publish_pending() == 50
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    [(statement, parameters)] = marks
    async with db.session() as session:
        await session.execute(outbox.table.update().values(sent_at=None))  # the same backlog
        connection = await session.connection()
        explained = await connection.exec_driver_sql(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters
        )
        plan = explained.scalar_one()
        await session.rollback()
    assert _rows_removed(plan if isinstance(plan, list) else json.loads(plan)) == 0
    await nc.close()


def _rows_removed(plan: Any) -> int:
    """Rows a plan read and threw away (by a filter or an index recheck), over all its nodes."""
    if isinstance(plan, list):
        return sum(_rows_removed(node) for node in plan)
    if not isinstance(plan, dict):
        return 0
    removed = int(plan.get("Rows Removed by Filter", 0)) + int(
        plan.get("Rows Removed by Index Recheck", 0)
    )
    return removed + sum(_rows_removed(node) for node in plan.values())


async def test_a_row_jetstream_refuses_stays_pending_while_the_rows_around_it_are_sent(
    db: Database, nats_server: NatsServer
) -> None:
    """A batch is sent without awaiting each acknowledgement in turn; a row that gets no
    stream's acknowledgement keeps its error and stays pending, the others are marked sent,
    and no publish is left waiting for an acknowledgement."""
    settings = settings_for(nats_server.url, db.url)
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js, settings)
    # No stream takes the restricted root here: a restricted row has no responder.
    routing = EventRouting(settings.subject_root, "nowhere")
    relay = OutboxRelay(db=db, outbox=outbox, js=js, routing=routing, batch_size=50)
    async with db.session() as session:
        for n in range(3):
            await outbox.add(session, ThingHappened(thing_id=f"t{n}", n=n))
    async with db.session() as session:
        middle = select(outbox.table.c.id).order_by(outbox.table.c.id).offset(1).limit(1)
        await session.execute(
            outbox.table.update()
            .where(outbox.table.c.id == middle.scalar_subquery())
            .values(restricted=True)
        )
    with pytest.raises(ConnectionError):
        await relay.publish_pending()
    async with db.session() as session:
        rows = (
            await session.execute(
                select(
                    outbox.table.c.restricted,
                    outbox.table.c.sent_at,
                    outbox.table.c.attempts,
                    outbox.table.c.last_error,
                ).order_by(outbox.table.c.id)
            )
        ).all()
    assert [(r.restricted, r.sent_at is None, r.attempts) for r in rows] == [
        (False, False, 1),
        (True, True, 1),
        (False, False, 1),
    ]
    assert "NoStreamResponse" in (rows[1].last_error or "")
    assert await stream_count(js, settings.stream_name) == 2
    assert js.publish_async_pending() == 0
    await nc.close()


async def test_an_event_the_connection_would_refuse_stays_pending_and_costs_no_place(
    db: Database, nats_server: NatsServer
) -> None:
    """nats-py gives no place back for a publish the connection refuses (here a message over
    the server's maximum payload); the relay refuses it first, so the row stays pending with a
    readable error and the events after it are still published, one place being enough."""
    settings = settings_for(nats_server.url, db.url)
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream(publish_async_max_pending=1)
    await ensure_streams(js, settings)
    routing = EventRouting(settings.subject_root, settings.restricted_subject_root)
    relay = OutboxRelay(db=db, outbox=outbox, js=js, routing=routing, publish_timeout_seconds=0.5)
    async with db.session() as session:
        await outbox.add(session, ThingHappened(thing_id="big", n=0))
    async with db.session() as session:
        await session.execute(outbox.table.update().values(body="x" * (nc.max_payload + 1)))
    with pytest.raises(ConnectionError, match="maximum payload"):
        await asyncio.wait_for(relay.publish_pending(), timeout=10)
    for n in (1, 2):
        async with db.session() as session:
            await outbox.add(session, ThingHappened(thing_id="small", n=n))
        with pytest.raises(ConnectionError, match="1 of 2 events"):
            await asyncio.wait_for(relay.publish_pending(), timeout=10)
    assert await pending(db) == 1
    assert await stream_count(js, settings.stream_name) == 2
    assert js.publish_async_pending() == 0
    await nc.close()
