"""The set-based consumer: one inbox claim and one transaction per fetched batch, batch handlers,
and the one-at-a-time fallback that still isolates a poison message — on real NATS and DBs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.msg import Msg
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.db import Database
from wps_common.events.consumer import BatchHandler, EventConsumer
from wps_common.events.contracts import DeadLetterRecorded
from wps_common.events.envelope import CloudEvent
from wps_common.events.streams import ensure_streams
from wps_common.natsserver import NatsServer
from wps_common.settings import ServiceSettings
from wps_common.testing import EventTap, bus_settings, wait_until

from .conftest import ThingHappened, effects, outbox
from .test_consumer import Bus, consumer_for, count_effects, record_effect


@pytest.fixture
async def bus(nats_server: NatsServer, database_url: str) -> AsyncIterator[Bus]:
    settings = ServiceSettings(database_url=database_url, **bus_settings(nats_server.url))
    nc = await nats.connect(nats_server.url)
    await ensure_streams(nc.jetstream(), settings)
    yield Bus(settings, nc.jetstream())
    await nc.close()


async def fetch(bus: Bus, consumer: EventConsumer, count: int) -> list[Msg]:
    """`count` messages in one fetch, as the consumer loop takes them under load."""
    await bus.js.add_consumer(consumer.stream, config=consumer.consumer_config())
    subscription = await bus.js.pull_subscribe_bind(durable=consumer.name, stream=consumer.stream)
    messages: list[Msg] = []
    while len(messages) < count:
        messages += await subscription.fetch(count - len(messages), timeout=5)
    return messages


async def pending_acks(bus: Bus, consumer: EventConsumer) -> int:
    info = await bus.js.consumer_info(consumer.stream, consumer.name)
    return int(info.num_ack_pending or 0)


async def test_a_batch_with_duplicates_has_one_effect_per_event(bus: Bus, db: Database) -> None:
    consumer = consumer_for(bus, db, record_effect)
    seen = CloudEvent.of(ThingHappened(thing_id="seen"))
    async with db.session() as session:
        await outbox.remember(session, seen, consumer.name)  # handled in an earlier batch
    twice = CloudEvent.of(ThingHappened(thing_id="twice"))
    once = CloudEvent.of(ThingHappened(thing_id="once"))
    await bus.publish(twice, msg_id="a")
    await bus.publish(once)
    await bus.publish(twice, msg_id="b")  # the same event under another message id
    await bus.publish(seen)
    await consumer.process_batch(await fetch(bus, consumer, 4))
    assert (consumer.stats.handled, consumer.stats.duplicates) == (2, 2)
    assert [await count_effects(db, t) for t in ("twice", "once", "seen")] == [1, 1, 0]
    assert await pending_acks(bus, consumer) == 0


async def test_a_batch_handler_is_called_once_per_type_per_batch(bus: Bus, db: Database) -> None:
    calls: list[list[str]] = []

    async def record_all(
        session: AsyncSession, items: list[tuple[ThingHappened, CloudEvent]]
    ) -> None:
        calls.append([payload.thing_id for payload, _ in items])
        await session.execute(
            insert(effects), [{"thing_id": payload.thing_id} for payload, _ in items]
        )

    consumer = consumer_for(bus, db, BatchHandler(record_all))
    first = CloudEvent.of(ThingHappened(thing_id="b0"))
    await bus.publish(first)
    for n in range(1, 5):
        await bus.publish(CloudEvent.of(ThingHappened(thing_id=f"b{n}")))
    await bus.publish(first, msg_id="again")
    await consumer.process_batch(await fetch(bus, consumer, 6))
    assert calls == [["b0", "b1", "b2", "b3", "b4"]]
    assert (consumer.stats.handled, consumer.stats.duplicates) == (5, 1)
    assert [await count_effects(db, f"b{n}") for n in range(5)] == [1] * 5
    assert await pending_acks(bus, consumer) == 0


async def test_a_poison_message_in_a_batch_is_isolated_and_dead_lettered(
    bus: Bus, db: Database
) -> None:
    calls: list[list[str]] = []

    async def fails_on_poison(
        session: AsyncSession, items: list[tuple[ThingHappened, CloudEvent]]
    ) -> None:
        calls.append([payload.thing_id for payload, _ in items])
        for payload, _ in items:
            await session.execute(insert(effects).values(thing_id=payload.thing_id))
            if payload.thing_id == "poison":
                raise ValueError("cannot handle this")

    dead_subject = bus.routing.subject(DeadLetterRecorded)
    async with EventTap(
        bus.settings.nats_url, bus.settings.restricted_stream_name, [dead_subject]
    ) as tap:
        consumer = consumer_for(bus, db, BatchHandler(fails_on_poison))
        for thing_id in ("good1", "poison", "good2"):
            await bus.publish(CloudEvent.of(ThingHappened(thing_id=thing_id)))
        await consumer.process_batch(await fetch(bus, consumer, 3))
        # The batch failed as a whole, then each message went alone: the good ones applied.
        assert calls[0] == ["good1", "poison", "good2"]
        assert calls[1:] == [["good1"], ["poison"], ["good2"]]
        assert consumer.stats.handled == 2
        assert consumer.stats.retried == 1
        task = asyncio.create_task(consumer.run())  # the poison comes back until max_deliver
        [letter] = await tap.wait_for("deadletter.recorded", count=1)
        assert "failed 3 times" in letter.data["reason"]
        task.cancel()
    assert [await count_effects(db, t) for t in ("good1", "poison", "good2")] == [1, 0, 1]

    async def settled() -> bool:
        return await pending_acks(bus, consumer) == 0

    await wait_until(settled, what="every message settled", timeout=10)
