"""Idempotency-Key on writes, on SQLite and PostgreSQL: a retry gets the first answer without a
second execution, a reused key with another body is refused, a retry while the first is still
running is told so, server errors and expired keys free the key, and a keyed request costs two
short transactions of the middleware's besides its own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, event, func, insert, select, update
from starlette.types import Receive, Scope, Send

from wps_common.db import Database, utcnow
from wps_common.idempotency import IdempotencyKeys, IdempotencyMiddleware

metadata = MetaData()
keys = IdempotencyKeys(metadata)
runs = Table(
    "idempotency_test_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("body", String(200), nullable=False),
)


class Writer:
    """An endpoint that records each execution and answers with its number; it can be told to
    wait (a slow first request) or to fail with a server error."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.release = asyncio.Event()
        self.release.set()
        self.started = asyncio.Event()
        self.fail_next = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = (await receive())["body"]
        self.started.set()
        await self.release.wait()
        if self.fail_next:
            self.fail_next = False
            status, answer = 500, {"detail": "boom"}
        else:
            async with self.db.session() as session:
                run = await session.scalar(
                    insert(runs).values(body=body.decode()[:200]).returning(runs.c.id)
                )
            status, answer = 201, {"run": run}
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"location", b"/runs/1")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(answer).encode()})


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


@pytest.fixture
def writer(db: Database) -> Writer:
    return Writer(db)


@pytest.fixture
async def client(db: Database, writer: Writer) -> AsyncIterator[httpx.AsyncClient]:
    app = IdempotencyMiddleware(writer, database=lambda: db, keys=keys)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def keyed(key: str, caller: str = "Bearer one") -> dict[str, str]:
    return {"Idempotency-Key": key, "Authorization": caller}


async def executions(db: Database) -> int:
    async with db.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(runs)) or 0)


async def test_a_retry_gets_the_first_answer_and_runs_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    first = await client.post("/runs", content=b"a", headers=keyed("k-1"))
    retry = await client.post("/runs", content=b"a", headers=keyed("k-1"))
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json() == {"run": 1}
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.headers["location"] == "/runs/1"
    assert "idempotent-replayed" not in first.headers
    assert await executions(db) == 1
    # Another caller's identical key is another request altogether.
    other = await client.post("/runs", content=b"a", headers=keyed("k-1", "Bearer two"))
    assert other.json() == {"run": 2}


async def test_a_reused_key_with_another_body_is_refused(
    client: httpx.AsyncClient, db: Database
) -> None:
    assert (await client.post("/runs", content=b"a", headers=keyed("k-2"))).status_code == 201
    reused = await client.post("/runs", content=b"b", headers=keyed("k-2"))
    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    assert "different request body" in reused.json()["detail"]
    assert await executions(db) == 1


def multipart(boundary: str, file: bytes, name: str = "certificate.pdf") -> dict[str, Any]:
    """A form of one field and one file, framed by the boundary given."""
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="issuer"\r\n\r\nOSCE\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="evidence"; '
            f'filename="{name}"\r\nContent-Type: application/pdf\r\n\r\n'
        ).encode()
        + file
        + f"\r\n--{boundary}--\r\n".encode()
    )
    content_type = f"multipart/form-data; boundary={boundary}"
    return {"content": body, "headers": {"Content-Type": content_type}}


async def test_a_form_retried_with_another_boundary_gets_the_first_answer(
    client: httpx.AsyncClient, db: Database
) -> None:
    first, retry = multipart("a1b2c3", b"%PDF-1"), multipart("zz-9876", b"%PDF-1")
    assert first["content"] != retry["content"]
    sent = await client.post(
        "/runs", content=first["content"], headers={**keyed("f-1"), **first["headers"]}
    )
    again = await client.post(
        "/runs", content=retry["content"], headers={**keyed("f-1"), **retry["headers"]}
    )
    assert sent.status_code == again.status_code == 201, again.text
    assert again.json() == sent.json() and again.headers["idempotent-replayed"] == "true"
    assert await executions(db) == 1
    # Another file, or the same bytes under another name, is another request.
    for other in (multipart("q", b"%PDF-2"), multipart("q", b"%PDF-1", name="other.pdf")):
        reused = await client.post(
            "/runs", content=other["content"], headers={**keyed("f-1"), **other["headers"]}
        )
        assert reused.status_code == 422, reused.text
        assert "different request body" in reused.json()["detail"]
    assert await executions(db) == 1


async def test_a_retry_while_the_first_runs_is_told_to_wait(
    client: httpx.AsyncClient, db: Database, writer: Writer
) -> None:
    writer.release.clear()
    first = asyncio.create_task(client.post("/runs", content=b"a", headers=keyed("k-3")))
    await asyncio.wait_for(writer.started.wait(), timeout=30)
    early = await client.post("/runs", content=b"a", headers=keyed("k-3"))
    assert early.status_code == 409
    assert "still being processed" in early.json()["detail"]
    writer.release.set()
    assert (await first).status_code == 201
    late = await client.post("/runs", content=b"a", headers=keyed("k-3"))
    assert late.status_code == 201 and late.headers["idempotent-replayed"] == "true"
    assert await executions(db) == 1


async def test_a_server_error_frees_the_key(
    client: httpx.AsyncClient, db: Database, writer: Writer
) -> None:
    writer.fail_next = True
    assert (await client.post("/runs", content=b"a", headers=keyed("k-4"))).status_code == 500
    again = await client.post("/runs", content=b"a", headers=keyed("k-4"))
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert await executions(db) == 1


async def test_an_expired_key_runs_the_request_again(
    client: httpx.AsyncClient, db: Database
) -> None:
    assert (await client.post("/runs", content=b"a", headers=keyed("k-5"))).status_code == 201
    async with db.session() as session:
        await session.execute(update(keys.table).values(created_at=utcnow() - timedelta(days=2)))
    # Expired, the key is claimed afresh, even for another body.
    again = await client.post("/runs", content=b"b", headers=keyed("k-5"))
    assert again.status_code == 201 and again.json() == {"run": 2}
    retry = await client.post("/runs", content=b"b", headers=keyed("k-5"))
    assert retry.json() == {"run": 2} and retry.headers["idempotent-replayed"] == "true"


async def test_a_keyed_request_costs_two_transactions_besides_its_own(
    client: httpx.AsyncClient, db: Database
) -> None:
    # The claim (one INSERT that does nothing on a known key) and the stored answer; a replay
    # costs the claim alone. A count to keep, not a timing.
    begun: list[Any] = []

    def began(connection: Any) -> None:
        begun.append(connection)

    event.listen(db.engine.sync_engine, "begin", began)
    try:
        await client.post("/runs", content=b"a", headers=keyed("k-6"))
        assert len(begun) == 3  # claim, the endpoint's own, the answer
        begun.clear()
        await client.post("/runs", content=b"a", headers=keyed("k-6"))
        assert len(begun) == 1
        begun.clear()
        await client.post("/runs", content=b"a")  # no key: the middleware stays out of it
        assert len(begun) == 1
    finally:
        event.remove(db.engine.sync_engine, "begin", began)
