"""Prometheus metrics of one service: its registry, the HTTP timing middleware, `/metrics`, and
the figures read when scraped (outbox backlog from the database, consumer lag from JetStream).

Every metric is named `wps_…` and carries a `service` label. Each app has a registry of its own
(tests build several apps in one process), so nothing is registered twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wps_common.db import utcnow
from wps_common.events.envelope import EventPayload
from wps_common.routes import route_template

if TYPE_CHECKING:
    from wps_common.runtime import ServiceRuntime

log = logging.getLogger("wps.metrics")
# No `_created` series beside every counter and histogram: they double the series count and
# nothing here reads them (process-wide; prometheus-client has no per-registry switch).
disable_created_metrics()

METRICS_PATH = "/metrics"
UNMATCHED_ROUTE = "unmatched"  # every path no route answers: one label value, not one per path
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
WEBHOOK_OUTCOMES = ("delivered", "retry", "dead")
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "none")
# A scrape must answer even when the database or NATS does not.
REFRESH_TIMEOUT_SECONDS = 2.0

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
RENDER_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
IMPORT_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
# The `wps_consumer_events` outcome label, and the consumer tally each one counts.
CONSUMER_OUTCOMES = {
    "handled": "handled",
    "duplicate": "duplicates",
    "ignored": "ignored",
    "retried": "retried",
}


def status_class(status: int | None) -> str:
    return "none" if status is None else f"{status // 100}xx"


@dataclass(frozen=True)
class OutboxBacklog:
    unsent: int
    oldest_age_seconds: float


@dataclass(frozen=True)
class ConsumerLag:
    pending: int
    ack_pending: int


class ServiceMetrics:
    """The registry of one service and every metric it can report. Families the service does
    not use show only their HELP and TYPE lines; the parts that record (the renderer, the
    import runner, the webhook deliverer) bind their children, so series start at zero."""

    def __init__(self, service: str, runtime: ServiceRuntime | None = None) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self.http_request_duration = Histogram(
            "wps_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status code.",
            ["service", "method", "route", "status"],
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.pdf_render_duration = Histogram(
            "wps_pdf_render_seconds",
            "Time to render a certificate PDF (cache misses), waiting for a pool worker included.",
            ["service"],
            buckets=RENDER_BUCKETS,
            registry=self.registry,
        )
        self.import_rows = Counter(
            "wps_import_rows",
            "Rows of trainee imports, by outcome: created, updated, unchanged or rejected.",
            ["service", "outcome"],
            registry=self.registry,
        )
        self.import_duration = Histogram(
            "wps_import_duration_seconds",
            "Time a trainee import job took from start to finish, by its final status.",
            ["service", "status"],
            buckets=IMPORT_BUCKETS,
            registry=self.registry,
        )
        self.webhook_deliveries = Counter(
            "wps_webhook_deliveries",
            "Webhook delivery attempts, by outcome (delivered, retry, dead = parked after the "
            "last attempt) and the receiver's status class (none: no answer).",
            ["service", "outcome", "status_class"],
            registry=self.registry,
        )
        self.pruned_rows = Counter(
            "wps_events_pruned_rows",
            "Rows deleted by event retention, by table: sent outbox rows and inbox ids older "
            "than WPS_EVENT_RETENTION_DAYS.",
            ["service", "table"],
            registry=self.registry,
        )
        for table in ("outbox", "inbox"):
            self.pruned_rows.labels(service, table)
        self.bus = BusCollector(service, runtime)
        self.registry.register(self.bus)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_request_duration.labels(self.service, method, route, str(status)).observe(seconds)

    def pdf_renders(self) -> Histogram:
        return self.pdf_render_duration.labels(self.service)

    def import_started(self) -> None:
        """Bind the import series so that they exist, at zero, before the first import."""
        for outcome in ("created", "updated", "unchanged", "rejected"):
            self.import_rows.labels(self.service, outcome)
        for status in ("succeeded", "failed"):
            self.import_duration.labels(self.service, status)

    def import_finished(self, status: str, seconds: float, rows: dict[str, int]) -> None:
        self.import_duration.labels(self.service, status).observe(seconds)
        for outcome, count in rows.items():
            self.import_rows.labels(self.service, outcome).inc(count)

    def webhooks_started(self) -> None:
        for outcome in WEBHOOK_OUTCOMES:
            for klass in STATUS_CLASSES:
                self.webhook_deliveries.labels(self.service, outcome, klass)

    def webhook_attempted(self, outcome: str, status: int | None) -> None:
        self.webhook_deliveries.labels(self.service, outcome, status_class(status)).inc()

    def events_pruned(self, table: str, rows: int) -> None:
        self.pruned_rows.labels(self.service, table).inc(rows)

    async def refresh(self) -> None:
        """Read the figures that live elsewhere (database, JetStream) just before a scrape."""
        await self.bus.refresh()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class BusCollector(Collector):
    """The outbox and consumer figures. Counters come from the relay's and consumers' own
    tallies (per replica); the backlog and the lag are read at scrape time and describe the
    whole service (every replica reports the same value: aggregate them with max, not sum)."""

    def __init__(self, service: str, runtime: ServiceRuntime | None) -> None:
        self.service = service
        self.runtime = runtime
        self.backlog: OutboxBacklog | None = None
        self.lag: dict[tuple[str, str], ConsumerLag] = {}

    async def refresh(self) -> None:
        runtime = self.runtime
        if runtime is None:
            return
        consumers = [(c.name, c.stream) for c in runtime.consumers]
        async with asyncio.TaskGroup() as group:
            backlog = group.create_task(self._read_backlog(runtime))
            lags = [group.create_task(self._read_lag(runtime, s, d)) for d, s in consumers]
        # Replaced at once, so a scrape running meanwhile sees the old figures or the new.
        self.backlog = backlog.result()
        read = {key: task.result() for key, task in zip(consumers, lags, strict=True)}
        self.lag = {key: lag for key, lag in read.items() if lag is not None}

    async def _read_backlog(self, runtime: ServiceRuntime) -> OutboxBacklog | None:
        db = getattr(runtime, "db", None)
        if db is None:  # not started
            return None
        table = runtime.outbox.table
        unsent = table.c.sent_at.is_(None)
        try:
            async with asyncio.timeout(REFRESH_TIMEOUT_SECONDS), db.reading() as session:
                # Both served by the partial index on pending rows (ix_outbox_pending).
                count = await session.scalar(select(func.count()).where(unsent))
                oldest = await session.scalar(
                    select(table.c.created_at).where(unsent).order_by(table.c.id).limit(1)
                )
        except Exception as exc:  # no figure rather than a wrong one; the scrape still answers
            log.warning("metrics: outbox backlog not read (%r)", exc)
            return None
        age = max(0.0, (utcnow() - oldest).total_seconds()) if oldest is not None else 0.0
        return OutboxBacklog(int(count or 0), age)

    async def _read_lag(
        self, runtime: ServiceRuntime, stream: str, durable: str
    ) -> ConsumerLag | None:
        if runtime.js is None:
            return None
        try:
            info = await runtime.js.consumer_info(stream, durable, timeout=REFRESH_TIMEOUT_SECONDS)
        except Exception as exc:
            log.warning("metrics: consumer %s on %s not read (%r)", durable, stream, exc)
            return None
        return ConsumerLag(int(info.num_pending or 0), int(info.num_ack_pending or 0))

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        return iter(self._families())

    def _families(self) -> list[Metric]:
        return [
            *self._backlog_families(),
            *self._relay_families(),
            *self._consumer_families(),
            *self._lag_families(),
        ]

    def _backlog_families(self) -> list[Metric]:
        """The outbox backlog, as last read from the database."""
        unsent = GaugeMetricFamily(
            "wps_outbox_unsent_events",
            "Outbox rows not yet published to JetStream (read from the database at scrape).",
            labels=["service"],
        )
        oldest = GaugeMetricFamily(
            "wps_outbox_oldest_unsent_age_seconds",
            "Age of the oldest outbox row not yet published; 0 when none waits.",
            labels=["service"],
        )
        if self.backlog is not None:
            unsent.add_metric([self.service], self.backlog.unsent)
            oldest.add_metric([self.service], self.backlog.oldest_age_seconds)
        return [unsent, oldest]

    def _relay_families(self) -> list[Metric]:
        """This replica's relay: events published by type, and failed passes."""
        service = self.service
        published = CounterMetricFamily(
            "wps_events_published",
            "Events the outbox relay of this replica published, by event "
            "(<service>.<entity>.<action>).",
            labels=["service", "event"],
        )
        relay_failures = CounterMetricFamily(
            "wps_outbox_relay_failures",
            "Relay passes that failed (NATS unreachable, publish timeouts) on this replica.",
            labels=["service"],
        )
        relay = self.runtime.relay if self.runtime is not None else None
        if relay is not None:
            relay_failures.add_metric([service], relay.failures)
            # Every event type of this service from the start, at zero until published: an
            # alert on increase() then sees the first one too.
            counts = dict.fromkeys(
                (
                    c.subject_suffix()
                    for c in EventPayload.registry.values()
                    if c.service == service
                ),
                0,
            )
            counts.update(relay.published_by_subject)
            for event, count in sorted(counts.items()):
                published.add_metric([service, event], count)
        return [published, relay_failures]

    def _consumer_families(self) -> list[Metric]:
        """This replica's durable consumers: events settled by outcome, redeliveries and dead
        letters."""
        consumed = CounterMetricFamily(
            "wps_consumer_events",
            "Events a durable consumer settled on this replica, by outcome: handled, "
            "duplicate (already in the inbox), ignored (no handler), retried (nak'ed).",
            labels=["service", "durable", "stream", "outcome"],
        )
        redeliveries = CounterMetricFamily(
            "wps_consumer_redeliveries",
            "Messages that arrived again (delivery count above one) at a durable consumer.",
            labels=["service", "durable", "stream"],
        )
        dead_letters = CounterMetricFamily(
            "wps_consumer_dead_letters",
            "Messages a durable consumer gave up on and published as dead letters.",
            labels=["service", "durable", "stream"],
        )
        for (durable, stream), tally in sorted(self._consumer_tallies().items()):
            labels = [self.service, durable, stream]
            for outcome, key in CONSUMER_OUTCOMES.items():
                consumed.add_metric([*labels, outcome], tally[key])
            redeliveries.add_metric(labels, tally["redelivered"])
            dead_letters.add_metric(labels, tally["dead_lettered"])
        return [consumed, redeliveries, dead_letters]

    def _consumer_tallies(self) -> dict[tuple[str, str], dict[str, int]]:
        """The consumers' counts by durable and stream. A supervisor may have started a
        consumer loop anew: its loops are added up."""
        tallies: dict[tuple[str, str], dict[str, int]] = {}
        for consumer in self.runtime.consumers if self.runtime is not None else []:
            tally = tallies.setdefault((consumer.name, consumer.stream), {})
            for key, value in vars(consumer.stats).items():
                if isinstance(value, int):
                    tally[key] = tally.get(key, 0) + value
        return tallies

    def _lag_families(self) -> list[Metric]:
        """The consumers' lag, as last read from JetStream."""
        pending = GaugeMetricFamily(
            "wps_consumer_pending_messages",
            "Messages of the stream not yet delivered to the durable consumer (its lag).",
            labels=["service", "durable", "stream"],
        )
        ack_pending = GaugeMetricFamily(
            "wps_consumer_ack_pending_messages",
            "Messages delivered to the durable consumer and not yet acknowledged.",
            labels=["service", "durable", "stream"],
        )
        for (durable, stream), lag in sorted(self.lag.items()):
            pending.add_metric([self.service, durable, stream], lag.pending)
            ack_pending.add_metric([self.service, durable, stream], lag.ack_pending)
        return [pending, ack_pending]


class HttpMetrics:
    """ASGI middleware: times every request and records it under its route template, so a
    label never holds an id from the path. The template is the route the router chose; for a
    request answered before routing (401, 413 from the limits) it is found among the paths of
    the OpenAPI document."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app raises

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = self.route_template(scope)
            if route != METRICS_PATH:
                method = scope["method"] if scope["method"] in METHODS else "OTHER"
                self.metrics.observe_request(method, route, status, time.perf_counter() - started)

    def route_template(self, scope: Scope) -> str:
        return route_template(scope) or UNMATCHED_ROUTE


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text exposition of this service (not part of the public API)."""
    metrics: ServiceMetrics = request.app.state.runtime.metrics
    await metrics.refresh()
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
