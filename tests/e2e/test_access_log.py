"""What a served service writes to its access log: routes, never the people in the queries or
the verification codes in the paths."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from wps_common.access_log import redact


def test_redact_keeps_the_route_and_drops_values_and_codes() -> None:
    assert redact("/v1/trainees?q=Aigerim&gender=female&limit=50") == (
        "/v1/trainees?q=…&gender=…&limit=…"
    )
    assert redact("/v1/verify/ABCD-EFGH-JKLM-NPQR") == "/v1/verify/…"
    assert redact("/v1/verify/ABCD-EFGH-JKLM-NPQR?lang=ru") == "/v1/verify/…?lang=…"
    assert redact("/v1/academies") == "/v1/academies"


def test_a_served_service_logs_no_query_values_or_codes(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    env = {
        **os.environ,
        "WEBHOOKS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'webhooks.db'}",
        "NATS_URL": "nats://127.0.0.1:9",  # none: the API serves while NATS is away
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "wps_webhooks.cli", "serve", "--fd", str(listener.fileno())],
        pass_fds=[listener.fileno()],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    listener.close()
    try:
        deadline = time.monotonic() + 30
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=2) as client:
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "the service did not start"
                time.sleep(0.05)
            client.get("/v1/webhooks", params={"q": "Aigerim Bekova", "gender": "female"})
            client.get("/v1/verify/ABCD-EFGH-JKLM-NPQR")
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert '"GET /v1/webhooks?q=…&gender=… HTTP/1.1" 401' in output, output
    assert '"GET /v1/verify/… HTTP/1.1" 404' in output, output
    for secret in ("Aigerim", "female", "ABCD-EFGH"):
        assert secret not in output
