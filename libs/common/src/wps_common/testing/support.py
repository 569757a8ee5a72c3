"""Helpers for tests that run services on a real nats-server and a real database."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
import nats
from fastapi import FastAPI
from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import NullPool

from wps_common.auth import mint_token
from wps_common.db import create_engine
from wps_common.events.envelope import CloudEvent, EventPayload
from wps_common.events.outbox import EventRouting, Outbox
from wps_common.settings import DEV_JWT_SECRET

T = TypeVar("T")


def bus_settings(nats_url: str) -> dict[str, Any]:
    """Settings that give one test its own streams and subjects on a shared nats-server."""
    tag = uuid.uuid4().hex[:10]
    return {
        "nats_url": nats_url,
        "stream_name": f"T_{tag}",
        "subject_root": f"t{tag}",
        "restricted_stream_name": f"R_{tag}",
        "restricted_subject_root": f"r{tag}",
        "relay_poll_seconds": 0.1,
        "consumer_nak_delays": (0.1, 0.2, 0.5, 1.0, 2.0),
    }


def auth(*roles: str, academy_id: str | None = None, sub: str = "user-1") -> dict[str, str]:
    """An Authorization header with a dev-secret token for the given roles."""
    token = mint_token(DEV_JWT_SECRET, subject=sub, roles=list(roles), academy_id=academy_id)
    return {"Authorization": f"Bearer {token}"}


async def publish_event(
    bus: dict[str, Any],
    payload: EventPayload,
    *,
    event_id: str | None = None,
    msg_id: str | None = None,
) -> CloudEvent:
    """Publish an event as another service's relay would (to feed the service under test)."""
    event = CloudEvent.of(payload, event_id=event_id)
    routing = EventRouting(bus["subject_root"], bus["restricted_subject_root"])
    nc = await nats.connect(bus["nats_url"])
    try:
        await nc.jetstream().publish(
            routing.subject(type(payload)),
            event.to_json(),
            headers={"Nats-Msg-Id": msg_id or event.id},
        )
    finally:
        await nc.close()
    return event


async def wait_until(
    probe: Callable[[], Awaitable[T]], *, timeout: float = 15.0, what: str = "condition"
) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def walk_pages(
    client: httpx.AsyncClient,
    path: str,
    *,
    headers: dict[str, str],
    params: dict[str, Any] | None = None,
    limit: int = 2,
) -> list[dict[str, Any]]:
    """Every item of a keyset list, page after page by `next_cursor`, `limit` at a time. Fails
    unless the walk gives the same items, in the same order and each once, as one page of
    everything, and every page but the last is full."""
    everything = await client.get(path, params={**(params or {}), "limit": 500}, headers=headers)
    assert everything.status_code == 200, everything.text
    whole = everything.json()
    assert whole["next_cursor"] is None and len(whole["items"]) == whole["total"], whole
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(len(whole["items"]) + 1):
        query = {**(params or {}), "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["total"] == whole["total"] and page["total_exact"], page
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(page["items"]) == limit, page
    assert cursor is None, f"{path}: the cursor never reached the end"
    assert items == whole["items"], f"{path}: the cursor walk differs from the whole list"
    return items


@asynccontextmanager
async def running_app(
    app: FastAPI, base_url: str = "http://test", *, ready: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and give an httpx client talking to it over ASGI; by default
    only once /readyz says the database, NATS and the streams are there."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            if ready:

                async def is_ready() -> bool:
                    return (await client.get("/readyz")).status_code == 200

                await wait_until(is_ready, what=f"{app.title} to be ready")
            yield client


class EventTap:
    """A plain nats-py durable subscriber, as an HR system would run one, that keeps every
    event it reads (and the raw bytes) so tests can wait for and inspect them."""

    def __init__(self, nats_url: str, stream: str, subjects: list[str]) -> None:
        self.nats_url, self.stream, self.subjects = nats_url, stream, subjects
        self.events: list[CloudEvent] = []
        self.raw: list[bytes] = []
        self._nc: NATS | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EventTap:
        self._nc = await nats.connect(self.nats_url)
        js = self._nc.jetstream()
        durable = f"tap-{uuid.uuid4().hex[:8]}"
        await js.add_consumer(
            self.stream,
            ConsumerConfig(
                durable_name=durable,
                filter_subjects=self.subjects,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
            ),
        )
        subscription = await js.pull_subscribe_bind(durable=durable, stream=self.stream)

        async def pump() -> None:
            while True:
                try:
                    messages = await subscription.fetch(100, timeout=0.5)
                except (TimeoutError, nats.errors.TimeoutError):  # nats-py raises either
                    continue
                for message in messages:
                    self.raw.append(message.data)
                    self.events.append(CloudEvent.model_validate_json(message.data))
                    await message.ack()

        self._task = asyncio.create_task(pump())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        if self._nc:
            await self._nc.close()

    def of_type(self, suffix: str) -> list[CloudEvent]:
        """Events whose type contains `suffix`, e.g. `track.completed`."""
        return [e for e in self.events if f".{suffix}." in e.type]

    async def wait_for(
        self, suffix: str, count: int = 1, timeout: float = 20.0
    ) -> list[CloudEvent]:
        async def enough() -> list[CloudEvent]:
            found = self.of_type(suffix)
            return found if len(found) >= count else []

        return await wait_until(enough, timeout=timeout, what=f"{count} × {suffix} event(s)")


@asynccontextmanager
async def rolled_back_session(url: str) -> AsyncIterator[AsyncSession]:
    """A session inside one outer transaction that is rolled back at the end, whatever the code
    under test did: its commits and rollbacks only end SAVEPOINTs (SQLAlchemy's
    `join_transaction_mode="create_savepoint"`), so service functions run as in a request and
    leave nothing behind. SQLite gets the engine's own BEGIN (see wps_common.db), which is what
    makes its SAVEPOINTs real."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            outer = await connection.begin()
            session = AsyncSession(
                bind=connection,
                join_transaction_mode="create_savepoint",
                expire_on_commit=False,
            )
            try:
                yield session
            finally:
                await session.close()
                if outer.is_active:
                    await outer.rollback()
    finally:
        await engine.dispose()


async def create_tables(url: str, metadata: MetaData) -> None:
    """Create `metadata`'s tables in the database at `url` (once, for rolled-back sessions)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
    finally:
        await engine.dispose()


async def outbox_events(session: AsyncSession, outbox: Outbox) -> list[CloudEvent]:
    """The events written to `outbox` in this session's transaction, oldest first."""
    bodies = await session.scalars(select(outbox.table.c.body).order_by(outbox.table.c.id))
    return [CloudEvent.model_validate_json(body) for body in bodies]
