"""examples/hr_webhook_receiver.py works as documented: subscribed through the webhooks API, it
verifies a real delivery with the standardwebhooks library, prints it, ignores a repeat, and
refuses tampered, unsigned and stale requests."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from wps_common.events.contracts import CertificateIssued
from wps_common.natsserver import NatsServer
from wps_common.testing import auth, bus_settings, publish_event, running_app, wait_until
from wps_webhooks.main import create_app
from wps_webhooks.settings import WebhooksSettings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hr_webhook_receiver.py"
HR = auth("hr", sub="hr-system-1")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ReceiverProcess:
    """The example as an HR system would run it; collects what it prints."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.lines.append(line.decode().rstrip())

    async def printed(self, text: str) -> list[str]:
        async def lines() -> list[str]:
            return [line for line in self.lines if text in line]

        return await wait_until(lines, what=f"the receiver to print {text!r}")


@pytest.fixture
def bus(nats_server: NatsServer) -> dict[str, Any]:
    return bus_settings(nats_server.url)


@pytest.fixture
async def bridge(bus: dict[str, Any], database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = WebhooksSettings(
        database_url=database_url,
        poll_seconds=0.05,
        first_retry_seconds=0.05,
        allowed_private_networks="127.0.0.0/8",  # the HR receiver runs on this machine
        **bus,
    )
    async with running_app(create_app(settings)) as client:
        yield client


async def start_receiver(secret: str, port: int, workdir: Path) -> ReceiverProcess:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        "--port",
        str(port),
        "--seen",
        str(workdir / "seen.sqlite3"),
        env={**os.environ, "WEBHOOK_SECRET": secret},
        stdout=asyncio.subprocess.PIPE,
    )
    receiver = ReceiverProcess(process)
    await receiver.printed("listening on")
    return receiver


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


async def test_the_receiver_verifies_prints_dedupes_and_refuses_forgeries(
    bridge: httpx.AsyncClient, bus: dict[str, Any], tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks/training"
    created = await bridge.post(
        "/v1/webhooks",
        json={"url": url, "event_types": ["certification.certificate.issued"]},
        headers=HR,
    )
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    receiver = await start_receiver(secret, port, tmp_path)
    try:
        event = await publish_event(bus, issued("HR-1"))
        [line] = await receiver.printed("certificate.issued")
        assert f"id={event.id}" in line and "employee=EMP-HR-1" in line

        deliveries = f"/v1/webhooks/{created.json()['id']}/deliveries"

        async def delivered() -> list[dict[str, object]]:
            page = (await bridge.get(deliveries, params={"status": "delivered"}, headers=HR)).json()
            return list(page["items"])

        [delivery] = await wait_until(delivered, what="the delivery to be recorded")
        assert delivery["last_status_code"] == 204

        # Requests an attacker (or a confused proxy) could send, straight to the receiver.
        body = event.to_json().decode()
        now = datetime.now(UTC)

        def signed(message_id: str, when: datetime, text: str) -> dict[str, str]:
            return {
                "webhook-id": message_id,
                "webhook-timestamp": str(int(when.timestamp())),
                "webhook-signature": Webhook(secret).sign(message_id, when, text),
                "content-type": "application/json",
            }

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            tampered = body.replace("EMP-HR-1", "EMP-HR-9")
            answers = {
                "tampered": await http.post(
                    "/", content=tampered, headers=signed("forged-1", now, body)
                ),
                "other key": await http.post(
                    "/",
                    content=body,
                    headers={
                        **signed("forged-2", now, body),
                        "webhook-signature": Webhook("whsec_" + "A" * 43 + "=").sign(
                            "forged-2", now, body
                        ),
                    },
                ),
                "stale": await http.post(
                    "/",
                    content=body,
                    headers=signed("forged-3", now - timedelta(minutes=10), body),
                ),
                "unsigned": await http.post("/", content=body),
            }
            assert {name: a.status_code for name, a in answers.items()} == {
                "tampered": 401,
                "other key": 401,
                "stale": 401,
                "unsigned": 400,
            }
            # A genuine repeat of the delivered event: acknowledged, not applied twice.
            repeat = await http.post("/", content=body, headers=signed(event.id, now, body))
            assert repeat.status_code == 200 and repeat.text == "already handled"
        assert len([line for line in receiver.lines if "certificate.issued" in line]) == 1
    finally:
        receiver.process.terminate()
        await receiver.process.wait()
        receiver.reader.cancel()
