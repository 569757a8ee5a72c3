"""Periodic jobs run once per period however many replicas race for them, on both databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from wps_common.db import Database
from wps_common.jobs import JobScheduler, PeriodicJob

from .conftest import job_runs


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_replicas_run_a_daily_job_once_per_day(db: Database) -> None:
    clock = FakeClock()
    ran: list[datetime] = []

    async def sweep(now: datetime) -> None:
        ran.append(now)

    job = PeriodicJob("compliance-sweep", timedelta(days=1), sweep)
    replicas = [JobScheduler(db, job_runs, clock=clock) for _ in range(4)]
    outcomes = await asyncio.gather(*(r.run_if_due(job) for r in replicas))
    assert sorted(outcomes) == [False, False, False, True]
    assert [await r.run_if_due(job) for r in replicas] == [False] * 4  # same day: done
    clock.now += timedelta(days=1)
    outcomes = await asyncio.gather(*(r.run_if_due(job) for r in replicas))
    assert outcomes.count(True) == 1
    assert len(ran) == 2


async def test_a_failed_run_is_retried_and_a_dead_holder_is_taken_over(db: Database) -> None:
    clock = FakeClock()
    attempts = 0

    async def flaky(now: datetime) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("database went away")

    job = PeriodicJob("expiry-scan", timedelta(hours=1), flaky, lease=timedelta(minutes=5))
    first, second = JobScheduler(db, job_runs, clock=clock), JobScheduler(db, job_runs, clock=clock)
    with pytest.raises(RuntimeError):
        await first.run_if_due(job)
    assert await second.run_if_due(job) is True  # the failure released the lease, period not done
    assert attempts == 2

    # A holder that dies mid-run keeps the lease until it lapses; then another replica runs it.
    clock.now += timedelta(hours=1)
    await first._claim(job, job.period_of(clock.now), clock.now)  # claims, then "dies"
    assert await second.run_if_due(job) is False
    clock.now += timedelta(minutes=6)
    assert await second.run_if_due(job) is True
    assert attempts == 3
