"""The delivery worker: POSTs queued events, signed, in order per subscription, with retries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from datetime import datetime, timedelta
from typing import Any

import httpx
from opentelemetry.trace import SpanKind
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common import tracing
from wps_common.db import Database
from wps_common.metrics import ServiceMetrics
from wps_common.runtime import ServiceRuntime
from wps_webhooks.destinations import DestinationPolicy, RefusedDestination, delivery_client
from wps_webhooks.models import Delivery, Subscription
from wps_webhooks.settings import WebhooksSettings
from wps_webhooks.signing import signature_headers

log = logging.getLogger("wps.webhooks")

# The receiver's status code (None when no answer came) and, for a failure, an error class.
Outcome = tuple[int | None, str | None]


class Deliverer:
    """Each subscription is a queue: its oldest pending delivery goes first, and the next one
    waits until it is delivered or parked, so a receiver sees events in order. A failure is
    retried with exponential backoff; after `max_attempts` the delivery is parked (a dead
    letter an operator can requeue) and the queue moves on. A delivery to a refused address
    is such a failure too: the address may be fixed (DNS, or the allow-list) and redelivered."""

    def __init__(
        self,
        db: Database,
        settings: WebhooksSettings,
        clock: Any,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self.db, self.settings, self.clock = db, settings, clock
        self.metrics = metrics
        if metrics is not None:
            metrics.webhooks_started()

    async def run(self, client: httpx.AsyncClient, stop: asyncio.Event | None = None) -> None:
        """Deliver until `stop` is set; the pass under way is finished first."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            worked = await self.deliver_due(client)
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.poll_seconds)

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        """One pass over the subscriptions whose head delivery is due; returns attempts made."""
        now: datetime = self.clock()
        async with self.db.session() as session:
            heads = (
                await session.execute(
                    select(Delivery.subscription_id, Delivery.id)
                    .where(Delivery.status == "pending")
                    .order_by(Delivery.subscription_id, Delivery.id)
                )
            ).all()
        first_by_subscription: dict[str, int] = {}
        for subscription_id, delivery_id in heads:
            first_by_subscription.setdefault(subscription_id, delivery_id)
        attempts = await asyncio.gather(
            *(self._attempt(client, d, now) for d in first_by_subscription.values())
        )
        return sum(attempts)

    async def _attempt(self, client: httpx.AsyncClient, delivery_id: int, now: datetime) -> int:
        if self.db.is_postgresql:
            # The row stays locked while it is attempted: another replica skips it.
            async with self.db.session() as session:
                due = await self._due(session, delivery_id, now, lock=True)
                if due is None:
                    return 0
                delivery, subscription = due
                self._record(delivery, await self._post(client, subscription, delivery, now), now)
            return 1
        # SQLite (one process): never hold the database while waiting for a receiver.
        async with self.db.session() as session:
            due = await self._due(session, delivery_id, now, lock=False)
        if due is None:
            return 0
        delivery, subscription = due
        outcome = await self._post(client, subscription, delivery, now)
        async with self.db.session() as session:
            fresh = await session.get(Delivery, delivery_id)
            assert fresh is not None
            self._record(fresh, outcome, now)
        return 1

    async def _due(
        self, session: AsyncSession, delivery_id: int, now: datetime, *, lock: bool
    ) -> tuple[Delivery, Subscription] | None:
        stmt = select(Delivery).where(Delivery.id == delivery_id, Delivery.status == "pending")
        if lock:
            stmt = stmt.with_for_update(skip_locked=True)
        delivery = await session.scalar(stmt)
        if delivery is None or delivery.next_attempt_at > now:
            return None
        subscription = await session.get(Subscription, delivery.subscription_id)
        assert subscription is not None
        return delivery, subscription

    async def _post(
        self,
        client: httpx.AsyncClient,
        subscription: Subscription,
        delivery: Delivery,
        now: datetime,
    ) -> Outcome:
        # The attempt continues the trace of the event handling that queued it.
        with tracing.span(
            "POST webhook",
            kind=SpanKind.CLIENT,
            parent=tracing.context_of({"traceparent": delivery.traceparent}),
            attributes={"wps.delivery.id": delivery.id},
        ):
            return await post_event(
                client,
                url=subscription.url,
                secret=subscription.secret,
                delivery_id=delivery.id,
                event_id=delivery.event_id,
                body=delivery.body.encode(),
                now=now,
                time_limit=self.settings.request_timeout_seconds,
            )

    def _record(self, delivery: Delivery, outcome: Outcome, now: datetime) -> None:
        status, error = outcome
        delivery.attempts += 1
        delivery.last_status_code = status
        delivery.last_error = error
        if self.metrics is not None:
            verdict = (
                "delivered"
                if error is None
                else "dead"
                if delivery.attempts >= self.settings.max_attempts
                else "retry"
            )
            self.metrics.webhook_attempted(verdict, status)
        if error is None:
            delivery.status = "delivered"
            delivery.delivered_at = now
        elif delivery.attempts >= self.settings.max_attempts:
            delivery.status = "parked"
            log.warning("webhook %s parked after %s attempts", delivery.id, delivery.attempts)
        else:
            delay = min(
                self.settings.first_retry_seconds * 2 ** (delivery.attempts - 1),
                self.settings.max_retry_seconds,
            )
            delivery.next_attempt_at = now + timedelta(seconds=delay)


async def post_event(
    client: httpx.AsyncClient,
    *,
    url: str,
    secret: str,
    delivery_id: int,
    event_id: str,
    body: bytes,
    now: datetime,
    time_limit: float,
) -> Outcome:
    """POST one signed event; returns the status code and, on failure, a short error class.
    Nothing the receiver sends back is kept or shown: its body is never read, and failures
    that would tell a refused port from an open one are all `unreachable`."""
    # Standard Webhooks: the event id is the message id, the same on every retry.
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/cloudevents+json",
        **signature_headers(secret, message_id=event_id, timestamp=timestamp, body=body),
        "X-WPS-Delivery": str(delivery_id),
        **tracing.current_carrier(),  # W3C traceparent (and tracestate) of this attempt
    }
    try:
        async with asyncio.timeout(time_limit):
            async with client.stream(
                "POST", url, content=body, headers=headers, timeout=time_limit
            ) as response:
                status = response.status_code
    except RefusedDestination as exc:
        log.warning("webhook %s not attempted: %s", delivery_id, exc.detail)
        return None, exc.error_class
    except Exception as exc:
        error = failure_class(exc)
        log.info("webhook %s failed (%s): %r", delivery_id, error, exc)
        return None, error
    if 200 <= status < 300:
        return status, None
    if 300 <= status < 400:
        return status, "redirect"  # never followed: it could point anywhere
    return status, f"http_{status}"


def failure_class(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError) and _caused_by_tls(exc):
        return "tls_error"
    if isinstance(exc, httpx.HTTPError):
        return "unreachable"
    if isinstance(exc, httpx.InvalidURL):
        return "invalid_url"
    log.exception("webhook delivery failed unexpectedly", exc_info=exc)
    return "delivery_error"


def _caused_by_tls(exc: BaseException) -> bool:
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ssl.SSLError):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


async def delivery_worker(runtime: ServiceRuntime) -> None:
    settings = runtime.settings
    assert isinstance(settings, WebhooksSettings)
    deliverer = Deliverer(runtime.db, settings, lambda: runtime.clock(), runtime.metrics)
    async with delivery_client(DestinationPolicy.of(settings)) as client:
        await deliverer.run(client, stop=runtime.draining)
