"""W3C trace context travels from a request into the outbox row, the CloudEvent, the NATS message
and the consumer's handling, whose own events continue the trace (real NATS and databases)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonschema
import nats
import pytest
from nats.js import JetStreamContext
from opentelemetry.trace import SpanKind, format_span_id
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from wps_common import tracing
from wps_common.db import Database
from wps_common.events.consumer import EventConsumer
from wps_common.events.envelope import CloudEvent
from wps_common.events.outbox import EventRouting
from wps_common.events.relay import OutboxRelay
from wps_common.events.streams import ensure_streams
from wps_common.logs import formatter
from wps_common.natsserver import NatsServer
from wps_common.settings import ServiceSettings
from wps_common.testing import bus_settings, wait_until

from .conftest import ThingHappened, outbox
from .test_envelope import SCHEMA_FILE

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"
TRACESTATE = "hr=7f3a,wps=1"


def parts(traceparent: str | None) -> tuple[str, str, str]:
    """(trace id, parent span id, flags) of a version-00 traceparent."""
    assert traceparent is not None
    version, trace_id, parent, flags = traceparent.split("-")
    assert version == "00" and len(trace_id) == 32 and len(parent) == 16
    return trace_id, parent, flags


class Bus:
    def __init__(self, settings: ServiceSettings, js: JetStreamContext) -> None:
        self.settings, self.js = settings, js
        self.routing = EventRouting(settings.subject_root, settings.restricted_subject_root)


@pytest.fixture
async def bus(nats_server: NatsServer, database_url: str) -> AsyncIterator[Bus]:
    settings = ServiceSettings(database_url=database_url, **bus_settings(nats_server.url))
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js, settings)
    yield Bus(settings, js)
    await nc.close()


async def outbox_traceparents(db: Database) -> dict[str, str | None]:
    async with db.session() as session:
        rows = await session.execute(select(outbox.table.c.event_id, outbox.table.c.traceparent))
        return {event_id: traceparent for event_id, traceparent in rows.all()}


async def test_a_request_trace_reaches_the_row_the_message_and_the_handling(
    bus: Bus, db: Database
) -> None:
    # The request: a server span continuing the caller's trace writes an event.
    async with db.session() as session:
        with tracing.span(
            "POST /v1/things",
            kind=SpanKind.SERVER,
            parent=tracing.context_of({"traceparent": TRACEPARENT, "tracestate": TRACESTATE}),
        ) as request:
            event = await outbox.add(session, ThingHappened(thing_id="t1"))
        request_span = format_span_id(request.get_span_context().span_id)
    assert request_span != CALLER_SPAN
    assert parts(event.traceparent) == (TRACE_ID, request_span, "01")
    assert event.tracestate == TRACESTATE
    assert (await outbox_traceparents(db))[event.id] == event.traceparent

    # The relay publishes it: the CloudEvent carries the extension, the message a header.
    nc = await nats.connect(bus.settings.nats_url)
    subscription = await nc.subscribe(bus.routing.subject(ThingHappened))
    relay = OutboxRelay(db=db, outbox=outbox, js=bus.js, routing=bus.routing)
    assert await relay.publish_pending() == 1
    message = await subscription.next_msg(timeout=10)
    await nc.close()
    published = CloudEvent.model_validate_json(message.data)
    assert published.traceparent == event.traceparent
    assert published.tracestate == TRACESTATE
    header_trace, publish_span, _ = parts((message.headers or {}).get("traceparent"))
    assert header_trace == TRACE_ID and publish_span != request_span

    # The consumer handles it in the same trace; its own event continues the trace.
    stream = io.StringIO()
    handler_log = logging.getLogger("wps.test.handler")
    capture = logging.StreamHandler(stream)
    capture.setFormatter(formatter("testkit", "json"))
    level = handler_log.level
    handler_log.addHandler(capture)
    handler_log.setLevel(logging.INFO)
    seen: dict[str, Any] = {}

    async def handle(session: AsyncSession, payload: ThingHappened, event: CloudEvent) -> None:
        if payload.thing_id != "t1":
            return
        current = tracing.trace_fields()
        handler_log.info("handling thing %s", payload.thing_id)
        follow = await outbox.add(session, ThingHappened(thing_id="t1-next"))
        seen.update(current, follow=follow.traceparent)

    consumer = EventConsumer(
        name="testkit",
        db=db,
        outbox=outbox,
        js=bus.js,
        stream=bus.settings.stream_name,
        routing=bus.routing,
        handlers={ThingHappened: handle},
    )
    task = asyncio.create_task(consumer.run())
    try:
        await wait_until(lambda: _ready(seen), what="the handler")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        handler_log.removeHandler(capture)
        handler_log.setLevel(level)
    assert seen["trace_id"] == TRACE_ID
    assert seen["span_id"] not in {CALLER_SPAN, request_span, publish_span}
    assert parts(seen["follow"])[:2] == (TRACE_ID, seen["span_id"])
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["message"] == "handling thing t1"
    assert (line["trace_id"], line["span_id"]) == (TRACE_ID, seen["span_id"])


async def test_events_written_outside_a_trace_start_one_per_write(db: Database) -> None:
    """A periodic job's events: a trace per write (a batch shares one), never none."""
    async with db.session() as session:
        first = await outbox.add(session, ThingHappened(thing_id="a"))
        second = await outbox.add(session, ThingHappened(thing_id="b"))
        batch = await outbox.add_many(
            session, [ThingHappened(thing_id="c"), ThingHappened(thing_id="d")]
        )
    traces = [parts(event.traceparent)[0] for event in (first, second, *batch)]
    assert len({traces[0], traces[1], traces[2]}) == 3
    assert traces[2] == traces[3]
    assert set((await outbox_traceparents(db)).values()) == {
        first.traceparent,
        second.traceparent,
        batch[0].traceparent,
    }


def test_an_event_with_trace_context_is_a_valid_cloudevent() -> None:
    if not SCHEMA_FILE.exists():
        pytest.skip(f"conformance schemas not found beside the project ({SCHEMA_FILE})")
    event = CloudEvent.of(
        ThingHappened(thing_id="x"), trace={"traceparent": TRACEPARENT, "tracestate": TRACESTATE}
    )
    body = json.loads(event.to_json())
    assert (body["traceparent"], body["tracestate"]) == (TRACEPARENT, TRACESTATE)
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.validate(body, schema, format_checker=jsonschema.FormatChecker())
    assert "traceparent" not in json.loads(CloudEvent.of(ThingHappened(thing_id="y")).to_json())


async def _where(request: Request) -> JSONResponse:
    return JSONResponse({**tracing.current_carrier(), **tracing.trace_fields()})


@pytest.fixture
async def traced_app() -> AsyncIterator[httpx.AsyncClient]:
    app = tracing.TraceContextMiddleware(Starlette(routes=[Route("/where", _where)]))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        yield client


async def test_a_request_continues_the_callers_trace_in_a_span_of_its_own(
    traced_app: httpx.AsyncClient,
) -> None:
    answer = (
        await traced_app.get("/where", headers={"traceparent": TRACEPARENT, "tracestate": "a=1"})
    ).json()
    trace_id, span_id, flags = parts(answer["traceparent"])
    assert (trace_id, flags) == (TRACE_ID, "01")
    assert span_id == answer["span_id"] != CALLER_SPAN
    assert answer["tracestate"] == "a=1"


@pytest.mark.parametrize(
    "sent", [None, "00-zzzz-00f067aa0ba902b7-01", f"00-{'0' * 32}-{'1' * 16}-01"]
)
async def test_a_request_without_a_usable_traceparent_starts_a_new_trace(
    traced_app: httpx.AsyncClient, sent: str | None
) -> None:
    headers = {"traceparent": sent} if sent else {}
    first = await traced_app.get("/where", headers=headers)
    second = await traced_app.get("/where", headers=headers)
    assert first.status_code == second.status_code == 200
    assert parts(first.json()["traceparent"])[0] != parts(second.json()["traceparent"])[0]


async def _ready(found: Any) -> bool:
    return bool(found)
