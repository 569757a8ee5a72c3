"""The relay publishes rows committed in its own process as handed over, without reading them
back: at once, in commit order, after any older backlog, and never a rolled-back row."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

import nats
import pytest
from nats.js import JetStreamContext
from sqlalchemy import event

from wps_common.db import Database
from wps_common.events.outbox import EventRouting
from wps_common.events.relay import OutboxRelay
from wps_common.events.streams import ensure_streams
from wps_common.natsserver import NatsServer
from wps_common.settings import ServiceSettings
from wps_common.testing import bus_settings, wait_until

from .conftest import ThingHappened, outbox
from .test_outbox_relay import pending


class Bus(NamedTuple):
    js: JetStreamContext
    settings: ServiceSettings


@pytest.fixture
async def bus(db: Database, nats_server: NatsServer) -> AsyncIterator[Bus]:
    settings = ServiceSettings(database_url=db.url, **bus_settings(nats_server.url))
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js, settings)
    yield Bus(js, settings)
    await nc.close()


def relay_for(
    db: Database,
    bus: Bus,
    *,
    batch_size: int = 200,
    poll_seconds: float,
    mark_delay_seconds: float = 0.05,
) -> OutboxRelay:
    return OutboxRelay(
        db=db,
        outbox=outbox,
        js=bus.js,
        routing=EventRouting(bus.settings.subject_root, bus.settings.restricted_subject_root),
        batch_size=batch_size,
        poll_seconds=poll_seconds,
        mark_delay_seconds=mark_delay_seconds,
    )


async def things_in_stream(bus: Bus, at_least: int = 0) -> list[str]:
    """The `thing_id`s of the stream's messages in stream order; none until `at_least`."""
    stream = bus.settings.stream_name
    count = (await bus.js.stream_info(stream)).state.messages
    found: list[str] = []
    if count < at_least:
        return found
    for sequence in range(1, count + 1):
        message = await bus.js.get_msg(stream, sequence)
        found.append(json.loads(message.data or b"{}")["data"]["thing_id"])
    return found


async def commit(db: Database, *things: str) -> None:
    async with db.session() as session:
        for thing in things:
            await outbox.add(session, ThingHappened(thing_id=thing))


async def test_a_commit_is_published_at_once_without_being_read_back(
    db: Database, bus: Bus
) -> None:
    relay = relay_for(db, bus, poll_seconds=600, mark_delay_seconds=0.05)
    task = asyncio.create_task(relay.run())
    reads: list[str] = []

    def count_reads(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "outbox" in statement:
            reads.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count_reads)
    try:
        await wait_until(lambda: _true(relay._caught_up), what="the relay's first read")
        reads.clear()
        for n in range(5):
            await commit(db, f"t{n}")
        expected = [f"t{n}" for n in range(5)]

        async def published() -> bool:
            return await things_in_stream(bus) == expected

        # The poll is ten minutes away and nothing reads the outbox: handed over, in order.
        await wait_until(published, what="the committed events in commit order")
        await wait_until(lambda: _zero(db), what="the rows to be marked sent")
        assert relay.published == 5
        assert [r for r in reads if "sent_at IS NULL" in r and "count" not in r] == []
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count_reads)
        relay.stop()
        await task


async def test_a_rolled_back_savepoint_or_transaction_is_never_handed_over(
    db: Database, bus: Bus
) -> None:
    relay = relay_for(db, bus, poll_seconds=600)
    task = asyncio.create_task(relay.run())
    try:
        await wait_until(lambda: _true(relay._caught_up), what="the relay's first read")
        async with db.session() as session:
            await outbox.add(session, ThingHappened(thing_id="kept"))
            nested = await session.begin_nested()
            await outbox.add(session, ThingHappened(thing_id="savepoint-rolled-back"))
            await nested.rollback()
        with pytest.raises(RuntimeError):
            async with db.session() as session:
                await outbox.add(session, ThingHappened(thing_id="rolled-back"))
                raise RuntimeError("the unit of work fails")
        await commit(db, "after")

        assert await wait_until(lambda: things_in_stream(bus, at_least=2), what="two events") == [
            "kept",
            "after",
        ]
        await wait_until(lambda: _zero(db), what="the rows to be marked sent")
        assert relay.published == 2
        assert await things_in_stream(bus) == ["kept", "after"]
    finally:
        relay.stop()
        await task


async def test_rows_committed_during_a_backlog_come_after_it(db: Database, bus: Bus) -> None:
    backlog = [f"old{n}" for n in range(7)]
    await commit(db, *backlog[:4])
    await commit(db, *backlog[4:])  # written while no relay ran
    relay = relay_for(db, bus, batch_size=2, poll_seconds=600)
    task = asyncio.create_task(relay.run())
    try:
        newer = [f"new{n}" for n in range(4)]
        for thing in newer:
            await commit(db, thing)

        assert (
            await wait_until(
                lambda: things_in_stream(bus, at_least=len(backlog) + len(newer)),
                what="all events",
            )
            == backlog + newer
        )
        await wait_until(lambda: _zero(db), what="the rows to be marked sent")
    finally:
        relay.stop()
        await task


async def test_a_stopping_relay_marks_what_it_published(db: Database, bus: Bus) -> None:
    relay = relay_for(db, bus, poll_seconds=600, mark_delay_seconds=600)
    task = asyncio.create_task(relay.run())
    await wait_until(lambda: _true(relay._caught_up), what="the relay's first read")
    await commit(db, "t")
    await wait_until(lambda: things_in_stream(bus, at_least=1), what="the event to be published")
    assert await pending(db) == 1  # its mark waits (ten minutes here)
    assert relay.published == 0  # counted as it is marked
    relay.stop()
    await task
    assert await pending(db) == 0
    assert relay.published == 1


async def _true(value: bool) -> bool:
    return value


async def _zero(db: Database) -> bool:
    return await pending(db) == 0
