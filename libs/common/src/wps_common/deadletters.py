"""Dead letters of a service's consumers: listing them, showing the original event, redriving it.

A dead letter is the `DeadLetterRecorded` event a consumer published when it gave up on a
message (events/consumer.py); the message itself stays in its stream. Redriving reads it from
there by sequence and applies it through the consumer's own unit of work — inbox, handler and
outbox in one transaction — so it is safe next to running replicas, and the inbox row it leaves
is the record that the event has been handled (docs/adr/0020).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import ValidationError
from sqlalchemy import select

from wps_common.db import Database
from wps_common.events.consumer import Handler
from wps_common.events.contracts import DeadLetterRecorded
from wps_common.events.envelope import CloudEvent, EventPayload
from wps_common.events.outbox import EventRouting, Outbox
from wps_common.runtime import Subscription

READ_BATCH = 256


class DeadLetterError(Exception):
    """A dead letter that cannot be found or used; the message says what to do."""


@dataclass(frozen=True)
class DeadLetter:
    id: str  # the DeadLetterRecorded event's id (stable per consumer and stream sequence)
    recorded_at: datetime
    letter: DeadLetterRecorded
    handled_at: datetime | None = None  # when the inbox took the original event, if it has

    @property
    def short_id(self) -> str:
        return self.id[:8]

    @property
    def reason_line(self) -> str:
        return self.letter.reason.strip().splitlines()[0] if self.letter.reason.strip() else ""

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "recorded_at": self.recorded_at.isoformat(),
            **self.letter.model_dump(mode="json"),
            "handled": self.handled_at is not None,
            "handled_at": self.handled_at.isoformat() if self.handled_at else None,
        }


@dataclass(frozen=True)
class Original:
    """The dead-lettered message as its stream holds it now, or why it cannot be had."""

    event: CloudEvent | None
    data: bytes | None
    problem: str | None = None


Outcome = Literal["redriven", "already handled", "failed"]


@dataclass(frozen=True)
class Redrive:
    letter: DeadLetter
    outcome: Outcome
    detail: str = ""


class DeadLetters:
    """One service's dead letters: those its consumer (named after the service) recorded."""

    def __init__(
        self,
        *,
        js: JetStreamContext,
        db: Database,
        outbox: Outbox,
        routing: EventRouting,
        dead_letter_stream: str,
        consumer: str,
        subscriptions: Iterable[Subscription],
    ) -> None:
        self.js, self.db, self.outbox, self.routing = js, db, outbox, routing
        self.stream = dead_letter_stream
        self.consumer = consumer
        self.handlers: dict[str, tuple[type[EventPayload], Handler]] = {}
        for subscription in subscriptions:
            for payload, handler in subscription.handlers.items():
                self.handlers[payload.event_type()] = (payload, handler)

    async def recorded(
        self,
        *,
        since: datetime | None = None,
        consumer: str | None = None,
        event_type: str | None = None,
        open_only: bool = False,
    ) -> list[DeadLetter]:
        """Newest first. `consumer` defaults to this service's; `*` means every consumer."""
        wanted = consumer or self.consumer
        letters = [
            letter
            for letter in await self._read(since)
            if wanted == "*" or letter.letter.consumer == wanted
            if event_type is None or letter.letter.original_type == event_type
        ]
        letters = await self._with_inbox(letters)
        if open_only:
            letters = [letter for letter in letters if letter.handled_at is None]
        return sorted(letters, key=lambda d: (d.recorded_at, d.id), reverse=True)

    async def find(self, id_prefix: str) -> DeadLetter:
        """By its id or an unambiguous beginning of it (at least four characters)."""
        prefix = id_prefix.strip().lower()
        if len(prefix) < 4:
            raise DeadLetterError(f"{id_prefix!r}: give at least four characters of the id")
        matches = [d for d in await self.recorded(consumer="*") if d.id.startswith(prefix)]
        if not matches:
            raise DeadLetterError(f"no dead letter {id_prefix!r} (see `dead-letters list`)")
        if len(matches) > 1:
            raise DeadLetterError(f"{id_prefix!r} names {len(matches)} dead letters: give more")
        return matches[0]

    async def original(self, dead: DeadLetter) -> Original:
        letter = dead.letter
        try:
            message = await self.js.get_msg(letter.stream, letter.stream_sequence)
        except NotFoundError:
            return Original(
                None,
                None,
                f"stream {letter.stream} no longer holds sequence {letter.stream_sequence} "
                "(removed by the stream's limits, or the stream was recreated); the producing "
                "service can publish the event again with `replay --since`",
            )
        data = message.data or b""
        try:
            event = CloudEvent.model_validate_json(data)
        except ValidationError:
            if letter.original_event_id is not None:
                return Original(None, data, self._replaced(dead))
            return Original(None, data, "the message is not a CloudEvent; it cannot be redriven")
        if letter.original_event_id is not None and event.id != letter.original_event_id:
            return Original(None, data, self._replaced(dead))
        return Original(event, data)

    def _replaced(self, dead: DeadLetter) -> str:
        letter = dead.letter
        return (
            f"stream {letter.stream} holds another message at sequence {letter.stream_sequence} "
            f"than event {letter.original_event_id} (the stream was recreated); the producing "
            "service can publish the event again with `replay --since`"
        )

    async def redrive(self, dead: DeadLetter) -> Redrive:
        """Hand the original event to this service's handler once more, exactly once."""
        if dead.letter.consumer != self.consumer:
            return Redrive(
                dead, "failed", f"it belongs to consumer {dead.letter.consumer}: redrive it there"
            )
        original = await self.original(dead)
        if original.event is None:
            return Redrive(dead, "failed", original.problem or "no event")
        event = original.event
        known = self.handlers.get(event.type)
        if known is None:
            return Redrive(dead, "failed", f"this service has no handler for {event.type}")
        payload_class, handler = known
        try:
            payload = payload_class.model_validate(event.data)
        except ValidationError as exc:
            return Redrive(dead, "failed", f"data does not match {event.type}: {_first(exc)}")
        try:
            # The consumer's unit of work: the inbox row, the handler's effects and the events
            # it emits commit together; a concurrent redrive or delivery of the same event
            # finds the inbox row and does nothing.
            async with self.db.session() as session:
                if not await self.outbox.remember(session, event, self.consumer):
                    return Redrive(dead, "already handled", "the inbox already has the event")
                await handler(session, payload, event)
        except Exception as exc:
            return Redrive(dead, "failed", f"{exc.__class__.__name__}: {exc}".strip())
        return Redrive(dead, "redriven")

    async def _read(self, since: datetime | None) -> list[DeadLetter]:
        """Every DeadLetterRecorded in the stream (since a time), through a short-lived
        consumer of our own that acknowledges nothing and disappears when idle."""
        subject = self.routing.subject(DeadLetterRecorded)
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.BY_START_TIME if since else DeliverPolicy.ALL,
            opt_start_time=since.isoformat() if since else None,  # type: ignore[arg-type]
            inactive_threshold=30.0,
            mem_storage=True,
        )
        try:
            subscription = await self.js.pull_subscribe(subject, stream=self.stream, config=config)
        except NotFoundError:
            raise DeadLetterError(
                f"stream {self.stream} does not exist on this NATS server yet (it is created "
                "when a service starts)"
            ) from None
        letters: list[DeadLetter] = []
        try:
            remaining = (await subscription.consumer_info()).num_pending
            while remaining:
                try:
                    batch = await subscription.fetch(min(READ_BATCH, remaining), timeout=5.0)
                except (TimeoutError, nats.errors.TimeoutError):
                    break
                for message in batch:
                    letters.extend(_decode(message.data))
                remaining = batch[-1].metadata.num_pending if batch else 0
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        return letters

    async def _with_inbox(self, letters: Sequence[DeadLetter]) -> list[DeadLetter]:
        ids = {d.letter.original_event_id for d in letters if d.letter.original_event_id}
        handled: dict[str, datetime] = {}
        inbox = self.outbox.inbox
        async with self.db.reading() as session:
            for chunk in _chunks(sorted(ids), 500):
                rows = await session.execute(
                    select(inbox.c.event_id, inbox.c.processed_at).where(
                        inbox.c.event_id.in_(chunk)
                    )
                )
                handled.update({event_id: at for event_id, at in rows.all()})
        return [
            DeadLetter(d.id, d.recorded_at, d.letter, handled.get(d.letter.original_event_id or ""))
            for d in letters
        ]


def _decode(data: bytes) -> list[DeadLetter]:
    try:
        envelope = CloudEvent.model_validate_json(data)
        letter = DeadLetterRecorded.model_validate(envelope.data)
    except ValidationError:
        return []  # not ours to judge: someone else published on the subject
    return [DeadLetter(envelope.id, envelope.time, letter)]


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error.get("loc", ()))
    return f"{where}: {error.get('msg')}" if where else str(error.get("msg"))
