"""Enrolment throughput, measured on a real nats-server and a real uvicorn (HTTP on loopback).

1. Bulk import: a 10,000-row HR CSV posted to /v1/academies/{id}/imports, timed until the job
   reports `succeeded` (parsing, upserts, audit rows, profile events, compliance) → rows/s.
2. Enrolment requests: N POST /v1/cohorts/{id}/enrolments with C in flight (seat check under
   the cohort lock, outbox event, audit row) next to a bare FastAPI + SQLAlchemy endpoint that
   inserts one row per request on the same database kind, same client, same concurrency. The
   ratio is the figure: what the platform's work per request costs over a plain insert.

SQLite by default; `--database-url postgresql+asyncpg://…/<empty database>` for PostgreSQL.

    .venv/bin/python bench/enrolment_throughput.py [--rows 10000] [--enrolments 2000] [-c 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import Depends, FastAPI
from pydantic import BaseModel
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from wps_common.db import Database, new_id
from wps_common.events.contracts import ModuleFacts, TrackFacts, TrackPublished
from wps_common.natsserver import NatsServer
from wps_common.testing import auth, bus_settings, publish_event
from wps_enrolment.main import create_app
from wps_enrolment.models import CurriculumTrack
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


@asynccontextmanager
async def serve(app: FastAPI, *, ready_path: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
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
) -> float:
    """POST every request with `concurrency` in flight; returns requests per second."""
    queue = list(reversed(requests))

    async def worker() -> None:
        while queue:
            path, body = queue.pop()
            response = await client.post(path, json=body, headers=ADMIN)
            assert response.status_code == 201, response.text

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(requests) / (time.perf_counter() - started)


def hr_csv(rows: int) -> str:
    lines = ["employee_number,family_name,given_name,gender,rank,unit,start_date"]
    genders = ("F", "M", "", "other")
    for i in range(rows):
        lines.append(
            f"B-{i:06d},Family{i},Given{i},{genders[i % 4]},Rank{i % 7},Unit{i % 40},2024-01-01"
        )
    return "\n".join(lines) + "\n"


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        url = args.database_url or f"sqlite+aiosqlite:///{base / 'enrolment.db'}"
        bare_url = args.database_url or f"sqlite+aiosqlite:///{base / 'bare.db'}"
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
                print(
                    f"bulk import: {args.rows:,} rows in {elapsed:.2f}s = "
                    f"{args.rows / elapsed:,.0f} rows/s (created {job['created_count']:,})"
                )

                # 2. enrolment requests
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
                platform_rps = await hammer(client, requests, args.concurrency)
            async with serve(bare_app(bare_url)) as bare:
                bare_requests = [
                    (f"/cohorts/{cohorts[i % len(cohorts)]}/rows", {"trainee_id": t})
                    for i, t in enumerate(ids)
                ]
                bare_rps = await hammer(bare, bare_requests, args.concurrency)
            print(
                f"enrol requests: {platform_rps:,.0f} req/s through the service "
                f"({len(ids):,} requests, {args.concurrency} in flight, {len(cohorts)} cohorts)"
            )
            print(
                f"bare FastAPI + SQLAlchemy insert: {bare_rps:,.0f} req/s (same run, same client)"
            )
            print(f"ratio service / bare: {platform_rps / bare_rps:.2f}")
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--enrolments", type=int, default=2_000)
    parser.add_argument("-c", "--concurrency", type=int, default=20)
    parser.add_argument("--database-url", default=None, help="PostgreSQL: an empty database")
    asyncio.run(main(parser.parse_args()))
