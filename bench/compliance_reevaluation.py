"""Prints how long enrolment takes to re-evaluate every trainee of an academy when a mandatory
requirement is created and then changed, next to a bare reference measured in the same run.

    .venv/bin/python bench/compliance_reevaluation.py [--trainees 100000]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test]

The enrolment database (migrated to head; SQLite, and PostgreSQL too when a server URL is given,
in a throwaway database) is filled with one academy of N trainees by bulk Core inserts. Then a
`requirement.changed` event is published to a real nats-server and enrolment's own consumer and
handlers apply it (inbox, requirement read model, every trainee's status, a `compliance.changed`
outbox row per transition); the time runs from the publish to that transaction's commit, taken
by an after-commit hook. First the requirement is created (a status for every trainee), then its
grace period is shortened (most statuses change).

The bare reference writes the same statuses into a table of the same shape with one set-based
SQL statement each (INSERT … SELECT, then UPDATE), status and due date computed in SQL, in one
transaction, without events. Figures only: nothing here asserts a speed. No goal is set; the
ratio (bare time / service time) is printed as `ratio compliance-reevaluation <db>: <value>`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import asyncpg
import nats
from sqlalchemy import (
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    text,
)

from wps_common.db import Database, UTCDateTime, new_id
from wps_common.events.consumer import EventConsumer
from wps_common.events.contracts import RequirementChanged, Selector
from wps_common.events.envelope import CloudEvent
from wps_common.events.outbox import EventRouting
from wps_common.events.streams import ensure_streams
from wps_common.migrations import migrate
from wps_common.natsserver import NatsServer
from wps_common.settings import ServiceSettings
from wps_enrolment.handlers import compliance_handlers
from wps_enrolment.main import MIGRATIONS
from wps_enrolment.models import Academy, ComplianceRecord, Trainee, outbox

ACADEMY = "BENCH"
CODE = "REQ-BENCH"
TODAY = date(2026, 6, 1)
NOON = datetime(TODAY.year, TODAY.month, TODAY.day, 12, tzinfo=UTC)  # the same date in UTC
FILL_CHUNK = 5000

bare_metadata = MetaData()
bare_compliance = Table(
    "bare_compliance",
    bare_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trainee_id", String(36), nullable=False),
    Column("academy_id", String(36), nullable=False),
    Column("requirement_code", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("due_on", Date),
    Column("certificate_id", String(36)),
    Column("since", UTCDateTime, nullable=False),
    Column("evaluated_on", Date, nullable=False),
)


def requirement(revision: int, grace_period_days: int) -> RequirementChanged:
    return RequirementChanged(
        requirement_code=CODE,
        revision=revision,
        change="created" if revision == 1 else "updated",
        title={"en": "Bench requirement"},
        selector=Selector(academies=[ACADEMY]),
        track_code="BENCH-TRACK",
        grace_period_days=grace_period_days,
        reminder_days=[30],
        changed_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=revision),
    )


async def fresh_database(url: str | None, workdir: Path) -> tuple[str, str | None]:
    if not url:
        return f"sqlite+aiosqlite:///{workdir / 'enrolment.db'}", None
    name = f"wps_bench_compliance_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(url.replace("+asyncpg", ""))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return url.rsplit("/", 1)[0] + f"/{name}", name


async def fill(db: Database, trainees: int) -> str:
    """One academy and its trainees, by bulk Core inserts; start dates spread over two years."""
    academy_id = new_id()
    now = datetime.now(UTC)
    async with db.session() as session:
        await session.execute(
            insert(cast(Table, Academy.__table__)).values(
                id=academy_id,
                code=ACADEMY,
                name="Bench academy",
                country="KZ",
                time_zone="Asia/Almaty",
                languages=["en"],
                created_at=now,
            )
        )
    for start in range(0, trainees, FILL_CHUNK):
        rows = []
        for n in range(start, min(start + FILL_CHUNK, trainees)):
            row: dict[str, Any] = {
                "id": new_id(),
                "academy_id": academy_id,
                "employee_number": f"E{n:07d}",
                "given_name": f"Given{n}",
                "family_name": f"Family{n}",
                "preferred_language": "en",
                "gender": ("female", "male")[n % 2],
                "rank": "officer",
                "role": "patrol",
                "unit": f"unit-{n % 20}",
                "agency": "police",
                "start_date": TODAY - timedelta(days=n % 730),
                "active": True,
                "created_at": now,
                "updated_at": now,
            }
            rows.append(row)  # the model's column defaults fill the rest
        async with db.session() as session:
            await session.execute(insert(cast(Table, Trainee.__table__)), rows)
    return academy_id


class Commits:
    """When the consumer's transaction committed: set from the database's after-commit hook."""

    def __init__(self, db: Database) -> None:
        self.last = 0.0
        db.on_commit(self._committed)

    def _committed(self, session: Any) -> None:
        self.last = time.perf_counter()


async def applied(consumer: EventConsumer, handled: int, commits: Commits) -> float:
    async with asyncio.timeout(1800):
        while consumer.stats.handled < handled:  # noqa: ASYNC110
            if consumer.stats.retried or consumer.stats.dead_lettered:
                raise RuntimeError(f"the requirement event failed: {consumer.stats}")
            await asyncio.sleep(0.05)
    return commits.last  # the commit's own time; the polling interval does not count


def bare_statements(dialect: str) -> tuple[str, str]:
    """INSERT … SELECT and UPDATE with the rule's status and due date computed in SQL:
    never certified, so due until the grace period after the later of the start date and the
    requirement's first day has passed, overdue after it."""
    if dialect == "postgresql":
        deadline = "(GREATEST(t.start_date, CAST(:created_on AS date)) + CAST(:grace AS integer))"
        later = "(GREATEST(s.start_date, CAST(:created_on AS date)) + CAST(:grace AS integer))"
    else:
        deadline = "date(max(t.start_date, :created_on), '+' || :grace || ' days')"
        later = "date(max(s.start_date, :created_on), '+' || :grace || ' days')"
    create = f"""
        INSERT INTO bare_compliance
            (trainee_id, academy_id, requirement_code, status, due_on, since, evaluated_on)
        SELECT t.id, t.academy_id, :code,
               CASE WHEN :today <= {deadline} THEN 'due' ELSE 'overdue' END,
               {deadline}, :now, :today
        FROM trainees t WHERE t.academy_id = :academy_id AND t.active
    """
    change = f"""
        UPDATE bare_compliance SET
            status = CASE WHEN :today <= {later} THEN 'due' ELSE 'overdue' END,
            due_on = {later},
            since = CASE WHEN (CASE WHEN :today <= {later} THEN 'due' ELSE 'overdue' END)
                         <> bare_compliance.status THEN :now ELSE bare_compliance.since END,
            evaluated_on = :today
        FROM trainees s
        WHERE s.id = bare_compliance.trainee_id AND bare_compliance.requirement_code = :code
    """
    return create, change


async def bare(db: Database, statement: str, academy_id: str, grace: int) -> float:
    started = time.perf_counter()
    async with db.session() as session:
        await session.execute(
            text(statement),
            {
                "code": CODE,
                "today": TODAY,
                "now": datetime.now(UTC),
                "created_on": date(2026, 1, 2),
                "grace": grace,
                "academy_id": academy_id,
            },
        )
    return time.perf_counter() - started


async def statuses(db: Database, table: Any) -> dict[str, int]:
    async with db.session() as session:
        rows = await session.execute(
            select(table.c.status, func.count()).group_by(table.c.status).order_by(table.c.status)
        )
        return {status: count for status, count in rows.all()}


async def run(trainees: int, database_url: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url, created = await fresh_database(database_url, workdir)
        server = NatsServer(workdir / "nats").start()
        db = Database(url)
        task: asyncio.Task[Any] | None = None
        nc = None
        try:
            await migrate(db, MIGRATIONS, lock_name="bench-enrolment")
            async with db.engine.begin() as connection:
                await connection.run_sync(bare_metadata.create_all)
            started = time.perf_counter()
            academy_id = await fill(db, trainees)
            filled = time.perf_counter() - started
            commits = Commits(db)

            settings = ServiceSettings(database_url=url, nats_url=server.url)
            nc = await nats.connect(server.url)
            js = nc.jetstream()
            await ensure_streams(js, settings)
            routing = EventRouting(settings.subject_root, settings.restricted_subject_root)
            consumer = EventConsumer(
                name="enrolment",
                db=db,
                outbox=outbox,
                js=js,
                stream=settings.stream_name,
                routing=routing,
                handlers=compliance_handlers(lambda: NOON),
                batch_size=settings.consumer_batch_size,
                max_deliver=settings.consumer_max_deliver,
                ack_wait_seconds=settings.consumer_ack_wait_seconds,
            )
            task = asyncio.create_task(consumer.run())
            create_sql, change_sql = bare_statements(db.dialect)
            figures: dict[str, Any] = {"database": db.dialect, "fill": filled}
            for phase, revision, grace, statement in (
                ("created", 1, 365, create_sql),
                ("changed", 2, 60, change_sql),
            ):
                payload = requirement(revision, grace)
                event = CloudEvent.of(payload)
                async with db.session() as session:
                    events_before = await session.scalar(
                        select(func.count()).select_from(outbox.table)
                    )
                started = time.perf_counter()
                await js.publish(
                    routing.subject(RequirementChanged),
                    event.to_json(),
                    headers={"Nats-Msg-Id": event.id},
                )
                service = await applied(consumer, revision, commits) - started
                async with db.session() as session:
                    events_after = await session.scalar(
                        select(func.count()).select_from(outbox.table)
                    )
                reference = await bare(db, statement, academy_id, grace)
                mine = await statuses(db, cast(Table, ComplianceRecord.__table__))
                theirs = await statuses(db, bare_compliance)
                figures[phase] = {
                    "service": service,
                    "bare": reference,
                    "statuses": mine,
                    "bare_statuses": theirs,
                    "events": (events_after or 0) - (events_before or 0),
                }
            return figures
        finally:
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            if nc is not None:
                await nc.close()
            await db.dispose()
            server.stop()
            if created and database_url:
                admin = await asyncpg.connect(database_url.replace("+asyncpg", ""))
                await admin.execute(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)')
                await admin.close()


def report(trainees: int, r: dict[str, Any]) -> None:
    db = r["database"]
    print(f"database            {db}")
    print(f"trainees            {trainees} in one academy (filled in {r['fill']:.1f} s)")
    for phase, what in (("created", "requirement created"), ("changed", "grace period cut")):
        f = r[phase]
        print(
            f"{what:19s} {f['service']:7.2f} s  {trainees / f['service']:9.0f} trainees/s"
            f"  ({f['events']} compliance.changed events; statuses {f['statuses']})"
        )
        print(
            f"bare statement      {f['bare']:7.2f} s  {trainees / f['bare']:9.0f} trainees/s"
            f"  (statuses {f['bare_statuses']})"
        )
    created, changed = r["created"], r["changed"]
    print(
        f"ratio compliance-reevaluation-created {db}: "
        f"{created['bare'] / created['service']:.2f} (no goal)"
    )
    print(
        f"ratio compliance-reevaluation {db}: {changed['bare'] / changed['service']:.2f} (no goal)"
    )


async def main(trainees: int, database_url: str | None) -> None:
    for url in (None, database_url) if database_url else (None,):
        report(trainees, await run(trainees, url))
        print()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainees", type=int, default=100_000)
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL server (a throwaway database is created there and dropped)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.trainees, args.database_url))
