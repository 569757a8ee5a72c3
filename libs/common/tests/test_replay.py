"""A stream that lost its messages is healed from the outbox; nothing is applied twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import nats
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.db import Database
from wps_common.events.consumer import EventConsumer
from wps_common.events.envelope import CloudEvent
from wps_common.events.outbox import EventRouting
from wps_common.events.relay import OutboxRelay
from wps_common.events.replay import replay_outbox
from wps_common.events.streams import ensure_streams
from wps_common.natsserver import NatsServer
from wps_common.settings import ServiceSettings
from wps_common.testing import EventTap, bus_settings, wait_until

from .conftest import ThingHappened, effects, outbox
from .test_consumer import count_effects


async def test_replay_heals_a_deleted_stream_without_doubling_effects(
    db: Database, nats_server: NatsServer
) -> None:
    settings = ServiceSettings(database_url=db.url, **bus_settings(nats_server.url))
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js, settings)
    routing = EventRouting(settings.subject_root, settings.restricted_subject_root)
    since = datetime.now(UTC) - timedelta(seconds=1)
    for n in range(20):
        async with db.session() as session:
            await outbox.add(session, ThingHappened(thing_id=f"r{n % 5}", n=n))
    relay = OutboxRelay(db=db, outbox=outbox, js=js, routing=routing)
    await relay.publish_pending()

    async def apply(session: AsyncSession, payload: ThingHappened, event: CloudEvent) -> None:
        await session.execute(effects.insert().values(thing_id=payload.thing_id))

    consumer = EventConsumer(
        name="replayed",
        db=db,
        outbox=outbox,
        js=js,
        stream=settings.stream_name,
        routing=routing,
        handlers={ThingHappened: apply},
        check_seconds=0.3,
    )

    async def supervised() -> None:  # what ServiceRuntime does for every consumer
        while True:
            try:
                await consumer.run()
            except Exception:
                await asyncio.sleep(0.1)

    task = asyncio.create_task(supervised())
    await wait_until(lambda: _at_least(consumer.stats.handled, 20), what="first delivery")

    await js.delete_stream(settings.stream_name)  # the broker lost everything
    report = await replay_outbox(db=db, outbox=outbox, js=js, settings=settings, since=since)
    assert (report.considered, report.stored, report.duplicates) == (20, 20, 0)
    async with EventTap(
        nats_server.url, settings.stream_name, [f"{settings.subject_root}.>"]
    ) as tap:
        await tap.wait_for("thing.happened", count=20)
    await wait_until(
        lambda: _at_least(consumer.stats.duplicates, 20), what="the consumer to resume"
    )
    assert consumer.stats.handled == 20  # every replayed event was recognised from the inbox
    assert sum([await count_effects(db, f"r{k}") for k in range(5)]) == 20

    again = await replay_outbox(db=db, outbox=outbox, js=js, settings=settings, since=since)
    assert (again.stored, again.duplicates) == (0, 20)  # inside the dedupe window: dropped
    task.cancel()
    await nc.close()


async def _at_least(value: int, target: int) -> bool:
    return value >= target
