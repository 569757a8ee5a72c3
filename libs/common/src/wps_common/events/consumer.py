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
BatchFunction = Callable[[AsyncSession, list[tuple[Any, CloudEvent]]], Awaitable[None]]


class BatchHandler:
    """A handler that takes all events of its type in a fetched batch at once.

    Register it where a per-event handler goes, in `Subscription.handlers`::

        async def completed(session, items: list[tuple[TrackCompleted, CloudEvent]]) -> None:
            ...  # one query for what exists, one bulk insert for what is new

        Subscription(handlers={TrackCompleted: BatchHandler(completed)})

    The consumer calls `function` once per event type per batch, in the batch's transaction,
    with the newly claimed (payload, event) pairs in stream order (duplicates already left
    out by the inbox), at the position of the first of them among the batch's other events.
    If it raises, the whole batch is applied again one message at a time, and then the
    function gets a list of one: it must not depend on seeing several events together.
    Its span continues the first event's trace; to log or emit per event under that event's
    own trace, wrap the work in `tracing.within(tracing.context_of(event.trace_carrier()))`.

    It is also a plain `Handler` (a call with one payload and event), which is how the dead
    letter redrive and the one-at-a-time fallback use it.
    """

    def __init__(self, function: BatchFunction) -> None:
        self.handle = function
        self.__name__ = getattr(function, "__name__", "batch_handler")

    async def __call__(self, session: AsyncSession, payload: Any, event: CloudEvent) -> None:
        await self.handle(session, [(payload, event)])


# A decoded message: the message, its event, the event's payload and its handler.
_Work = tuple[Msg, CloudEvent, EventPayload, Handler]


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

    A fetched batch is handled in one database transaction that also records its event ids in
    the inbox: a redelivery or a duplicate finds the id and has no second effect, and is acked.
    When the batch fails, each message is handled in a transaction of its own.
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
        working = asyncio.create_task(self._still_working(messages))
        try:
            await self._apply_batch(messages)
        except asyncio.CancelledError:
            for message in messages:
                with contextlib.suppress(Exception):  # already settled, or the connection is gone
                    await message.nak()
            raise
        finally:
            working.cancel()

    async def _still_working(self, messages: list[Msg]) -> None:
        """Tell the server, every third of ack_wait, that the batch is still being handled: a
        long one (a requirement re-evaluated for 100,000 trainees) is then not delivered again,
        to this replica or another, while it runs."""
        while True:
            await asyncio.sleep(self.ack_wait_seconds / 3)
            for message in messages:
                with contextlib.suppress(Exception):  # settled already, or the connection is gone
                    await message.in_progress()

    async def _apply_batch(self, messages: list[Msg]) -> None:
        """Apply a fetched batch set-wise in one transaction, falling back to one at a time.

        One statement claims the batch's event ids in the inbox; the handlers run for the
        newly claimed events only (per-event handlers one by one, a `BatchHandler` once per
        event type), and one commit covers it all; acks go out after it. Should anything in
        the batch fail (a handler, the commit), nothing of it happened, and each message is
        then applied in a transaction of its own: a poison message is isolated, retried with
        its delays and dead-lettered alone, while the others are applied.
        """
        work: list[_Work] = []
        for message in messages:
            item = await self._decode(message)
            if item is not None:
                work.append(item)
        if not work:
            return
        try:
            handled, duplicates = await self._apply_together(work)
        except Exception as exc:
            if len(work) == 1:
                message, event, _, _ = work[0]
                with tracing.within(tracing.context_of(event.trace_carrier())):
                    await self._failed(message, event, exc)
                return
            log.info(
                "consumer %s: batch of %d failed (%r); applying one at a time",
                self.name,
                len(work),
                exc,
            )
            for item in work:
                await self._apply_alone(item)
            return
        self.stats.handled += handled
        self.stats.duplicates += duplicates
        for message, _, _, _ in work:
            await message.ack()

    async def _apply_together(self, work: list[_Work]) -> tuple[int, int]:
        """The batch's unit of work: inbox claim, handlers, one commit. (handled, duplicates)"""
        async with self.db.session() as session:
            claimed = await self.outbox.claim(
                session, [event for _, event, _, _ in work], self.name
            )
            fresh: list[_Work] = []
            for item in work:
                event_id = item[1].id
                if event_id in claimed:
                    claimed.discard(event_id)  # the same event twice in one batch: once
                    fresh.append(item)
            # A batch handler runs once, with all of its events, where its first one stands.
            batches: dict[int, list[_Work]] = {}
            for item in fresh:
                handler = item[3]
                if isinstance(handler, BatchHandler):
                    batches.setdefault(id(handler), []).append(item)
            for item in fresh:
                _, event, payload, handler = item
                if not isinstance(handler, BatchHandler):
                    with self._handling(event):
                        await handler(session, payload, event)
                        # ORM objects are written under the event's trace (a column default
                        # may read it); a no-op when the handler left nothing pending.
                        await session.flush()
                    continue
                together = batches.pop(id(handler), None)
                if together is not None:
                    with self._handling(event, count=len(together)):
                        await handler.handle(session, [(p, e) for _, e, p, _ in together])
                        await session.flush()
        return len(fresh), len(work) - len(fresh)

    async def _apply_alone(self, item: _Work) -> None:
        """One message in its own transaction (inbox row and effects), then its ack or retry."""
        message, event, payload, handler = item
        try:
            async with self.db.session() as session:
                fresh = await self.outbox.remember(session, event, self.name)
                if fresh:
                    with self._handling(event):
                        await handler(session, payload, event)
                        await session.flush()
        except Exception as exc:
            with tracing.within(tracing.context_of(event.trace_carrier())):
                await self._failed(message, event, exc)
            return
        if fresh:
            self.stats.handled += 1
        else:
            self.stats.duplicates += 1
        await message.ack()

    def _handling(
        self, event: CloudEvent, count: int = 1
    ) -> contextlib.AbstractContextManager[Any]:
        """The event's trace continues here: log lines and the events the handler emits carry
        it. A batch handler's span continues the trace of the first event of its batch."""
        attributes: dict[str, Any] = {"messaging.message.id": event.id}
        if count > 1:
            attributes["messaging.batch.message_count"] = count
        return tracing.span(
            f"handle {event.type}",
            kind=SpanKind.CONSUMER,
            parent=tracing.context_of(event.trace_carrier()),
            attributes=attributes,
        )

    async def _decode(self, message: Msg) -> _Work | None:
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
