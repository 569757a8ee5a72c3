"""The one consumer loop: durable pull consumer, inbox dedupe, retries, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry.trace import SpanKind
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common import tracing
from wps_common.db import Database
from wps_common.events.contracts import DeadLetterRecorded
from wps_common.events.envelope import CloudEvent, EventPayload
from wps_common.events.outbox import EventRouting, Outbox

log = logging.getLogger("wps.consumer")

# Handlers take the concrete payload class they are registered for.
Handler = Callable[[AsyncSession, Any, CloudEvent], Awaitable[None]]


def raise_if_cancelled() -> None:
    """nats-py turns a cancellation during a fetch into ConnectionClosedError or a timeout;
    a loop that swallows those must still stop when its task was asked to."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class PermanentError(Exception):
    """A handler's verdict that retrying cannot help: the message goes to the dead letters."""


class TransientError(Exception):
    """Not yet possible (e.g. a fact this depends on has not arrived): retry with backoff."""


@dataclass
class ConsumerStats:
    handled: int = 0
    duplicates: int = 0
    retried: int = 0
    redelivered: int = 0  # arrived with a delivery count above one
    dead_lettered: int = 0
    ignored: int = 0
    errors: list[str] = field(default_factory=list)


class EventConsumer:
    """Reads one stream through a durable pull consumer and applies handlers exactly once.

    Each message is handled in one database transaction that also records its event id in the
    inbox: a redelivery or a duplicate finds the id and has no second effect, and is acked.
    Failures are nak'ed with growing delays; after `max_deliver` attempts (or a PermanentError,
    or a message that is not a valid event) it is terminated and a dead letter is published.
    """

    def __init__(
        self,
        *,
        name: str,
        db: Database,
        outbox: Outbox,
        js: JetStreamContext,
        stream: str,
        routing: EventRouting,
        handlers: Mapping[type[EventPayload], Handler],
        batch_size: int = 100,
        max_deliver: int = 6,
        ack_wait_seconds: float = 30.0,
        nak_delays: tuple[float, ...] = (0.5, 2.0, 5.0, 15.0, 30.0),
        check_seconds: float = 10.0,
    ) -> None:
        self.name, self.db, self.outbox, self.js, self.stream = name, db, outbox, js, stream
        self.routing = routing
        self.handlers = {payload.event_type(): (payload, h) for payload, h in handlers.items()}
        self.subjects = sorted({routing.subject(payload) for payload in handlers})
        self.batch_size = batch_size
        self.max_deliver = max_deliver
        self.ack_wait_seconds = ack_wait_seconds
        self.nak_delays = nak_delays
        self.check_seconds = check_seconds
        self.stats = ConsumerStats()
        self._stopping = asyncio.Event()

    def consumer_config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.name,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait_seconds,
            max_deliver=self.max_deliver,
            filter_subjects=self.subjects,
            max_ack_pending=max(1000, self.batch_size * 4),
        )

    def stop(self) -> None:
        """Fetch no more: the batch in hand is handled and acked, then `run` returns."""
        self._stopping.set()

    async def run(self) -> None:
        if self._stopping.is_set():
            return
        await self.js.add_consumer(self.stream, config=self.consumer_config())
        subscription = await self.js.pull_subscribe_bind(durable=self.name, stream=self.stream)
        log.info("consumer %s on %s %s started", self.name, self.stream, self.subjects)
        last_check = time.monotonic()
        # nats-py's fetch(n) waits for all n while its pull request lingers, so an idle consumer
        # asks for one message (returned the moment it arrives) and asks for more only while
        # the server reports more pending: low latency when quiet, batches under load.
        want = 1
        while not self._stopping.is_set():
            try:
                messages = await self._pull(subscription, want)
            except (TimeoutError, nats.errors.TimeoutError):
                want = 1
                raise_if_cancelled()
                if time.monotonic() - last_check > self.check_seconds:
                    # A stream deleted and recreated (e.g. healed by a replay) loses its
                    # consumers, and a pull on a missing consumer only ever times out: check,
                    # and let the supervisor start this loop again, which recreates it.
                    last_check = time.monotonic()
                    await self.js.consumer_info(self.stream, self.name)
                continue
            except (nats.errors.ConnectionClosedError, nats.errors.NoServersError) as exc:
                raise_if_cancelled()
                log.warning("consumer %s: connection problem (%s)", self.name, exc)
                await asyncio.sleep(1.0)
                continue
            await self.process_batch(messages)
            pending = messages[-1].metadata.num_pending if messages else 0
            want = max(1, min(self.batch_size, pending or 0))
        await self._leave(subscription)

    async def _pull(self, subscription: JetStreamContext.PullSubscription, want: int) -> list[Msg]:
        """The next messages; none when `stop()` gave up an idle pull.

        A pull for one message (the consumer is idle) is given up at once on stop: it holds
        nothing yet, and the server drops it when the subscription goes. A bigger pull may hold
        messages already, so it is let finish (within its one-second timeout).
        """
        pull = asyncio.ensure_future(subscription.fetch(want, timeout=1.0))
        if want > 1:
            return await pull
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((pull, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not pull.done():
                pull.cancel()
                await asyncio.wait((pull,))
        if self._stopping.is_set() and (pull.cancelled() or pull.exception() is not None):
            return []
        return pull.result()

    async def _leave(self, subscription: JetStreamContext.PullSubscription) -> None:
        """Unsubscribe (the server then drops a pull still open for us) and handle what it had
        delivered already, rather than leave it to come back after ack_wait."""
        with contextlib.suppress(Exception):  # a closed connection holds no pull open
            await subscription.unsubscribe()
        while subscription.pending_msgs:
            try:
                # Served from the subscription's own queue, without asking the server.
                messages = await subscription.fetch(1, timeout=0.1)
            except Exception:
                break
            await self.process_batch(messages)
        log.info("consumer %s on %s stopped", self.name, self.stream)

    async def process(self, message: Msg) -> None:
        await self.process_batch([message])

    async def process_batch(self, messages: list[Msg]) -> None:
        """Handle a fetched batch (see `_apply_batch`). Cancelled half-way (the shutdown grace
        ran out), it naks what it has not settled: the messages go to another replica at once
        instead of after ack_wait, and the inbox guards against a second effect."""
        try:
            await self._apply_batch(messages)
        except asyncio.CancelledError:
            for message in messages:
                with contextlib.suppress(Exception):  # already settled, or the connection is gone
                    await message.nak()
            raise

    async def _apply_batch(self, messages: list[Msg]) -> None:
        """Apply a fetched batch in one transaction, each message in a savepoint of its own.

        One commit per batch instead of one per message; a failing message rolls back only its
        savepoint and is retried alone. If the commit itself fails, nothing of the batch
        happened and every message is retried. Acks go out only after the commit.
        """
        work: list[tuple[Msg, CloudEvent, EventPayload, Handler]] = []
        for message in messages:
            item = await self._decode(message)
            if item is not None:
                work.append(item)
        if not work:
            return
        failures: dict[int, Exception] = {}
        handled = duplicates = 0
        try:
            async with self.db.session() as session:
                for index, (_, event, payload, handler) in enumerate(work):
                    try:
                        # The event's trace continues here: log lines and the events the
                        # handler emits carry it.
                        with tracing.span(
                            f"handle {event.type}",
                            kind=SpanKind.CONSUMER,
                            parent=tracing.context_of(event.trace_carrier()),
                            attributes={"messaging.message.id": event.id},
                        ):
                            async with session.begin_nested():
                                if await self.outbox.remember(session, event, self.name):
                                    await handler(session, payload, event)
                                    handled += 1
                                else:
                                    duplicates += 1
                    except Exception as exc:
                        failures[index] = exc
        except Exception as exc:  # the commit failed: the whole batch is undone
            failures = dict.fromkeys(range(len(work)), exc)
            handled = duplicates = 0
        self.stats.handled += handled
        self.stats.duplicates += duplicates
        for index, (message, event, _, _) in enumerate(work):
            failure = failures.get(index)
            if failure is None:
                await message.ack()
            else:
                with tracing.within(tracing.context_of(event.trace_carrier())):
                    await self._failed(message, event, failure)

    async def _decode(self, message: Msg) -> tuple[Msg, CloudEvent, EventPayload, Handler] | None:
        """The message as an event for a handler; None when it was settled here already."""
        if message.metadata.num_delivered > 1:
            self.stats.redelivered += 1
        try:
            event = CloudEvent.model_validate_json(message.data)
        except ValidationError as exc:
            await self._dead_letter(message, None, f"not a CloudEvent: {exc.errors()[:3]}")
            return None
        known = self.handlers.get(event.type)
        if known is None:
            self.stats.ignored += 1
            await message.ack()
            return None
        payload_class, handler = known
        try:
            payload = payload_class.model_validate(event.data)
        except ValidationError as exc:
            await self._dead_letter(message, event, f"data does not match {event.type}: {exc}")
            return None
        return message, event, payload, handler

    async def _failed(self, message: Msg, event: CloudEvent, exc: Exception) -> None:
        deliveries = message.metadata.num_delivered
        if isinstance(exc, PermanentError):
            await self._dead_letter(message, event, f"rejected: {exc}")
            return
        if deliveries >= self.max_deliver:
            await self._dead_letter(message, event, f"failed {deliveries} times: {exc!r}")
            return
        delay = self.nak_delays[min(deliveries - 1, len(self.nak_delays) - 1)]
        self.stats.retried += 1
        level = logging.INFO if isinstance(exc, TransientError) else logging.WARNING
        log.log(level, "consumer %s: %s failed (%r); retry in %ss", self.name, event.id, exc, delay)
        await message.nak(delay=delay)

    async def _dead_letter(self, message: Msg, event: CloudEvent | None, reason: str) -> None:
        meta = message.metadata
        letter = DeadLetterRecorded(
            consumer=self.name,
            stream=meta.stream,
            stream_sequence=meta.sequence.stream,
            original_subject=message.subject,
            original_event_id=event.id if event else None,
            original_type=event.type if event else None,
            deliveries=meta.num_delivered,
            reason=reason[:4000],
        )
        # A stable id: should the term below be lost and the message come back, the second
        # dead letter is dropped by JetStream's dedupe window.
        letter_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.name}/{meta.sequence.stream}"))
        envelope = CloudEvent.of(
            letter, event_id=letter_id, trace=event.trace_carrier() if event else None
        )
        try:
            await self.js.publish(
                self.routing.subject(DeadLetterRecorded),
                envelope.to_json(),
                headers={"Nats-Msg-Id": letter_id},
            )
        except Exception as exc:  # cannot record it: leave the message to come back later
            log.warning("consumer %s: dead letter not published (%r)", self.name, exc)
            await message.nak(delay=self.nak_delays[-1])
            return
        log.error(
            "consumer %s: dead-lettered stream seq %s: %s",
            self.name,
            letter.stream_sequence,
            reason,
        )
        self.stats.dead_lettered += 1
        await message.term()
