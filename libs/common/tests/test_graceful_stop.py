"""Stopping a consumer: the batch in hand is finished and acked; cut short, it is nak'ed so that
another replica gets it at once instead of after ack_wait — on a real nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import nats
import pytest
from nats.js import JetStreamContext
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.db import Database
from wps_common.events.consumer import EventConsumer, Handler
from wps_common.events.envelope import CloudEvent
from wps_common.events.outbox import EventRouting
from wps_common.events.streams import ensure_streams
from wps_common.natsserver import NatsServer
from wps_common.settings import ServiceSettings
from wps_common.testing import bus_settings, wait_until

from .conftest import ThingHappened, effects, outbox

ACK_WAIT = 30.0  # far longer than any wait below: a message seen again was given back


@dataclass
class Bus:
    settings: ServiceSettings
    js: JetStreamContext

    @property
    def routing(self) -> EventRouting:
        return EventRouting(self.settings.subject_root, self.settings.restricted_subject_root)

    async def publish(self, *thing_ids: str) -> None:
        for thing_id in thing_ids:
            event = CloudEvent.of(ThingHappened(thing_id=thing_id))
            await self.js.publish(
                self.routing.subject(ThingHappened),
                event.to_json(),
                headers={"Nats-Msg-Id": event.id},
            )

    def consumer(self, db: Database, handler: Handler) -> EventConsumer:
        return EventConsumer(
            name="testkit",
            db=db,
            outbox=outbox,
            js=self.js,
            stream=self.settings.stream_name,
            routing=self.routing,
            handlers={ThingHappened: handler},
            ack_wait_seconds=ACK_WAIT,
        )

    async def deliveries(self) -> int:
        """Every delivery, a repeated one too, takes the consumer's next sequence number."""
        info = await self.js.consumer_info(self.settings.stream_name, "testkit")
        return int(info.delivered.consumer_seq)


@pytest.fixture
async def bus(nats_server: NatsServer, database_url: str) -> AsyncIterator[Bus]:
    settings = ServiceSettings(database_url=database_url, **bus_settings(nats_server.url))
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js, settings)
    yield Bus(settings, js)
    await nc.close()


class Gate:
    """A handler that records its effect only when let through."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.open = asyncio.Event()

    async def __call__(self, session: AsyncSession, payload: ThingHappened, _: CloudEvent) -> None:
        self.entered.set()
        await self.open.wait()
        await session.execute(insert(effects).values(thing_id=payload.thing_id))


async def record(session: AsyncSession, payload: ThingHappened, _: CloudEvent) -> None:
    await session.execute(insert(effects).values(thing_id=payload.thing_id))


async def count_effects(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(effects)) or 0)


def effects_reach(db: Database, n: int) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return await count_effects(db) == n

    return probe


async def test_a_stopped_consumer_finishes_the_batch_in_hand_and_takes_no_more(
    bus: Bus, db: Database
) -> None:
    gate = Gate()
    consumer = bus.consumer(db, gate)
    running = asyncio.create_task(consumer.run())
    await bus.publish("first")
    await asyncio.wait_for(gate.entered.wait(), timeout=10)
    await bus.publish("second", "third")
    consumer.stop()
    gate.open.set()
    await asyncio.wait_for(running, timeout=10)  # run() returns: nothing left to cancel

    assert await count_effects(db) == 1
    info = await bus.js.consumer_info(bus.settings.stream_name, "testkit")
    assert info.num_ack_pending == 0  # the one in hand was acked
    assert info.num_pending == 2  # the others wait for another replica
    assert info.delivered.consumer_seq == 1


async def test_an_idle_consumer_stops_at_once(bus: Bus, db: Database) -> None:
    consumer = bus.consumer(db, record)
    running = asyncio.create_task(consumer.run())
    await bus.publish("only")
    await wait_until(effects_reach(db, 1), what="the event handled")
    consumer.stop()
    # Its pull for the next message is given up, not waited out.
    await asyncio.wait_for(running, timeout=0.9)
    await bus.publish("later")
    later = bus.consumer(db, record)
    taking = asyncio.create_task(later.run())
    try:
        await wait_until(effects_reach(db, 2), what="the next event handled")
    finally:
        later.stop()
        await asyncio.wait_for(taking, timeout=5)
    assert await bus.deliveries() == 2  # the given-up pull held nothing back


async def test_a_batch_cut_short_goes_to_another_replica_at_once(bus: Bus, db: Database) -> None:
    gate = Gate()  # never opened: the shutdown grace runs out first
    stopping = bus.consumer(db, gate)
    running = asyncio.create_task(stopping.run())
    await bus.publish("cut")
    await asyncio.wait_for(gate.entered.wait(), timeout=10)
    running.cancel()  # what the runtime does to work still unfinished after the grace
    with pytest.raises(asyncio.CancelledError):
        await running

    other = bus.consumer(db, record)
    taking = asyncio.create_task(other.run())
    try:
        # Well before ack_wait: the message was nak'ed, not abandoned.
        await wait_until(effects_reach(db, 1), timeout=5, what="the redelivery")
    finally:
        other.stop()
        await asyncio.wait_for(taking, timeout=5)
    assert await bus.deliveries() == 2
