"""Event retention prunes sent outbox rows and inbox ids past the horizon, never anything else,
once per period across replicas, on both databases; a horizon too short is refused at start."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import func, insert, select

from wps_common.cli import load_settings
from wps_common.db import Database
from wps_common.events.envelope import CloudEvent
from wps_common.events.replay import BeyondRetention, check_within_retention
from wps_common.jobs import JobScheduler
from wps_common.retention import EventRetention
from wps_common.settings import ServiceSettings

from .conftest import ThingHappened, job_runs, outbox

NOW = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
RETENTION = timedelta(days=30)
OLD = NOW - RETENTION - timedelta(hours=1)
RECENT = NOW - RETENTION + timedelta(hours=1)


async def add_outbox_row(db: Database, *, created: datetime, sent: datetime | None) -> str:
    event_id = str(uuid.uuid4())
    async with db.session() as session:
        await session.execute(
            insert(outbox.table).values(
                event_id=event_id,
                event_type="thing.happened",
                subject="testkit.thing.happened",
                restricted=False,
                body="{}",
                created_at=created,
                sent_at=sent,
                attempts=0,
            )
        )
    return event_id


async def add_inbox_id(db: Database, *, processed: datetime) -> str:
    event_id = str(uuid.uuid4())
    async with db.session() as session:
        await session.execute(
            insert(outbox.inbox).values(
                event_id=event_id, event_type="thing.happened", consumer="t", processed_at=processed
            )
        )
    return event_id


async def ids(db: Database, column: object) -> set[str]:
    async with db.session() as session:
        return set((await session.scalars(select(column))).all())  # type: ignore[call-overload]


def retention(db: Database, **kwargs: object) -> EventRetention:
    return EventRetention(db=lambda: db, outbox=outbox, retention=RETENTION, **kwargs)  # type: ignore[arg-type]


async def test_sent_rows_and_inbox_ids_past_the_horizon_are_pruned_in_batches(db: Database) -> None:
    old_sent = [await add_outbox_row(db, created=OLD, sent=OLD) for _ in range(5)]
    old_unsent = await add_outbox_row(db, created=OLD, sent=None)
    # Written long ago but published only recently (the broker was away): kept until the
    # horizon has passed its publication too.
    late_sent = await add_outbox_row(db, created=OLD, sent=RECENT)
    recent_sent = await add_outbox_row(db, created=RECENT, sent=RECENT)
    old_handled = [await add_inbox_id(db, processed=OLD) for _ in range(3)]
    recent_handled = await add_inbox_id(db, processed=RECENT)
    pruned: list[tuple[str, int]] = []

    report = await retention(db, batch_size=2, on_pruned=lambda t, n: pruned.append((t, n))).prune(
        NOW
    )

    assert (report.outbox, report.inbox) == (5, 3)
    assert await ids(db, outbox.table.c.event_id) == {old_unsent, late_sent, recent_sent}
    assert await ids(db, outbox.inbox.c.event_id) == {recent_handled}
    assert not set(old_sent) & await ids(db, outbox.table.c.event_id)
    assert not set(old_handled) & await ids(db, outbox.inbox.c.event_id)
    assert sum(n for t, n in pruned if t == "outbox") == 5
    assert sum(n for t, n in pruned if t == "inbox") == 3
    # Nothing left to prune: a second pass deletes nothing.
    assert await retention(db).prune(NOW) == type(report)(outbox=0, inbox=0)


async def test_an_unsent_event_is_never_pruned_however_old(db: Database) -> None:
    ancient = await add_outbox_row(db, created=NOW - timedelta(days=3650), sent=None)
    await retention(db).prune(NOW)
    assert await ids(db, outbox.table.c.event_id) == {ancient}


async def test_a_redelivery_inside_the_horizon_is_still_a_duplicate(db: Database) -> None:
    event = CloudEvent.of(ThingHappened(thing_id="t-1"))
    async with db.session() as session:
        assert await outbox.remember(session, event, "testkit") is True
    # The prune runs (the id was handled just now, well inside the horizon) ...
    await retention(db).prune(datetime.now(UTC) + RETENTION - timedelta(minutes=1))
    # ... and the same event delivered again is recognised and has no second effect.
    async with db.session() as session:
        assert await outbox.remember(session, event, "testkit") is False
        count = await session.scalar(select(func.count()).select_from(outbox.inbox))
    assert count == 1


async def test_two_replicas_prune_once_per_period(db: Database) -> None:
    await add_outbox_row(db, created=OLD, sent=OLD)
    runs: list[datetime] = []
    prune = retention(db)
    job = prune.job()

    async def counted(now: datetime) -> object:
        runs.append(now)
        return await prune.prune(now)

    job = type(job)(job.name, job.every, counted, job.lease)
    replicas = [JobScheduler(db, job_runs, clock=lambda: NOW) for _ in range(2)]
    outcomes = await asyncio.gather(*(r.run_if_due(job) for r in replicas))
    assert sorted(outcomes) == [False, True]
    assert len(runs) == 1
    assert await ids(db, outbox.table.c.event_id) == set()


def test_a_retention_not_longer_than_the_dedupe_or_replay_window_is_refused() -> None:
    with pytest.raises(ValidationError, match="WPS_EVENT_RETENTION_DAYS must exceed the dedupe"):
        ServiceSettings(event_retention_days=0.01)  # 864 s, under the 3600 s dedupe window
    with pytest.raises(ValidationError, match="must exceed WPS_REPLAY_WINDOW_DAYS"):
        ServiceSettings(event_retention_days=7, replay_window_days=7)
    assert ServiceSettings().event_retention_days > ServiceSettings().replay_window_days


def test_a_too_short_retention_stops_the_start_with_one_readable_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WPS_EVENT_RETENTION_DAYS", "3")
    with pytest.raises(SystemExit) as stop:
        load_settings("wps-testkit", ServiceSettings)
    assert stop.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("wps-testkit: configuration error:")
    assert "WPS_REPLAY_WINDOW_DAYS" in line


def test_a_replay_from_before_the_horizon_is_refused_with_the_horizon() -> None:
    settings = ServiceSettings()
    check_within_retention(settings, NOW - timedelta(days=29), now=NOW)
    with pytest.raises(BeyondRetention, match=r"before 2026-10-25T07:00:00\+00:00 are pruned"):
        check_within_retention(settings, NOW - timedelta(days=31), now=NOW)
