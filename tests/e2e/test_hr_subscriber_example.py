"""examples/hr_subscriber.py works as documented: durable, from a date, acks, idempotent, and
with nothing more than the `hr` NATS user's permissions (the shipped ones)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import threading
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import nats
import nats.errors

from wps_common.events.contracts import (
    CertificateIssued,
    ComplianceCount,
    ComplianceSummarised,
)
from wps_common.events.envelope import CloudEvent, EventPayload
from wps_common.events.streams import ensure_streams
from wps_common.natsauth import HR_USER, SERVICES_USER, ServerAuth, connect_options
from wps_common.natsserver import NatsServer
from wps_common.settings import ServiceSettings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hr_subscriber.py"


def issued(number: str) -> CertificateIssued:
    return CertificateIssued(
        certificate_id=f"cert-{number}",
        number=number,
        enrolment_id=f"enr-{number}",
        trainee_id="t-1",
        employee_number=f"EMP-{number}",
        academy_id="a-1",
        track_code="GHR-FOUND",
        track_version=1,
        issued_on=date(2026, 11, 23),
        expires_on=None,
    )


def services(server: NatsServer) -> ServiceSettings:
    assert server.auth is not None
    return ServiceSettings(
        nats_url=server.url,
        nats_user=SERVICES_USER,
        nats_password=server.auth.passwords[SERVICES_USER],
    )


async def publish(
    server: NatsServer, payload: EventPayload, *, event_id: str | None = None, msg_id: str = ""
) -> CloudEvent:
    """Publish as the certification service's relay would, with the services' credentials."""
    event = CloudEvent.of(payload, event_id=event_id)
    nc = await nats.connect(**connect_options(services(server)))
    try:
        await nc.jetstream().publish(
            f"training.{payload.subject_suffix()}",
            event.to_json(),
            headers={"Nats-Msg-Id": msg_id or event.id},
        )
    finally:
        await nc.close()
    return event


def run_example(
    server: NatsServer, workdir: Path, *extra: str, env: dict[str, str] | None = None
) -> list[str]:
    assert server.auth is not None
    hr = {"NATS_USER": HR_USER, "NATS_PASSWORD": server.auth.passwords[HR_USER]}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--nats", server.url, "--once", *extra],
        cwd=workdir,
        env={**os.environ, **hr, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [
        line
        for line in result.stdout.splitlines()
        if "certificate.issued" in line or "compliance" in line
    ]


async def test_the_hr_example_reads_each_event_once_and_resumes(tmp_path: Path) -> None:
    # Its own server with the shipped users and permissions: the stream is TRAINING.
    with NatsServer(tmp_path / "nats", auth=ServerAuth.generate()) as server:
        nc = await nats.connect(**connect_options(services(server)))
        await ensure_streams(nc.jetstream(), services(server))
        await nc.close()
        first = await publish(server, issued("0001"))
        await publish(server, issued("0001"), event_id=first.id, msg_id="duplicate-copy")
        await publish(server, issued("0002"))
        since = datetime(2026, 1, 1, tzinfo=UTC).date().isoformat()

        lines = run_example(server, tmp_path, "--since", since)
        assert [line.split("employee=")[1] for line in lines] == ["EMP-0001", "EMP-0002"]
        assert run_example(server, tmp_path) == []  # durable: nothing new, nothing repeated
        await publish(server, issued("0003"))
        assert [line.split("employee=")[1] for line in run_example(server, tmp_path)] == [
            "EMP-0003"
        ]


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("hr_subscriber", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_a_fetch_that_times_out_either_way_is_an_empty_batch() -> None:
    """In a burst nats-py's fetch raises a plain asyncio.TimeoutError, not its own: the
    example takes both as "nothing yet" (it crashed on the plain one)."""
    example = load_example()

    class Times:
        def __init__(self, error: BaseException) -> None:
            self.error = error

        async def fetch(self, batch: int, timeout: float) -> list[Any]:  # noqa: ASYNC109
            raise self.error

    for error in (asyncio.TimeoutError(), nats.errors.TimeoutError()):  # noqa: UP041 (both)
        assert await example.next_batch(Times(error), 0.1) == []


class ComplianceApi:
    """The enrolment API's `GET /v1/compliance` as the example meets it: two pages."""

    def __init__(self) -> None:
        self.queries: list[dict[str, list[str]]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                api.queries.append(query)
                assert url.path == "/v1/compliance"
                assert self.headers["Authorization"] == "Bearer hr-token"
                row = {"requirement_code": "REQ-GHR", "since": "2026-11-24T10:00:00Z"}
                if "cursor" not in query:
                    body = {
                        "items": [{**row, "employee_number": "E-1", "status": "overdue"}],
                        "next_cursor": "second",
                    }
                else:
                    body = {
                        "items": [{**row, "employee_number": "E-2", "status": "not_applicable"}],
                        "next_cursor": None,
                    }
                raw = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> ComplianceApi:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_after_a_summary_the_example_reads_who_changed_page_by_page(
    tmp_path: Path,
) -> None:
    with (
        NatsServer(tmp_path / "nats", auth=ServerAuth.generate()) as server,
        ComplianceApi() as api,
    ):
        nc = await nats.connect(**connect_options(services(server)))
        await ensure_streams(nc.jetstream(), services(server))
        await nc.close()
        since = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
        await publish(
            server,
            ComplianceSummarised(
                import_job_id="job-1",
                academy_id="a-1",
                changes=[
                    ComplianceCount(requirement_code="REQ-GHR", status="overdue", count=1),
                    ComplianceCount(requirement_code="REQ-GHR", status="not_applicable", count=1),
                ],
                transitions=2,
                changed_since=since,
                summarised_at=since,
            ),
        )
        lines = run_example(
            server,
            tmp_path,
            "--since",
            "2026-01-01",
            "--api",
            api.url,
            env={"HR_TOKEN": "hr-token"},
        )
        changes = [line.split("employee=")[1] for line in lines if "compliance  " in line]
        assert changes == ["E-1  REQ-GHR=overdue", "E-2  REQ-GHR=not_applicable"]
        assert [q.get("cursor") for q in api.queries] == [None, ["second"]]
        assert api.queries[0]["academy_id"] == ["a-1"]
        assert datetime.fromisoformat(api.queries[0]["changed_since"][0]) == since
