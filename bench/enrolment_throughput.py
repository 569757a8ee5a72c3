"""Enrolment throughput, measured on a real nats-server and a real uvicorn (HTTP on loopback).

1. Bulk import: an HR CSV (100,000 rows by default, the goal's size) posted to
   /v1/academies/{id}/imports, timed until the job reports `succeeded` (parsing, upserts, audit
   rows, profile events, compliance) → rows/s, next to a bare batched import of the same file
   on the same database kind into the service's own `trainees` table (same columns, indexes
   and search index): csv parsing, then per chunk one lookup of the employee numbers already
   there, one multi-row INSERT and a commit. `--job-alone` times the import job by itself
   (no HTTP server, relay or NATS) next to the same bare import instead.
2. Enrolment requests: N POST /v1/cohorts/{id}/enrolments with C in flight (seat check under
   the cohort lock, outbox event, audit row) next to a bare FastAPI + SQLAlchemy endpoint that
   inserts one row per request on the same database kind, same client, same concurrency. The
   ratio is the figure: what the platform's work per request costs over a plain insert. The
   SQL statements each request runs (the idempotency middleware's included) are counted too.

SQLite by default; `--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test` for
PostgreSQL (the bench creates throwaway databases on that server and drops them).

    .venv/bin/python bench/enrolment_throughput.py [--rows 100000] [--enrolments 2000] [-c 20]
        [--job-alone] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import csv
import io
import os
import socket
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx
import uvicorn
from fastapi import Depends, FastAPI
from pydantic import BaseModel
from sqlalchemy import Engine, String, Table, event, func, insert, select
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from wps_common.db import Database, new_id, utcnow
from wps_common.events.contracts import ModuleFacts, TrackFacts, TrackPublished
from wps_common.natsserver import NatsServer
from wps_common.testing import auth, bus_settings, publish_event
from wps_enrolment import import_jobs
from wps_enrolment.main import create_app
from wps_enrolment.models import Academy, Base, CurriculumTrack, ImportJob, Trainee, outbox
from wps_enrolment.settings import EnrolmentSettings

ADMIN = auth("admin")
TRACK = TrackFacts(
    code="BENCH-1",
    version=1,
    content_hash="c" * 64,
    title={"en": "Bench track"},
    certificate_title={"en": "Bench"},
    validity_months=24,
    modules=[
        ModuleFacts(
            code="BENCH-M",
            version=1,
            content_hash="a" * 64,
            title={"en": "Bench module"},
            duration_hours=1,
            assessment="quiz",
            pass_mark=50,
            min_attendance_pct=50,
        )
    ],
)


# --- the bare baseline -----------------------------------------------------------------------


class _Base(DeclarativeBase):
    pass


class BareRow(_Base):
    __tablename__ = "bench_bare_rows"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    cohort_id: Mapped[str] = mapped_column(String(36))
    trainee_id: Mapped[str] = mapped_column(String(36))


async def bare_import(url: str, text: str, chunk_rows: int) -> float:
    """The same file imported with nothing but the batched work, into the service's own
    `trainees` table (same columns, same indexes, the same search index and the column
    defaults that fill it): csv parsing, then per chunk one lookup of the employee numbers
    already there, one multi-row INSERT and a commit. rows/s."""
    db = Database(url)
    tables = [cast(Table, Academy.__table__), cast(Table, Trainee.__table__)]
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all, tables=tables)
        academies, trainees = tables
        academy = new_id()
        async with db.session() as s:
            await s.execute(
                insert(academies).values(
                    id=academy, code="BARE", name="Bare", country="GE", time_zone="UTC",
                    languages=["en"], created_at=utcnow(),
                )
            )  # fmt: skip
        started = time.perf_counter()
        rows = [
            {
                "employee_number": r["employee_number"],
                "family_name": r["family_name"],
                "given_name": r["given_name"],
                "preferred_language": "en",
                "gender": r["gender"] or None,
                "rank": r["rank"] or None,
                "unit": r["unit"] or None,
                "start_date": date.fromisoformat(r["start_date"]),
            }
            for r in csv.DictReader(io.StringIO(text))
        ]
        number = trainees.c.employee_number
        analysed_at = 0
        for i in range(0, len(rows), chunk_rows):
            chunk = rows[i : i + chunk_rows]
            async with db.session() as s:
                if db.is_postgresql and i > 0 and i >= 2 * analysed_at:
                    # Without fresh statistics PostgreSQL reads the academy's every row for
                    # each chunk's lookup (see import_jobs._Statistics): the same ANALYZEs.
                    await s.execute(sql("ANALYZE trainees"))
                    analysed_at = i
                numbers = [r["employee_number"] for r in chunk]
                there = set(
                    await s.scalars(
                        select(number).where(trainees.c.academy_id == academy, number.in_(numbers))
                    )
                )
                now = utcnow()
                new = [
                    r
                    | {"id": new_id(), "academy_id": academy, "created_at": now, "updated_at": now}
                    for r in chunk
                    if r["employee_number"] not in there
                ]
                await s.execute(insert(trainees), new)
        return len(rows) / (time.perf_counter() - started)
    finally:
        await db.dispose()


async def job_alone(url: str, text: str, chunk_rows: int) -> float:
    """The import job by itself (`import_jobs.run` on the service's schema: parsing, upserts,
    audit rows, events into the outbox, progress), without the HTTP server, the relay or
    NATS around it: rows/s."""
    db = Database(url)
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        job_id = new_id()
        async with db.session() as s:
            academy = Academy(
                code="JOB", name="Job", country="GE", time_zone="UTC", languages=["en"]
            )
            s.add(academy)
            await s.flush()
            s.add(
                ImportJob(
                    id=job_id,
                    academy_id=academy.id,
                    mode="partial",
                    status="queued",
                    content=text,
                    errors=[],
                    created_by="bench",
                )
            )
        started = time.perf_counter()
        await import_jobs.run(db, job_id, chunk_rows=chunk_rows)
        elapsed = time.perf_counter() - started
        async with db.session() as s:
            job = await s.get(ImportJob, job_id)
            assert job is not None and job.status == "succeeded", job and job.message
            return (job.total_rows or 0) / elapsed
    finally:
        await db.dispose()


async def job_alone_against_bare(args: argparse.Namespace) -> None:
    """`--job-alone`: the job by itself next to the bare import, same file, same kind."""
    created: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            if args.database_url:
                url, name = await fresh_database(args.database_url)
                bare_url, bare_name = await fresh_database(args.database_url)
                created += [name, bare_name]
            else:
                url = f"sqlite+aiosqlite:///{Path(tmp) / 'job.db'}"
                bare_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bare.db'}"
            kind = "postgresql" if url.startswith("postgresql") else "sqlite"
            chunk = EnrolmentSettings().import_chunk_rows
            text = hr_csv(args.rows)
            job_rps = await job_alone(url, text, chunk)
            print(f"import job alone: {job_rps:,.0f} rows/s ({args.rows:,} rows, {kind})")
            bare_rps = await bare_import(bare_url, text, chunk)
            print(f"bare batched import: {bare_rps:,.0f} rows/s ({chunk:,} rows a chunk)")
            # Not the goal's figure (that is `ratio csv-import`, the service around the job).
            print(f"job-alone csv-import {kind}: {job_rps / bare_rps:.2f}")
        finally:
            if created:
                await drop_databases(args.database_url, created)


class BareIn(BaseModel):
    trainee_id: str


def bare_app(url: str) -> FastAPI:
    db = Database(url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with db.engine.begin() as connection:
            await connection.run_sync(_Base.metadata.drop_all)
            await connection.run_sync(_Base.metadata.create_all)
        yield
        await db.dispose()

    async def session() -> AsyncIterator[AsyncSession]:
        async with db.session() as s:
            yield s

    app = FastAPI(lifespan=lifespan)

    @app.post("/cohorts/{cohort_id}/rows", status_code=201)
    async def insert_row(
        cohort_id: str, body: BareIn, s: AsyncSession = Depends(session)
    ) -> dict[str, str]:
        row = BareRow(cohort_id=cohort_id, trainee_id=body.trainee_id)
        s.add(row)
        await s.flush()
        return {"id": row.id}

    return app


# --- plumbing --------------------------------------------------------------------------------

_in_request: contextvars.ContextVar[bool] = contextvars.ContextVar("in_request", default=False)
statements = {"count": 0}


@event.listens_for(Engine, "before_cursor_execute")
def _count(*_: Any) -> None:
    # Only what requests run: the relay and consumers of the same process are left out.
    if _in_request.get():
        statements["count"] += 1


class CountStatements:
    """ASGI wrapper: marks a request's context so its SQL statements are counted."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        token = _in_request.set(scope["type"] == "http")
        try:
            await self.app(scope, receive, send)
        finally:
            _in_request.reset(token)


@asynccontextmanager
async def serve(app: FastAPI, *, ready_path: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(CountStatements(app), log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=120, limits=limits
        ) as client:
            deadline = time.monotonic() + 60  # the streams exist once the service says ready
            while ready_path and (await client.get(ready_path)).status_code != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError("the service did not become ready")
                await asyncio.sleep(0.05)
            yield client
    finally:
        server.should_exit = True
        await task


async def hammer(
    client: httpx.AsyncClient, requests: list[tuple[str, dict[str, Any]]], concurrency: int
) -> tuple[float, float]:
    """POST every request with `concurrency` in flight: requests per second, and the SQL
    statements each ran."""
    queue = list(reversed(requests))
    before = statements["count"]

    async def worker() -> None:
        while queue:
            path, body = queue.pop()
            response = await client.post(path, json=body, headers=ADMIN)
            assert response.status_code == 201, response.text

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return len(requests) / elapsed, (statements["count"] - before) / len(requests)


def hr_csv(rows: int) -> str:
    lines = ["employee_number,family_name,given_name,gender,rank,unit,start_date"]
    genders = ("F", "M", "", "other")
    for i in range(rows):
        lines.append(
            f"B-{i:06d},Family{i},Given{i},{genders[i % 4]},Rank{i % 7},Unit{i % 40},2024-01-01"
        )
    return "\n".join(lines) + "\n"


async def outbox_drained(url: str) -> None:
    db = Database(url)
    table = outbox.table
    try:
        while True:
            async with db.reading() as s:
                unsent = await s.scalar(
                    select(func.count()).select_from(table).where(table.c.sent_at.is_(None))
                )
            if not unsent:
                return
            await asyncio.sleep(0.5)
    finally:
        await db.dispose()


async def fresh_database(server_url: str) -> tuple[str, str]:
    """A throwaway database on the server `server_url` names: its URL and its name."""
    name = f"wps_bench_enrol_{new_id().replace('-', '')[:10]}"
    admin = await asyncpg.connect(server_url.replace("+asyncpg", ""))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return server_url.rsplit("/", 1)[0] + f"/{name}", name


async def drop_databases(server_url: str, names: list[str]) -> None:
    admin = await asyncpg.connect(server_url.replace("+asyncpg", ""))
    try:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        created: list[str] = []
        if args.database_url:
            url, name = await fresh_database(args.database_url)
            created.append(name)
            bare_url, name = await fresh_database(args.database_url)
            created.append(name)
        else:
            url = f"sqlite+aiosqlite:///{base / 'enrolment.db'}"
            bare_url = f"sqlite+aiosqlite:///{base / 'bare.db'}"
        kind = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        server = NatsServer(base / "nats").start()
        try:
            bus = bus_settings(server.url)
            settings = EnrolmentSettings(database_url=url, **bus)
            print(f"machine: {os.cpu_count()} CPU(s); {kind}; nats-server {server.url}")
            async with serve(create_app(settings), ready_path="/readyz") as client:
                await publish_event(
                    bus, TrackPublished(track=TRACK, published_at=datetime.now(UTC))
                )
                db = Database(url)
                try:
                    while True:
                        async with db.session() as s:
                            if await s.scalar(select(CurriculumTrack.id)):
                                break
                        await asyncio.sleep(0.05)
                finally:
                    await db.dispose()
                academy = (
                    await client.post(
                        "/v1/academies",
                        json={"code": "BENCH", "name": "Bench academy", "country": "GE"},
                        headers=ADMIN,
                    )
                ).json()

                # 1. bulk import
                text = hr_csv(args.rows)
                started = time.perf_counter()
                response = await client.post(
                    f"/v1/academies/{academy['id']}/imports",
                    content=text.encode(),
                    headers={**ADMIN, "Content-Type": "text/csv"},
                )
                assert response.status_code == 202, response.text
                job_id = response.json()["id"]
                while True:
                    job = (await client.get(f"/v1/imports/{job_id}", headers=ADMIN)).json()
                    if job["status"] in ("succeeded", "failed"):
                        break
                    await asyncio.sleep(0.05)
                elapsed = time.perf_counter() - started
                assert job["status"] == "succeeded", job
                import_rps = args.rows / elapsed
                print(
                    f"bulk import: {args.rows:,} rows in {elapsed:.2f}s = "
                    f"{import_rps:,.0f} rows/s (created {job['created_count']:,})"
                )

                # 2. enrolment requests, once the relay has sent the import's events: its
                # backlog would otherwise compete with the requests for the CPU and the database.
                await outbox_drained(url)
                trainees = (
                    await client.get(
                        f"/v1/trainees?academy_id={academy['id']}&limit=500&sort=employee_number",
                        headers=ADMIN,
                    )
                ).json()["items"]
                ids: list[str] = [t["id"] for t in trainees]
                offset = len(ids)
                while len(ids) < args.enrolments:
                    page = await client.get(
                        f"/v1/trainees?academy_id={academy['id']}&limit=500&offset={offset}"
                        "&sort=employee_number",
                        headers=ADMIN,
                    )
                    ids += [t["id"] for t in page.json()["items"]]
                    offset += 500
                ids = ids[: args.enrolments]
                cohorts = []
                for n in range(max(1, args.enrolments // 500)):
                    cohort = await client.post(
                        "/v1/cohorts",
                        json={
                            "academy_id": academy["id"],
                            "track_code": "BENCH-1",
                            "title": f"Bench {n}",
                            "starts_on": "2027-01-01",
                            "ends_on": "2027-01-05",
                            "capacity": 10_000,
                        },
                        headers=ADMIN,
                    )
                    cohorts.append(cohort.json()["id"])
                # Spread over a few cohorts, as an academy's day is: one cohort's lock
                # serialises its own enrolments by design.
                requests = [
                    (f"/v1/cohorts/{cohorts[i % len(cohorts)]}/enrolments", {"trainee_id": t})
                    for i, t in enumerate(ids)
                ]
                platform_rps, platform_sql = await hammer(client, requests, args.concurrency)
            bare_import_rps = await bare_import(bare_url, text, settings.import_chunk_rows)
            print(
                f"bare batched import: {bare_import_rps:,.0f} rows/s "
                f"({settings.import_chunk_rows:,} rows a chunk; same run, same file)"
            )
            async with serve(bare_app(bare_url)) as bare:
                bare_requests = [
                    (f"/cohorts/{cohorts[i % len(cohorts)]}/rows", {"trainee_id": t})
                    for i, t in enumerate(ids)
                ]
                bare_rps, bare_sql = await hammer(bare, bare_requests, args.concurrency)
            print(
                f"enrol requests: {platform_rps:,.0f} req/s through the service, "
                f"{platform_sql:.1f} statements a request "
                f"({len(ids):,} requests, {args.concurrency} in flight, {len(cohorts)} cohorts)"
            )
            print(
                f"bare FastAPI + SQLAlchemy insert: {bare_rps:,.0f} req/s, "
                f"{bare_sql:.1f} statements a request (same run, same client)"
            )
            db_name = kind.lower()
            print(
                f"ratio csv-import {db_name}: {import_rps / bare_import_rps:.2f} (goal ≥ 0.50)"
                + ("" if args.rows == 100_000 else f" [{args.rows:,} rows; the goal is at 100,000]")
            )
            print(f"ratio rest-enrol {db_name}: {platform_rps / bare_rps:.2f} (goal ≥ 0.70)")
        finally:
            server.stop()
            if created:
                await drop_databases(args.database_url, created)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the imported file")
    parser.add_argument("--enrolments", type=int, default=2_000)
    parser.add_argument("-c", "--concurrency", type=int, default=20)
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL server (throwaway databases are created there and dropped)",
    )
    parser.add_argument(
        "--job-alone",
        action="store_true",
        help="time the import job by itself (no HTTP, relay or NATS) next to the bare import",
    )
    parsed = parser.parse_args()
    asyncio.run(job_alone_against_bare(parsed) if parsed.job_alone else main(parsed))
