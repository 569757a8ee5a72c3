"""`/metrics` of a miniature service on a real nats-server and both databases: requests under
their route template, the outbox backlog while NATS is away, consumer lag, redeliveries and
dead letters per durable."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.app import build_app
from wps_common.db import Database
from wps_common.events.consumer import PermanentError, TransientError
from wps_common.events.envelope import CloudEvent
from wps_common.natsserver import NatsServer
from wps_common.runtime import ServiceRuntime, Subscription
from wps_common.settings import ServiceSettings
from wps_common.testing import bus_settings, publish_event, running_app, wait_until

from .conftest import ThingHappened, outbox

SERVICE = "testkit"
things = APIRouter()


@things.get("/v1/things/{thing_id}")
async def get_thing(thing_id: str) -> dict[str, str]:
    """One thing."""
    return {"id": thing_id}


class Scrape:
    """One parsed scrape: `value(name, **labels)` sums the samples whose labels match."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = [
            sample for family in text_string_to_metric_families(text) for sample in family.samples
        ]

    def value(self, name: str, **labels: str) -> float | None:
        found = [
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]
        return sum(found) if found else None


async def scrape(client: httpx.AsyncClient) -> Scrape:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


def miniature(
    database_url: str, nats_url: str, subscriptions: list[Subscription] | None = None
) -> ServiceRuntime:
    settings = ServiceSettings(
        service_name=SERVICE,
        database_url=database_url,
        auto_migrate=False,  # the `db` fixture created the tables
        publish_timeout_seconds=0.5,
        relay_max_backoff_seconds=0.5,
        **bus_settings(nats_url),
    )
    return ServiceRuntime(
        settings=settings,
        outbox=outbox,
        migrations=Path("unused"),
        subscriptions=subscriptions or [],
    )


def app_of(runtime: ServiceRuntime) -> Any:
    return build_app(
        title="Testkit", description="A miniature service.", runtime=runtime, routers=[things]
    )


async def test_requests_are_timed_under_their_route_template(
    db: Database, nats_server: NatsServer
) -> None:
    app = app_of(miniature(db.url, nats_server.url))
    async with running_app(app) as client:
        for thing_id in ("alpha-1", "bravo-2"):
            assert (await client.get(f"/v1/things/{thing_id}")).status_code == 200
        assert (await client.get("/no/such/page-3")).status_code == 404
        # Refused before routing (no token for a write): still under the route's template.
        assert (await client.post("/v1/things/charlie-4", json={})).status_code in {401, 405}
        figures = await scrape(client)
        assert "/metrics" not in (await client.get("/openapi.json")).text

    count = "wps_http_request_duration_seconds_count"
    template = "/v1/things/{thing_id}"
    assert figures.value(count, service=SERVICE, route=template, method="GET", status="200") == 2
    assert figures.value(count, route="unmatched", status="404") == 1
    assert figures.value(count, route=template, method="POST") == 1
    assert figures.value(count, route="/metrics") is None  # scrapes are not requests we time
    for raw in ("alpha-1", "bravo-2", "page-3", "charlie-4"):
        assert raw not in figures.text  # no path value ever becomes a label
    assert figures.value("wps_http_request_duration_seconds_bucket", route=template, le="+Inf")


async def test_outbox_backlog_while_nats_is_away_and_none_after_the_relay_caught_up(
    db: Database, tmp_path: Path
) -> None:
    server = NatsServer(tmp_path / "nats").start()
    try:
        app = app_of(miniature(db.url, server.url))
        async with running_app(app) as client:
            before = await scrape(client)
            assert before.value("wps_outbox_unsent_events", service=SERVICE) == 0
            assert before.value("wps_outbox_oldest_unsent_age_seconds") == 0

            server.stop()
            for n in range(7):
                async with db.session() as session:
                    await outbox.add(session, ThingHappened(thing_id=f"t{n}", n=n))

            async def backlog_ageing() -> Scrape | None:
                figures = await scrape(client)
                age = figures.value("wps_outbox_oldest_unsent_age_seconds") or 0
                failures = figures.value("wps_outbox_relay_failures_total") or 0
                return figures if age > 0.2 and failures >= 1 else None

            during = await wait_until(
                backlog_ageing, what="the oldest unsent row to age and the relay to fail"
            )
            assert during.value("wps_outbox_unsent_events", service=SERVICE) == 7

            server.start()

            async def caught_up() -> Scrape | None:
                figures = await scrape(client)
                return figures if figures.value("wps_outbox_unsent_events") == 0 else None

            after = await wait_until(caught_up, timeout=30, what="the relay to catch up")
            assert after.value("wps_outbox_oldest_unsent_age_seconds") == 0
            event = ThingHappened.subject_suffix()
            assert after.value("wps_events_published_total", event=event) == 7
    finally:
        server.stop()


async def test_consumer_lag_redeliveries_and_dead_letters_per_durable(
    db: Database, nats_server: NatsServer
) -> None:
    gate = asyncio.Event()
    entered = asyncio.Event()
    attempts: dict[int, int] = {}

    async def on_thing(session: AsyncSession, payload: ThingHappened, event: CloudEvent) -> None:
        attempts[payload.n] = attempts.get(payload.n, 0) + 1
        if payload.n == 1 and attempts[1] == 1:
            raise TransientError("not yet")  # handled on its second delivery
        if payload.n == 2:
            raise PermanentError("never")
        if payload.n == 10:
            entered.set()
            await gate.wait()

    runtime = miniature(db.url, nats_server.url, [Subscription({ThingHappened: on_thing})])
    bus = {
        "nats_url": runtime.settings.nats_url,
        "subject_root": runtime.settings.subject_root,
        "restricted_subject_root": runtime.settings.restricted_subject_root,
    }
    stream = runtime.settings.stream_name
    series = {"service": SERVICE, "durable": SERVICE, "stream": stream}
    async with running_app(app_of(runtime)) as client:
        await publish_event(bus, ThingHappened(thing_id=str(uuid.uuid4()), n=1))
        await publish_event(bus, ThingHappened(thing_id=str(uuid.uuid4()), n=2))

        async def settled() -> Scrape | None:
            figures = await scrape(client)
            dead = figures.value("wps_consumer_dead_letters_total", **series)
            handled = figures.value("wps_consumer_events_total", outcome="handled", **series)
            return figures if dead == 1 and handled == 1 else None

        figures = await wait_until(settled, what="a dead letter and a retried event handled")
        assert figures.value("wps_consumer_redeliveries_total", **series) == 1
        assert figures.value("wps_consumer_events_total", outcome="retried", **series) == 1

        # A handler that hangs: what arrives meanwhile is the consumer's lag.
        await publish_event(bus, ThingHappened(thing_id=str(uuid.uuid4()), n=10))
        await asyncio.wait_for(entered.wait(), timeout=15)
        for n in range(11, 16):
            await publish_event(bus, ThingHappened(thing_id=str(uuid.uuid4()), n=n))

        async def lagging() -> bool:
            figures = await scrape(client)
            return figures.value("wps_consumer_pending_messages", **series) == 5

        await wait_until(lagging, what="five messages pending for the durable")
        gate.set()

        async def caught_up() -> bool:
            figures = await scrape(client)
            handled = figures.value("wps_consumer_events_total", outcome="handled", **series)
            return figures.value("wps_consumer_pending_messages", **series) == 0 and handled == 7

        await wait_until(caught_up, what="the consumer to catch up")
