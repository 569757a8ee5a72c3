"""A request's cost is bounded before anyone knows who sent it: no body is read for an
unauthenticated caller, and a body is read only up to its route class's limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from wps_common.natsserver import NatsServer
from wps_common.testing import auth, bus_settings, running_app
from wps_enrolment.main import create_app
from wps_enrolment.settings import EnrolmentSettings

CHUNK = 16 * 1024
JSON_LIMIT = 64 * 1024
UPLOAD_LIMIT = 256 * 1024


class CountingBody:
    """A request body streamed in chunks, counting how much of it the server pulled."""

    def __init__(self, total: int, fill: bytes = b" ") -> None:
        self.total = total
        self.fill = fill
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            chunk = self.fill * min(CHUNK, self.total - self.sent)
            self.sent += len(chunk)
            yield chunk


@pytest.fixture
async def enrolment(nats_server: NatsServer, tmp_path: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings = EnrolmentSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'enrolment.db'}",
        max_json_bytes=JSON_LIMIT,
        import_max_bytes=UPLOAD_LIMIT,
        **bus_settings(nats_server.url),
    )
    async with running_app(create_app(settings), ready=False) as client:
        yield client


async def test_an_unauthenticated_body_is_not_read(enrolment: httpx.AsyncClient) -> None:
    body = CountingBody(100 * 1024 * 1024)  # 100 MB on offer
    response = await enrolment.post(
        "/v1/academies",
        content=body,
        headers={"Content-Type": "application/json", "Content-Length": str(body.total)},
    )
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert "bearer token" in response.json()["detail"]
    assert body.sent <= CHUNK  # at most what the transport had in hand


async def test_a_declared_oversize_body_is_refused_before_reading(
    enrolment: httpx.AsyncClient,
) -> None:
    body = CountingBody(10 * 1024 * 1024)
    response = await enrolment.post(
        "/v1/academies",
        content=body,
        headers={
            "Content-Type": "application/json",
            "Content-Length": str(body.total),
            **auth("admin"),
        },
    )
    assert response.status_code == 413
    assert response.json()["detail"] == (
        f"The request body is larger than the {JSON_LIMIT:,} bytes this service accepts."
    )
    assert body.sent <= CHUNK


async def test_a_streamed_body_stops_being_read_at_the_limit(
    enrolment: httpx.AsyncClient,
) -> None:
    body = CountingBody(10 * 1024 * 1024)  # chunked: no Content-Length to go by
    response = await enrolment.post(
        "/v1/academies",
        content=body,
        headers={"Content-Type": "application/json", **auth("admin")},
    )
    assert response.status_code == 413
    assert body.sent <= JSON_LIMIT + 2 * CHUNK


async def test_uploads_have_their_own_limit(enrolment: httpx.AsyncClient) -> None:
    admin = auth("admin")
    created = await enrolment.post(
        "/v1/academies",
        json={"code": "KZ-AST", "name": "Astana Police Academy", "country": "KZ"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    path = f"/v1/academies/{created.json()['id']}/imports"
    header = b"employee_number,given_name,family_name\n"
    rows = b"".join(b"E-%06d,Aigerim,Bekova\n" % i for i in range(6_000))  # ~150 KB
    assert JSON_LIMIT < len(header + rows) < UPLOAD_LIMIT
    accepted = await enrolment.post(
        path, content=header + rows, headers={"Content-Type": "text/csv", **admin}
    )
    assert accepted.status_code == 202, accepted.text
    too_big = await enrolment.post(
        path, content=header + rows * 2, headers={"Content-Type": "text/csv", **admin}
    )
    assert too_big.status_code == 413
    assert "file is larger than the 262,144 bytes" in too_big.json()["detail"]
