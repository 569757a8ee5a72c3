"""Log lines are JSON objects that name the service, the request, the trace and the caller, and
never carry a token, a secret or an e-mail address."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from wps_common.auth import Principal, Role
from wps_common.logs import bind_request, formatter, log_format_for
from wps_common.settings import ServiceSettings
from wps_common.tracing import context_of, span

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJlLWJ5dGVz"


class Lines:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def parsed(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    @property
    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def lines() -> Iterator[Lines]:
    """A handler with the platform's JSON formatter on a logger of its own."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter("enrolment", "json"))
    logger = logging.getLogger("wps.test")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield Lines(stream)
    logger.removeHandler(handler)
    logger.setLevel(level)


def caller(subject: str = "user-7") -> Principal:
    return Principal(subject=subject, roles=frozenset({Role.ADMIN}))


def test_a_line_in_a_request_names_the_service_request_trace_and_caller(lines: Lines) -> None:
    state = {"request_id": "req-1", "principal": caller()}
    with bind_request(state), span("GET", parent=context_of({"traceparent": TRACEPARENT})):
        logging.getLogger("wps.test").info("enrolled %s trainees", 3)
    [line] = lines.parsed()
    assert line["message"] == "enrolled 3 trainees"
    assert line["level"] == "info"
    assert line["logger"] == "wps.test"
    assert line["service"] == "enrolment"
    assert line["request_id"] == "req-1"
    assert line["subject"] == "user-7"
    assert line["trace_id"] == TRACE_ID
    assert len(line["span_id"]) == 16 and line["span_id"] != "00f067aa0ba902b7"
    assert line["timestamp"].endswith("Z")


def test_a_caller_verified_before_the_body_is_named_but_not_its_token(lines: Lines) -> None:
    state = {"request_id": "req-2", "wps_verified_token": (JWT, caller("hr-client"))}
    with bind_request(state):
        logging.getLogger("wps.test").info("import started")
    [line] = lines.parsed()
    assert line["subject"] == "hr-client"
    assert JWT not in lines.text


def test_outside_requests_and_traces_lines_carry_neither(lines: Lines) -> None:
    logging.getLogger("wps.test").warning("relay idle")
    [line] = lines.parsed()
    assert line["service"] == "enrolment"
    assert not {"request_id", "subject", "trace_id", "span_id"} & line.keys()


def test_tokens_secrets_and_email_addresses_are_redacted(lines: Lines) -> None:
    log = logging.getLogger("wps.test")
    log.info("sign-in of aigerim.bekova@police.example.kz with Bearer %s", JWT)
    log.info("token %s refused", JWT)
    log.info("configured", extra={"password": "hunter2", "client_secret": "s3", "n": 2})
    with bind_request({"principal": caller("aigerim.bekova@police.example.kz")}):
        log.info("who")
    try:
        raise ValueError("duplicate key\n[parameters: ('Aigerim', 'Bekova', 'E-1')]")
    except ValueError:
        log.exception("insert failed")
    text = lines.text
    for secret in (JWT, "aigerim.bekova", "police.example", "hunter2", "Bekova", "'E-1'"):
        assert secret not in text, secret
    parsed = lines.parsed()
    assert parsed[0]["message"] == "sign-in of [redacted] with Bearer [redacted]"
    assert parsed[1]["message"] == "token [redacted] refused"
    assert parsed[2]["password"] == parsed[2]["client_secret"] == "[redacted]"
    assert parsed[2]["n"] == 2
    assert parsed[3]["subject"] == "[redacted]"
    assert "ValueError" in parsed[4]["exception"]


def test_an_exception_is_one_json_object_with_its_traceback(lines: Lines) -> None:
    log = logging.getLogger("wps.test")
    try:
        {}["missing"]
    except KeyError:
        log.exception("handler crashed")
    [line] = lines.parsed()
    assert line["level"] == "error"
    assert "KeyError" in line["exception"] and "Traceback" in line["exception"]


def test_the_format_follows_the_setting_then_the_environment() -> None:
    assert log_format_for(ServiceSettings()) == "console"
    assert log_format_for(ServiceSettings(log_format="json")) == "json"
    production = ServiceSettings(environment="production", oidc_issuers="https://idp.example")
    assert log_format_for(production) == "json"
    assert log_format_for(production.model_copy(update={"log_format": "console"})) == "console"


def test_console_lines_are_readable_and_redacted() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter("curriculum", "console"))
    record = logging.LogRecord("wps.test", logging.INFO, __file__, 1, "mail %s", ("a@b.org",), None)
    handler.emit(record)
    text = stream.getvalue()
    assert "mail [redacted]" in text and "service=curriculum" in text
    assert "a@b.org" not in text
