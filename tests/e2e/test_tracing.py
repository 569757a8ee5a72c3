"""One trace from an HR system's request to the webhook it receives: curriculum and webhooks run as
real processes; the caller's traceparent reaches the outbox row, the published CloudEvent, the
webhooks service's handling (its log lines) and the POST to a real HR receiver; and with
OTEL_EXPORTER_OTLP_ENDPOINT set, a real OTLP/HTTP receiver gets the spans of the whole chain."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import nats
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from wps_common.events.envelope import CloudEvent
from wps_common.natsserver import NatsServer
from wps_common.testing import auth

from .cluster import Cluster

T = TypeVar("T")
TRACE_ID = "5e1d0c0ffee0ba5eba11ca7e0ddba11d"
CALLER_SPAN = "00f067aa0ba902b7"
REQUIREMENT = {
    "code": "REQ-TRACED",
    "title": {"en": "Traced rule"},
    "track_code": "GHR-FOUND",
    "grace_period_days": 30,
    "reminder_days": [30],
}


@dataclass(frozen=True)
class ExportedSpan:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Recorder:
    """A real HTTP server that keeps every POST: the HR receiver, and the OTLP collector."""

    def __init__(self, answer: Callable[[Received], tuple[int, bytes]]) -> None:
        self.requests: list[Received] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                got = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                recorder.requests.append(got)
                status, reply = answer(got)
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def otlp_answer(_: Received) -> tuple[int, bytes]:
    return 200, ExportTraceServiceResponse().SerializeToString()


def spans_of(collector: Recorder) -> list[ExportedSpan]:
    spans: list[ExportedSpan] = []
    for request in list(collector.requests):
        assert request.path == "/v1/traces"
        assert request.headers["content-type"] == "application/x-protobuf"
        export = ExportTraceServiceRequest.FromString(request.body)
        for resource in export.resource_spans:
            names = [a.value.string_value for a in resource.resource.attributes]
            keys = [a.key for a in resource.resource.attributes]
            service = names[keys.index("service.name")]
            for scope in resource.scope_spans:
                for span in scope.spans:
                    spans.append(
                        ExportedSpan(
                            service=service,
                            name=span.name,
                            kind=span.kind,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes={a.key: a.value for a in span.attributes},
                        )
                    )
    return spans


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.1)


def json_lines(log: Path) -> list[dict[str, Any]]:
    """Every line the process wrote, each of which must be one JSON object."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[tuple[Cluster, Recorder, Recorder]]:
    collector = Recorder(otlp_answer)
    receiver = Recorder(lambda _: (204, b""))
    nats_server = NatsServer(tmp_path / "nats").start()
    env = {
        "NATS_URL": nats_server.url,
        "WPS_LOG_FORMAT": "json",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # milliseconds between exports
        "CURRICULUM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'curriculum.db'}",
        "CURRICULUM_LOAD_STARTER_CATALOGUE": "true",
        "CURRICULUM_RELAY_POLL_SECONDS": "0.1",
        "WEBHOOKS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'webhooks.db'}",
        "WEBHOOKS_ALLOWED_PRIVATE_NETWORKS": "127.0.0.0/8",  # the receiver is local
        "WEBHOOKS_POLL_SECONDS": "0.1",
    }
    cluster = Cluster(tmp_path, nats_server, env)
    try:
        cluster.start("curriculum", 1)
        cluster.start("webhooks", 1)
        cluster.wait_ready()
        yield cluster, collector, receiver
    finally:
        cluster.stop()
        collector.close()
        receiver.close()


def published_event(nats_url: str, subject: str) -> CloudEvent:
    """The last event stored under `subject`, read back from the stream as published."""

    async def read() -> CloudEvent:
        nc = await nats.connect(nats_url)
        try:
            message = await nc.jetstream().get_last_msg("TRAINING", subject)
        finally:
            await nc.close()
        assert message.data is not None
        return CloudEvent.model_validate_json(message.data)

    return asyncio.run(read())


def test_one_trace_from_the_request_to_the_hr_receiver(
    platform: tuple[Cluster, Recorder, Recorder], tmp_path: Path
) -> None:
    cluster, collector, receiver = platform
    [curriculum] = cluster.replicas["curriculum"]
    [webhooks] = cluster.replicas["webhooks"]
    admin, hr = auth("admin", sub="admin-7"), auth("hr", sub="hr-system-1")
    with httpx.Client(timeout=10) as client:
        subscribed = client.post(
            f"{webhooks.url}/v1/webhooks",
            json={
                "url": f"{receiver.url}/hooks",
                "event_types": ["curriculum.requirement.changed"],
            },
            headers=hr,
        )
        assert subscribed.status_code == 201, subscribed.text
        created = client.post(
            f"{curriculum.url}/v1/requirements",
            json=REQUIREMENT,
            headers={
                **admin,
                "traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01",
                "X-Request-ID": "req-traced",
            },
        )
        assert created.status_code == 201, created.text

    # The outbox row keeps the request's trace, under the request's own span.
    with sqlite3.connect(tmp_path / "curriculum.db") as db:
        [(row_traceparent,)] = db.execute(
            "SELECT traceparent FROM outbox WHERE body LIKE ?", ('%"requirement/REQ-TRACED"%',)
        ).fetchall()
    _, row_trace, request_span, _ = row_traceparent.split("-")
    assert row_trace == TRACE_ID and request_span != CALLER_SPAN

    # The published CloudEvent carries it as its distributed-tracing extension.
    event = eventually(
        lambda: (
            found
            if (
                found := published_event(
                    cluster.nats.url, "training.curriculum.requirement.changed"
                )
            )
            and found.subject == "requirement/REQ-TRACED"
            else None
        ),
        "the published event",
    )
    assert event.traceparent == row_traceparent

    # The HR receiver's POST continues the trace from a span of its own.
    post = eventually(
        lambda: next((r for r in receiver.requests if event.id.encode() in r.body), None),
        "the webhook POST",
    )
    _, post_trace, post_parent, _ = post.headers["traceparent"].split("-")
    assert post_trace == TRACE_ID and post_parent not in {CALLER_SPAN, request_span}

    # The webhooks service's line about handling the event carries the trace.
    handled = eventually(
        lambda: [
            line
            for line in json_lines(webhooks.log)
            if event.id in line.get("message", "") and line["logger"] == "wps.webhooks"
        ],
        "the webhooks service's log line",
    )
    assert handled[0]["trace_id"] == TRACE_ID and handled[0]["service"] == "webhooks"
    # The request's access line names the request, its trace and the caller.
    [access] = [
        line
        for line in json_lines(curriculum.log)
        if line["logger"] == "uvicorn.access" and line.get("path") == "/v1/requirements"
    ]
    assert access["request_id"] == "req-traced"
    assert access["trace_id"] == TRACE_ID
    assert access["subject"] == "admin-7"
    token = admin["Authorization"].removeprefix("Bearer ")
    assert token not in curriculum.log.read_text() and token not in webhooks.log.read_text()

    # The exported spans: request -> publish, request -> handling -> POST, all one trace.
    def chain() -> dict[str, ExportedSpan] | None:
        spans = {
            (s.service, s.kind): s
            for s in spans_of(collector)
            if s.trace_id == TRACE_ID
            and (s.kind != ProtoSpan.SPAN_KIND_PRODUCER or "requirement" in s.name)
        }
        wanted = {
            "request": ("wps-curriculum", ProtoSpan.SPAN_KIND_SERVER),
            "publish": ("wps-curriculum", ProtoSpan.SPAN_KIND_PRODUCER),
            "handling": ("wps-webhooks", ProtoSpan.SPAN_KIND_CONSUMER),
            "post": ("wps-webhooks", ProtoSpan.SPAN_KIND_CLIENT),
        }
        if not all(key in spans for key in wanted.values()):
            return None
        return {name: spans[key] for name, key in wanted.items()}

    spans = eventually(chain, "the exported spans of the chain")
    assert spans["request"].name == "POST /v1/requirements"
    assert spans["request"].parent_span_id == CALLER_SPAN
    assert spans["request"].span_id == request_span
    assert spans["publish"].parent_span_id == request_span
    assert spans["handling"].parent_span_id == request_span
    assert spans["post"].parent_span_id == spans["handling"].span_id
    assert spans["post"].span_id == post_parent
