"""examples/hr_subscriber.py works as documented: durable, from a date, acks, idempotent, and
with nothing more than the `hr` NATS user's permissions (the shipped ones)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import nats

from wps_common.events.contracts import CertificateIssued
from wps_common.events.envelope import CloudEvent
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
    server: NatsServer, payload: CertificateIssued, *, event_id: str | None = None, msg_id: str = ""
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


def run_example(server: NatsServer, workdir: Path, *extra: str) -> list[str]:
    assert server.auth is not None
    hr = {"NATS_USER": HR_USER, "NATS_PASSWORD": server.auth.passwords[HR_USER]}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--nats", server.url, "--once", *extra],
        cwd=workdir,
        env={**os.environ, **hr},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line for line in result.stdout.splitlines() if "certificate.issued" in line]


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
