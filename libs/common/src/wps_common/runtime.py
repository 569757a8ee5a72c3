"""A service's moving parts: database, NATS connection, streams, relay and consumers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from wps_common.db import Database
from wps_common.events.consumer import BatchHandler, EventConsumer, Handler
from wps_common.events.envelope import EventPayload
from wps_common.events.outbox import EventRouting, Outbox
from wps_common.events.relay import OutboxRelay
from wps_common.events.streams import ensure_streams
from wps_common.idempotency import IdempotencyKeys
from wps_common.jobs import Clock, JobRuns, JobScheduler, PeriodicJob, system_clock
from wps_common.metrics import ServiceMetrics
from wps_common.migrations import migrate
from wps_common.natsauth import connect_options
from wps_common.retention import EventRetention
from wps_common.settings import ServiceSettings

log = logging.getLogger("wps.runtime")

__all__ = ["BatchHandler", "ServiceRuntime", "Subscription"]


@dataclass(frozen=True)
class Subscription:
    """Handlers for one stream; `restricted` picks the restricted stream.

    A handler is called once per event; a `BatchHandler(function)` (events/consumer.py) once
    per event type per fetched batch, with all its new events, for the hot paths.
    """

    handlers: Mapping[type[EventPayload], Handler]
    restricted: bool = False


@dataclass
class ServiceRuntime:
    """Started by the app's lifespan. The HTTP API works even while NATS is unreachable: the
    outbox keeps events until the relay can publish them.

    Stopping drains (docs/operations.md, "Shutdown and rolling restarts"): work in hand is
    finished within WPS_SHUTDOWN_GRACE_SECONDS and only what is left then is cancelled.
    """

    settings: ServiceSettings
    outbox: Outbox
    migrations: Path
    subscriptions: list[Subscription] = field(default_factory=list)
    idempotency: IdempotencyKeys | None = None
    job_runs: JobRuns | None = None
    jobs: list[PeriodicJob] = field(default_factory=list)
    run_jobs: bool = True
    clock: Clock = system_clock
    # Long-running loops of the service itself (e.g. webhook delivery), supervised like the rest;
    # each returns once `draining` is set, after finishing the unit in hand.
    workers: list[Callable[[ServiceRuntime], Awaitable[None]]] = field(default_factory=list)
    # Run once the database is migrated and the loops are started (e.g. loading reference data).
    on_start: list[Callable[[ServiceRuntime], Awaitable[None]]] = field(default_factory=list)
    # Run once the runtime has drained, before the database closes: the service's own parts stop
    # (e.g. a process pool, background jobs it started); a hook may be a coroutine function.
    on_stop: list[Callable[[], Awaitable[None] | None]] = field(default_factory=list)
    run_relay: bool = True
    run_consumers: bool = True

    db: Database = field(init=False)
    nc: NATS | None = field(init=False, default=None)
    js: JetStreamContext | None = field(init=False, default=None)
    relay: OutboxRelay | None = field(init=False, default=None)
    consumers: list[EventConsumer] = field(init=False, default_factory=list)
    scheduler: JobScheduler | None = field(init=False, default=None)
    streams_ready: bool = field(init=False, default=False)
    # Set when the service starts draining: /readyz answers 503, and the loops that take work
    # (consumers, jobs, workers) finish the unit in hand and take no more.
    draining: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _drain_deadline: float = field(init=False, default=0.0)
    _loop: asyncio.AbstractEventLoop | None = field(init=False, default=None)
    _events: asyncio.Task[None] | None = field(init=False, default=None)
    _tasks: list[asyncio.Task[None]] = field(init=False, default_factory=list)
    metrics: ServiceMetrics = field(init=False)
    retention: EventRetention = field(init=False)

    def __post_init__(self) -> None:
        # A registry per runtime (per app): tests build several apps in one process.
        self.metrics = ServiceMetrics(self.settings.service_name, self)
        # Every service with a job_runs table prunes its outbox and inbox (docs/adr/0024).
        self.retention = EventRetention(
            db=lambda: self.db,
            outbox=self.outbox,
            retention=timedelta(days=self.settings.event_retention_days),
            on_pruned=self.metrics.events_pruned,
        )
        if self.job_runs is not None:
            self.jobs = [*self.jobs, self.retention.job()]

    def extend(
        self,
        *,
        subscriptions: Sequence[Subscription] = (),
        jobs: Sequence[PeriodicJob] = (),
        workers: Sequence[Callable[[ServiceRuntime], Awaitable[None]]] = (),
        on_start: Sequence[Callable[[ServiceRuntime], Awaitable[None]]] = (),
        on_stop: Sequence[Callable[[], Awaitable[None] | None]] = (),
    ) -> None:
        """The one way a service adds its parts, before the app starts. Parts that need the
        runtime itself (its database or clock) are built after it, which is why this is a call
        and not only constructor arguments."""
        self.subscriptions.extend(subscriptions)
        self.jobs.extend(jobs)
        self.workers.extend(workers)
        self.on_start.extend(on_start)
        self.on_stop.extend(on_stop)

    @property
    def routing(self) -> EventRouting:
        return EventRouting(self.settings.subject_root, self.settings.restricted_subject_root)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.db = Database(self.settings.database_url)
        if self.settings.auto_migrate:
            await migrate(self.db, self.migrations, lock_name=f"wps-{self.settings.service_name}")
        self._events = self._spawn("events", self._run_events)
        for worker in self.workers:
            self._spawn(getattr(worker, "__name__", "worker"), partial(worker, self))
        if self.run_jobs and self.jobs:
            assert self.job_runs is not None, "periodic jobs need the job_runs table"
            self.scheduler = JobScheduler(self.db, self.job_runs, clock=lambda: self.clock())
            for job in self.jobs:
                self._spawn(f"job {job.name}", partial(self.scheduler.loop, job))
        for hook in self.on_start:
            await hook(self)

    def request_drain(self) -> None:
        """`begin_drain` from a signal handler or another thread: the HTTP server calls this
        on SIGTERM, before it stops accepting connections."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.begin_drain)

    def begin_drain(self) -> None:
        """Take no new work; the grace period counts from here.

        Consumers stop fetching and finish the batch in hand, jobs and workers their current
        unit. The relay goes on until `stop()`: requests still being answered may write events.
        """
        if self.draining.is_set():
            return
        grace = self.settings.shutdown_grace_seconds
        self._drain_deadline = time.monotonic() + grace
        self.draining.set()
        log.info("draining: finishing the work in hand (at most %.0fs)", grace)
        if self._events is not None:
            self._events.cancel()  # still connecting to NATS: nothing is in hand there yet
        for consumer in self.consumers:
            consumer.stop()
        if self.scheduler is not None:
            self.scheduler.stop()

    async def stop(self) -> None:
        """Drain, wait for the work in hand until the grace period ends, then cancel what is
        left, as a crash would: its messages come back after ack_wait, its leases lapse."""
        self.begin_drain()
        if self.relay is not None:
            self.relay.stop()
        if self._tasks:
            remaining = max(0.0, self._drain_deadline - time.monotonic())
            _, unfinished = await asyncio.wait(self._tasks, timeout=remaining)
            for task in unfinished:
                log.warning("%s not finished within the shutdown grace; cancelled", task.get_name())
                task.cancel()
            if unfinished:
                _, stuck = await asyncio.wait(unfinished, timeout=10)
                for task in stuck:
                    name, stack = task.get_name(), task.get_stack()
                    log.error("%s did not stop when cancelled: %s", name, stack)
        self._tasks.clear()
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):
                if self.nc.is_connected:
                    await self.nc.flush(timeout=2)  # the last acks reach the server
                await self.nc.close()
        for hook in self.on_stop:
            stopping = hook()
            if stopping is not None:
                await stopping
        await self.db.dispose()

    def _spawn(self, name: str, factory: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        task = asyncio.create_task(self._supervise(name, factory), name=name)
        self._tasks.append(task)
        return task

    async def _supervise(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        """Keep a background loop alive: log a crash and start it again after a pause (unless
        the service is draining)."""
        delay = 0.5
        while True:
            try:
                await factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                if self.draining.is_set():
                    log.exception("%s stopped unexpectedly while draining", name)
                    return
                log.exception("%s stopped unexpectedly; restarting in %.1fs", name, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.draining.wait(), timeout=delay)
                if self.draining.is_set():
                    return
                delay = min(delay * 2, 30.0)

    async def _run_events(self) -> None:
        self.nc = await self._connect()
        self.js = self.nc.jetstream(timeout=self.settings.publish_timeout_seconds)
        await ensure_streams(self.js, self.settings)
        self.streams_ready = True
        if self.run_relay:
            self.relay = OutboxRelay(
                db=self.db,
                outbox=self.outbox,
                js=self.js,
                routing=self.routing,
                batch_size=self.settings.relay_batch_size,
                poll_seconds=self.settings.relay_poll_seconds,
                max_backoff_seconds=self.settings.relay_max_backoff_seconds,
                publish_timeout_seconds=self.settings.publish_timeout_seconds,
                heal=partial(ensure_streams, self.js, self.settings),
            )
            self._spawn("relay", self.relay.run)
        if self.run_consumers:
            for subscription in self.subscriptions:
                consumer = self._consumer(subscription)
                self.consumers.append(consumer)
                self._spawn(f"consumer {consumer.name}@{consumer.stream}", consumer.run)

    def _consumer(self, subscription: Subscription) -> EventConsumer:
        assert self.js is not None
        s = self.settings
        return EventConsumer(
            name=s.service_name,
            db=self.db,
            outbox=self.outbox,
            js=self.js,
            routing=self.routing,
            stream=s.restricted_stream_name if subscription.restricted else s.stream_name,
            handlers=subscription.handlers,
            batch_size=s.consumer_batch_size,
            max_deliver=s.consumer_max_deliver,
            ack_wait_seconds=s.consumer_ack_wait_seconds,
            nak_delays=s.consumer_nak_delays,
        )

    async def _connect(self) -> NATS:
        """Connect, retrying until NATS answers; afterwards nats-py reconnects by itself."""
        delay = 0.2
        options = connect_options(self.settings)  # credentials and the private inbox prefix
        servers = options["servers"]
        while True:
            try:
                return await nats.connect(
                    **options,
                    name=f"wps-{self.settings.service_name}",
                    connect_timeout=2,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    error_cb=self._on_nats_error,
                )
            except Exception as exc:
                log.warning("NATS at %s not reachable (%s); retrying in %.1fs", servers, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _on_nats_error(self, exc: Exception) -> None:
        log.debug("nats: %r", exc)

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            await self.db.ping()
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {exc.__class__.__name__}"
        connected = self.nc is not None and self.nc.is_connected
        checks["nats"] = "ok" if connected else "unreachable"
        checks["streams"] = "ok" if self.streams_ready else "not ready"
        return checks
