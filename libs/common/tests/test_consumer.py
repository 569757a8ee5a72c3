"""The consumer loop: inbox dedupe, retry with backoff, dead letters — on real NATS and DBs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from nats.js import JetStreamContext
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.db import Database
from wps_common.events.consumer import EventConsumer, PermanentError
from wps_common.events.contracts import DeadLetterRecorded
from wps_common.events.envelope import CloudEvent
from wps_common.events.outbox import EventRouting
from wps_common.events.streams import ensure_streams
from wps_common.natsserver import NatsServer
from wps_common.settings import ServiceSettings
from wps_common.testing import EventTap, bus_settings, wait_until

from .conftest import ThingHappened, effects, outbox


class Bus:
    def __init__(self, settings: ServiceSettings, js: JetStreamContext) -> None:
        self.settings, self.js = settings, js
        self.routing = EventRouting(settings.subject_root, settings.restricted_subject_root)

    async def publish(
        self, event: CloudEvent, msg_id: str | None = None, body: bytes | None = None
    ) -> None:
        await self.js.publish(
            self.routing.subject(ThingHappened),
            body if body is not None else event.to_json(),
            headers={"Nats-Msg-Id": msg_id or event.id},
        )


@pytest.fixture
async def bus(nats_server: NatsServer, database_url: str) -> AsyncIterator[Bus]:
    settings = ServiceSettings(database_url=database_url, **bus_settings(nats_server.url))
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js, settings)
    yield Bus(settings, js)
    await nc.close()


def consumer_for(bus: Bus, db: Database, handler: object) -> EventConsumer:
    return EventConsumer(
        name="testkit",
        db=db,
        outbox=outbox,
        js=bus.js,
        stream=bus.settings.stream_name,
        routing=bus.routing,
        handlers={ThingHappened: handler},  # type: ignore[dict-item]
        max_deliver=3,
        nak_delays=(0.05, 0.1),
        ack_wait_seconds=5,
    )


async def count_effects(db: Database, thing_id: str) -> int:
    async with db.session() as session:
        stmt = select(func.count()).select_from(effects).where(effects.c.thing_id == thing_id)
        return int(await session.scalar(stmt) or 0)


async def record_effect(session: AsyncSession, payload: ThingHappened, event: CloudEvent) -> None:
    await session.execute(insert(effects).values(thing_id=payload.thing_id))


async def test_a_duplicated_event_has_one_effect(bus: Bus, db: Database) -> None:
    consumer = consumer_for(bus, db, record_effect)
    event = CloudEvent.of(ThingHappened(thing_id="dup"))
    # Same event id under two message ids, so JetStream's dedupe cannot help: the inbox must.
    await bus.publish(event, msg_id="first")
    await bus.publish(event, msg_id="second")
    task = asyncio.create_task(consumer.run())
    await wait_until(lambda: _stat(consumer.stats.duplicates >= 1), what="the duplicate")
    assert await count_effects(db, "dup") == 1
    assert consumer.stats.handled == 1
    task.cancel()


async def test_a_handler_failing_mid_way_is_redelivered_and_applied_once(
    bus: Bus, db: Database
) -> None:
    calls = 0

    async def flaky(session: AsyncSession, payload: ThingHappened, event: CloudEvent) -> None:
        nonlocal calls
        calls += 1
        await session.execute(insert(effects).values(thing_id=payload.thing_id))
        if calls == 1:
            raise ConnectionError("crashed after writing half of the effect")

    consumer = consumer_for(bus, db, flaky)
    await bus.publish(CloudEvent.of(ThingHappened(thing_id="flaky")))
    task = asyncio.create_task(consumer.run())
    await wait_until(lambda: _stat(consumer.stats.handled == 1), what="the redelivery")
    assert calls == 2
    assert await count_effects(db, "flaky") == 1  # the first attempt's write was rolled back
    task.cancel()


async def test_poison_messages_go_to_the_dead_letters(bus: Bus, db: Database) -> None:
    async def always_fails(
        session: AsyncSession, payload: ThingHappened, event: CloudEvent
    ) -> None:
        raise ValueError("cannot handle this")

    async def rejects(session: AsyncSession, payload: ThingHappened, event: CloudEvent) -> None:
        raise PermanentError("not for us")

    dead_subject = bus.routing.subject(DeadLetterRecorded)
    async with EventTap(
        bus.settings.nats_url, bus.settings.restricted_stream_name, [dead_subject]
    ) as tap:
        consumer = consumer_for(bus, db, always_fails)
        await bus.publish(CloudEvent.of(ThingHappened(thing_id="poison")))
        await bus.publish(
            CloudEvent.of(ThingHappened(thing_id="x")), msg_id=str(uuid.uuid4()), body=b"{not json"
        )
        task = asyncio.create_task(consumer.run())
        letters = await tap.wait_for("deadletter.recorded", count=2)
        reasons = sorted(letter.data["reason"] for letter in letters)
        assert any("failed 3 times" in r and "cannot handle this" in r for r in reasons)
        assert any("not a CloudEvent" in r for r in reasons)
        assert await count_effects(db, "poison") == 0
        task.cancel()

        consumer.handlers = {ThingHappened.event_type(): (ThingHappened, rejects)}  # type: ignore[dict-item]
        await bus.publish(CloudEvent.of(ThingHappened(thing_id="rejected")))
        task = asyncio.create_task(consumer.run())
        letters = await tap.wait_for("deadletter.recorded", count=3)
        assert any("rejected: not for us" in letter.data["reason"] for letter in letters)
        task.cancel()


async def _stat(value: bool) -> bool:
    return value


async def test_a_batch_handled_longer_than_ack_wait_is_not_delivered_again(
    bus: Bus, db: Database
) -> None:
    """The consumer tells the server the batch is still in hand, so a handler that outlasts
    ack_wait (a large re-evaluation) runs once, not once more per ack_wait."""
    calls = 0

    async def slow(session: AsyncSession, payload: ThingHappened, event: CloudEvent) -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(3.5)  # the work itself: three and a half times ack_wait
        await session.execute(insert(effects).values(thing_id=payload.thing_id))

    consumer = consumer_for(bus, db, slow)
    consumer.ack_wait_seconds = 1.0
    await bus.publish(CloudEvent.of(ThingHappened(thing_id="slow")))
    task = asyncio.create_task(consumer.run())
    try:
        await wait_until(lambda: _stat(consumer.stats.handled == 1), what="the slow event")
        info = await bus.js.consumer_info(bus.settings.stream_name, "testkit")
        assert info.num_redelivered == 0
        assert info.delivered.consumer_seq == 1
        assert calls == 1
        assert await count_effects(db, "slow") == 1
    finally:
        task.cancel()
