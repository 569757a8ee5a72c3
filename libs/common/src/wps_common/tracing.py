"""W3C trace context across requests, outbox rows, events and webhook deliveries, and its export
to OpenTelemetry when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

Without an exporter no span is recorded, yet every hop still gets a span id of its own under the
trace it continues, so trace ids are propagated and logged at the cost of two random numbers.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from fastapi.telemetry import TelemetryConfig
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.status import Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wps_common.access_log import redact
from wps_common.logs import bind_request
from wps_common.routes import route_template

log = logging.getLogger("wps.tracing")

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
MAX_TRACESTATE = 512
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

propagator = TraceContextTextMapPropagator()
# FastAPI's own request spans would record paths and query values as sent (verification codes,
# people's names); TraceContextMiddleware makes the request spans instead.
FASTAPI_TELEMETRY: TelemetryConfig = {"tracing": False}
_exporting = False


def configure_tracing(service: str) -> bool:
    """Record and export spans over OTLP/HTTP when an OTLP endpoint is configured (the SDK reads
    the standard OTEL_* variables: endpoint, headers, timeouts, batch sizes); True if it does.
    Called once per process, before the service starts."""
    global _exporting
    if not any(os.environ.get(name) for name in ENDPOINT_VARIABLES):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: f"wps-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)  # flushed by the SDK's own exit hook
    _exporting = True
    log.info("exporting traces of wps-%s over OTLP/HTTP", service)
    return True


def context_of(carrier: Mapping[str, str | None] | None) -> Context:
    """The trace context named by a carrier's `traceparent` (and `tracestate`); an empty context
    when it has none or it is malformed (a new trace begins then)."""
    clean = {k: v for k, v in (carrier or {}).items() if isinstance(v, str)}
    return propagator.extract(clean) if clean.get(TRACEPARENT) else Context()


def current_carrier() -> dict[str, str]:
    """`traceparent` (and `tracestate`) of the current span; empty outside any trace."""
    carrier: dict[str, str] = {}
    propagator.inject(carrier)
    if len(carrier.get(TRACESTATE, "")) > MAX_TRACESTATE:
        del carrier[TRACESTATE]  # W3C lets a hop drop what it cannot carry; events stay small
    return carrier


def carrier_or_new_trace(name: str) -> dict[str, str]:
    """The current trace context, or (outside requests and event handling, e.g. in periodic
    jobs) a new trace begun by a span of its own named `name`."""
    carrier = current_carrier()
    if carrier:
        return carrier
    with span(name, kind=SpanKind.PRODUCER):
        return current_carrier()


def current_traceparent() -> str | None:
    return current_carrier().get(TRACEPARENT)


def trace_fields() -> dict[str, str]:
    """`trace_id` and `span_id` of the current span, as hex, for log lines."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return {}
    return {
        "trace_id": trace.format_trace_id(span_context.trace_id),
        "span_id": trace.format_span_id(span_context.span_id),
    }


@contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: Context | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[Span]:
    """A span as the current context, child of `parent` (default: the current context); a new
    trace when there is no parent. Recorded only when exporting."""
    if _exporting:
        tracer = trace.get_tracer("wps")
        with tracer.start_as_current_span(
            name, context=parent, kind=kind, attributes=dict(attributes or {})
        ) as recorded:
            yield recorded
        return
    above = trace.get_current_span(parent).get_span_context()
    if above.is_valid:
        trace_id, flags, state = above.trace_id, above.trace_flags, above.trace_state
    else:
        trace_id, flags, state = _new_id(128), TraceFlags(TraceFlags.DEFAULT), None
    unrecorded = NonRecordingSpan(
        SpanContext(trace_id, _new_id(64), is_remote=False, trace_flags=flags, trace_state=state)
    )
    token = otel_context.attach(trace.set_span_in_context(unrecorded, parent))
    try:
        yield unrecorded
    finally:
        otel_context.detach(token)


@contextmanager
def within(parent: Context) -> Iterator[None]:
    """Make `parent` the current context without a span of its own (e.g. for log lines about an
    event after its handling span has ended)."""
    token = otel_context.attach(parent)
    try:
        yield
    finally:
        otel_context.detach(token)


def _new_id(bits: int) -> int:
    value = 0
    while not value:
        value = random.getrandbits(bits)
    return value


class TraceContextMiddleware:
    """Continues the caller's trace (its `traceparent` header) or starts one, in a server span
    around the request, and makes the request's id and caller known to log lines."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        headers = {
            key.decode("latin-1").lower(): value.decode("latin-1")
            for key, value in scope.get("headers") or []
            if key.lower() in (b"traceparent", b"tracestate")
        }
        method = scope.get("method", "HTTP")
        with (
            bind_request(state),
            span(
                method,
                kind=SpanKind.SERVER,
                parent=context_of(headers),
                attributes={
                    "http.request.method": method,
                    "url.path": redact(scope.get("path", "")),
                },
            ) as server,
        ):

            async def send_with_status(message: Message) -> None:
                if message["type"] == "http.response.start" and server.is_recording():
                    status = int(message["status"])
                    server.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        server.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, send_with_status)
            finally:
                if server.is_recording():
                    # The route's template, not the path: ids and codes stay out of span names.
                    route = route_template(scope)
                    if route:
                        server.set_attribute("http.route", route)
                    server.update_name(f"{method} {route}" if route else method)
