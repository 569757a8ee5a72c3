"""Log lines as one JSON object each (or readable console lines in development): every record,
ours, uvicorn's and libraries', carries the service, the request id, the trace and the caller's
subject, and loses e-mail addresses, tokens and secrets before it is written."""

from __future__ import annotations

import logging
import logging.config
import re
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

import structlog
from opentelemetry import trace
from structlog.stdlib import ProcessorFormatter
from structlog.typing import EventDict, Processor, WrappedLogger

LogFormat = Literal["json", "console"]

# The request's ASGI state (request id, the verified caller), bound for the request's duration.
_request: ContextVar[MutableMapping[str, Any] | None] = ContextVar("wps_request", default=None)

REDACTED = "[redacted]"
EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
JWT = re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*")
BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]+")
# SQLAlchemy quotes a failed statement's parameters (names, numbers) in its messages.
SQL_PARAMETERS = re.compile(r"\[parameters: [^\n]*")
SECRET_KEYS = re.compile(r"(?i)pass(word)?|secret|token|authorization|cookie|e-?mail|api_?key")
# Keys our own processors add: their names are not taken for secrets (their values are still
# scrubbed: some identity providers use the e-mail address as the subject).
OURS = frozenset({"timestamp", "level", "logger", "service", "request_id", "subject"})


@contextmanager
def bind_request(state: MutableMapping[str, Any]) -> Iterator[None]:
    """Lines logged while a request is served name it: `state` is the request's ASGI state,
    where the request id and, once verified, the caller are kept."""
    token = _request.set(state)
    try:
        yield
    finally:
        _request.reset(token)


def log_format_for(settings: Any) -> LogFormat:
    """WPS_LOG_FORMAT, else JSON in production and console lines in development."""
    chosen: LogFormat | None = getattr(settings, "log_format", None)
    if chosen is not None:
        return chosen
    return "json" if getattr(settings, "environment", "") == "production" else "console"


def with_context(service: str | None) -> Processor:
    def add_context(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
        if service:
            event.setdefault("service", service)
        state = _request.get()
        if state is not None:
            if state.get("request_id"):
                event.setdefault("request_id", state["request_id"])
            # Set by the auth dependency; for a request with a body the caller was verified
            # before the body was read (the token next to it is never read here).
            caller = state.get("principal") or (state.get("wps_verified_token") or (None, None))[1]
            if caller is not None:
                event.setdefault("subject", caller.subject)
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            event.setdefault("trace_id", trace.format_trace_id(span_context.trace_id))
            event.setdefault("span_id", trace.format_span_id(span_context.span_id))
        return event

    return add_context


def access_fields(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """uvicorn's access lines as fields too (their target was redacted by the access filter)."""
    args = event.pop("positional_args", None)
    record = event.get("_record")
    if record is not None and record.name == "uvicorn.access":
        if isinstance(args, tuple) and len(args) == 5:
            client, method, target, version, status = args
            event.update(client=client, method=method, path=target, status=status)
    return event


def plain(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """uvicorn's copy of its message with terminal colours is not for log files."""
    event.pop("color_message", None)
    return event


def scrub(text: str) -> str:
    text = JWT.sub(REDACTED, text)
    text = BEARER.sub(rf"\g<1> {REDACTED}", text)
    text = EMAIL.sub(REDACTED, text)
    return SQL_PARAMETERS.sub(f"[parameters: {REDACTED}]", text)


def redact_personal_data(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """Tokens, secrets and e-mail addresses never reach a log line, whoever logged them."""
    for key, value in list(event.items()):
        if key.startswith("_"):
            continue
        if key not in OURS and SECRET_KEYS.search(key):
            event[key] = REDACTED
        elif isinstance(value, str):
            event[key] = scrub(value)
    return event


def shared_processors(service: str | None) -> list[Processor]:
    """What every record gets, from structlog or from the standard library."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        with_context(service),
        access_fields,
    ]


def formatter(service: str | None = None, log_format: LogFormat = "json") -> ProcessorFormatter:
    """The logging.Formatter of every handler (uvicorn's dictConfig names it by its path)."""
    renderer: list[Processor]
    if log_format == "json":
        renderer = [
            structlog.processors.EventRenamer("message"),
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ]
    else:
        renderer = [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    return ProcessorFormatter(
        # `extra={...}` of a standard-library call becomes fields of the line.
        foreign_pre_chain=[*shared_processors(service), structlog.stdlib.ExtraAdder(), plain],
        pass_foreign_args=True,
        processors=[
            ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_personal_data,
            *renderer,
        ],
    )


def configure_logging(service: str, log_format: LogFormat, level: int = logging.INFO) -> None:
    """Route every logger, uvicorn's, library warnings and structlog's own through one
    formatter; loggers created with logging.getLogger need no change."""
    from wps_common.access_log import log_config

    config = log_config(service, log_format)
    config["root"]["level"] = logging.getLevelName(level)
    logging.config.dictConfig(config)
    logging.captureWarnings(True)
    structlog.configure(
        processors=[
            *shared_processors(service),
            ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
