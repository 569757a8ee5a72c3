"""Idempotent retries of writes: a request with an `Idempotency-Key` header is executed once;
a retry with the same key (same caller, method and path) gets the first response back."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wps_common.db import Database, UTCDateTime, utcnow
from wps_common.errors import PROBLEM_BASE, PROBLEM_JSON

HEADER = b"idempotency-key"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEEP_FOR = timedelta(hours=24)


class IdempotencyKeys:
    """The service's `idempotency_keys` table."""

    def __init__(self, metadata: MetaData) -> None:
        self.table = Table(
            "idempotency_keys",
            metadata,
            Column("scope", String(64), primary_key=True),  # hash of caller, method, path, key
            Column("request_hash", String(64), nullable=False),
            Column("status_code", Integer, nullable=True),  # NULL while the first is running
            Column("content_type", String(200), nullable=True),
            Column("headers", Text, nullable=True),
            Column("body", LargeBinary, nullable=True),
            Column("created_at", UTCDateTime, nullable=False, index=True),
        )


def _problem(status: int, title: str, detail: str) -> tuple[int, bytes]:
    body = {
        "type": PROBLEM_BASE + "idempotency",
        "title": title,
        "status": status,
        "detail": detail,
    }
    return status, json.dumps(body).encode()


IN_PROGRESS = _problem(
    409,
    "Conflict",
    "A request with this Idempotency-Key is still being processed; retry shortly.",
)


class IdempotencyMiddleware:
    """Pure ASGI so it sees the exact bytes of request and response.

    The key row is claimed before the request runs (a concurrent retry gets 409 instead of a
    second execution) and filled with the response afterwards: two short transactions around
    the request's own. Server errors release the key, so the client may retry. Keys expire
    after 24 hours.
    """

    def __init__(
        self, app: ASGIApp, database: Callable[[], Database], keys: IdempotencyKeys
    ) -> None:
        self.app, self.database, self.keys = app, database, keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        key = headers.get(HEADER)
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS or key is None:
            await self.app(scope, receive, send)
            return
        if not 1 <= len(key) <= 200:
            await _send(
                send, *_problem(400, "Bad request", "Idempotency-Key must be 1–200 characters.")
            )
            return
        body = await _read_body(receive)
        caller = headers.get(b"authorization", b"")
        scope_hash = hashlib.sha256(
            b"\0".join([caller, scope["method"].encode(), scope["path"].encode(), key])
        ).hexdigest()
        request_hash = await _fingerprint(headers.get(b"content-type", b""), body)
        claimed, row = await self._claim(scope_hash, request_hash)
        if row is not None:
            await self._replay(send, row, request_hash)
            return
        if not claimed:
            await _send(send, *IN_PROGRESS)
            return
        await self._run_and_keep(scope, body, send, scope_hash)

    async def _claim(self, scope_hash: str, request_hash: str) -> tuple[bool, Any]:
        """One transaction claims the key or finds the request that holds it: an INSERT that
        does nothing when the key exists (on PostgreSQL it waits for a concurrent claim to
        commit), and only then a read of the row that is there. (claimed, the row found)."""
        table = self.keys.table
        now = utcnow()
        claimed, row = False, None
        async with self.database().session() as session:
            claim = (
                postgresql.insert(table)
                if session.bind is not None and session.bind.dialect.name == "postgresql"
                else sqlite.insert(table)
            ).values(scope=scope_hash, request_hash=request_hash, created_at=now)
            claim = claim.on_conflict_do_nothing(index_elements=[table.c.scope])
            for _ in range(2):  # again once, when the key was expired or released meanwhile
                claimed = await session.scalar(claim.returning(table.c.scope)) is not None
                if claimed:
                    break
                row = (
                    await session.execute(select(table).where(table.c.scope == scope_hash))
                ).first()
                if row is not None and row.created_at < now - KEEP_FOR:
                    await session.execute(delete(table).where(table.c.scope == scope_hash))
                    row = None
                if row is not None:
                    break
        return claimed, row

    async def _run_and_keep(self, scope: Scope, body: bytes, send: Send, scope_hash: str) -> None:
        """The request, its answer kept under the claimed key (a server error releases it)."""
        table = self.keys.table
        captured: dict[str, Any] = {"body": b""}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, _replaying(body), capture)
        finally:
            status = captured.get("status", 500)
            async with self.database().session() as session:
                if status >= 500:
                    await session.execute(delete(table).where(table.c.scope == scope_hash))
                else:
                    kept = [
                        (k.decode("latin-1"), v.decode("latin-1"))
                        for k, v in captured.get("headers", [])
                        if k.lower() in (b"content-type", b"location", b"etag")
                    ]
                    await session.execute(
                        update(table)
                        .where(table.c.scope == scope_hash)
                        .values(status_code=status, headers=json.dumps(kept), body=captured["body"])
                    )

    async def _replay(self, send: Send, row: Any, request_hash: str) -> None:
        if row.request_hash != request_hash:
            await _send(
                send,
                *_problem(
                    422,
                    "Invalid input",
                    "This Idempotency-Key was used with a different request body; use a new key.",
                ),
            )
            return
        if row.status_code is None:
            await _send(send, *IN_PROGRESS)
            return
        headers = [
            (k.encode("latin-1"), v.encode("latin-1")) for k, v in json.loads(row.headers or "[]")
        ]
        headers.append((b"idempotent-replayed", b"true"))
        await send({"type": "http.response.start", "status": row.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": row.body or b""})


async def _fingerprint(content_type: bytes, body: bytes) -> str:
    """What makes two requests the same: their bytes, except for a multipart form, whose
    boundary each client picks afresh for every request; a form is its fields, and each file's
    name and the sha256 of its bytes."""
    if not content_type.lower().startswith(b"multipart/form-data"):
        return hashlib.sha256(body).hexdigest()
    # Parsing megabytes of MIME takes a tenth of a second: not on the event loop.
    return await asyncio.to_thread(_form_fingerprint, content_type, body)


def _form_fingerprint(content_type: bytes, body: bytes) -> str:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type + b"\r\n\r\n" + body
    )
    if not message.is_multipart():  # not a form after all: its bytes, as any other body
        return hashlib.sha256(body).hexdigest()
    parts = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        parts.append(
            [
                str(part.get_param("name", "", header="content-disposition")),
                part.get_filename(),
                hashlib.sha256(data).hexdigest(),
            ]
        )
    parts.sort(key=lambda p: (p[0], p[1] or "", p[2]))
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replaying(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _send(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", PROBLEM_JSON.encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
