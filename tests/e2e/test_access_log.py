"""What a served service writes to its log: one JSON object per line; access lines name the route,
the request, its trace and the caller, never the people in the queries, the verification codes in
the paths or a token."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from wps_common.access_log import redact
from wps_common.testing import auth

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_redact_keeps_the_route_and_drops_values_and_codes() -> None:
    assert redact("/v1/trainees?q=Aigerim&gender=female&limit=50") == (
        "/v1/trainees?q=…&gender=…&limit=…"
    )
    assert redact("/v1/verify/ABCD-EFGH-JKLM-NPQR") == "/v1/verify/…"
    assert redact("/v1/verify/ABCD-EFGH-JKLM-NPQR?lang=ru") == "/v1/verify/…?lang=…"
    assert redact("/v1/academies") == "/v1/academies"


def test_a_served_service_logs_no_query_values_or_codes(tmp_path: Path) -> None:
    hr = auth("hr", sub="hr-client")
    token = hr["Authorization"].removeprefix("Bearer ")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    env = {
        **os.environ,
        "WEBHOOKS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'webhooks.db'}",
        "NATS_URL": "nats://127.0.0.1:9",  # none: the API serves while NATS is away
        "WPS_LOG_FORMAT": "json",
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
            client.get(
                "/v1/webhooks",
                params={"access_token": token},
                headers={
                    **hr,
                    "X-Request-ID": "req-access-log",
                    "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
                },
            )
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]  # all JSON
    assert all(line["service"] == "webhooks" for line in lines), output
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    messages = [line["message"] for line in access]
    assert '"GET /v1/webhooks?q=…&gender=… HTTP/1.1" 401' in messages[-3], output
    assert '"GET /v1/verify/… HTTP/1.1" 404' in messages[-2], output
    signed_in: dict[str, Any] = access[-1]
    assert signed_in["path"] == "/v1/webhooks?access_token=…"
    assert signed_in["status"] == 200
    assert signed_in["request_id"] == "req-access-log"
    assert signed_in["subject"] == "hr-client"
    assert signed_in["trace_id"] == TRACE_ID
    assert "trace_id" in access[-3] and access[-3]["trace_id"] != TRACE_ID
    for secret in ("Aigerim", "female", "ABCD-EFGH", token):
        assert secret not in output
