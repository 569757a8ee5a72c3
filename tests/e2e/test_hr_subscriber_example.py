"""examples/hr_subscriber.py works as documented: durable, from a date, acks, idempotent."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import nats

from wps_common.events.contracts import CertificateIssued
from wps_common.events.streams import ensure_streams
from wps_common.natsserver import NatsServer
from wps_common.settings import ServiceSettings
from wps_common.testing import publish_event

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hr_subscriber.py"
DEFAULT_BUS = {
    "subject_root": "training",
    "restricted_subject_root": "restricted",
}


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


def run_example(server: NatsServer, workdir: Path, *extra: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--nats", server.url, "--once", *extra],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line for line in result.stdout.splitlines() if "certificate.issued" in line]


async def test_the_hr_example_reads_each_event_once_and_resumes(tmp_path: Path) -> None:
    with NatsServer(tmp_path / "nats") as server:  # its own server: the stream is TRAINING
        nc = await nats.connect(server.url)
        await ensure_streams(nc.jetstream(), ServiceSettings(nats_url=server.url))
        await nc.close()
        bus = {**DEFAULT_BUS, "nats_url": server.url}
        first = await publish_event(bus, issued("0001"))
        await publish_event(bus, issued("0001"), event_id=first.id, msg_id="duplicate-copy")
        await publish_event(bus, issued("0002"))
        since = datetime(2026, 1, 1, tzinfo=UTC).date().isoformat()

        lines = run_example(server, tmp_path, "--since", since)
        assert [line.split("employee=")[1] for line in lines] == ["EMP-0001", "EMP-0002"]
        assert run_example(server, tmp_path) == []  # durable: nothing new, nothing repeated
        await publish_event(bus, issued("0003"))
        assert [line.split("employee=")[1] for line in run_example(server, tmp_path)] == [
            "EMP-0003"
        ]
