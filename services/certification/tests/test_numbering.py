"""Certificate numbers from concurrent replicas issuing batches: unique and gap-free per academy
and year, whatever the interleaving (PostgreSQL: replicas share one database there)."""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import select

from wps_certification import holders, issuance
from wps_certification.models import Base, Certificate
from wps_common.db import Database
from wps_common.testing.support import create_tables

from .conftest import completion, profile

ACADEMIES = {"academy-1": "UA-KYIV", "academy-2": "MD-CHI"}


async def test_concurrent_replicas_number_without_gaps_or_repeats(
    db_backend: str, database_url: str
) -> None:
    if db_backend == "sqlite":
        pytest.skip("one replica per SQLite database")
    await create_tables(database_url, Base.metadata)
    trainees = {f"t-{i}": academy for i, academy in enumerate(list(ACADEMIES) * 3)}
    setup = Database(database_url)
    replicas = [Database(database_url) for _ in range(4)]
    try:
        async with setup.session() as session:
            for trainee, academy in trainees.items():
                await holders.remember_holder(
                    session,
                    profile(trainee, academy_id=academy, academy_code=ACADEMIES[academy]),
                )
        shuffled = random.Random(7)

        async def replica(db: Database) -> None:
            for _ in range(5):
                # Batches that touch both academies, in either order.
                batch = [
                    completion(trainee, academy_id=academy)
                    for trainee, academy in shuffled.sample(sorted(trainees.items()), 4)
                ]
                async with db.session() as session:
                    await issuance.issue_many(session, batch)

        await asyncio.gather(*(replica(db) for db in replicas))
        async with setup.session() as session:
            issued = (
                await session.execute(select(Certificate.academy_id, Certificate.number))
            ).all()
    finally:
        for db in (setup, *replicas):
            await db.dispose()
    assert len(issued) == 4 * 5 * 4
    for academy, code in ACADEMIES.items():
        numbers = sorted(number for owner, number in issued if owner == academy)
        assert numbers == [f"{code}-2026-{n:06d}" for n in range(1, len(numbers) + 1)]
