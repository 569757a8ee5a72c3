"""Certification throughput, measured on a real nats-server, a real uvicorn, and SQLite and
PostgreSQL (a throwaway database on 127.0.0.1:5432, dropped afterwards).

1. track.completed → certificate.issued: N completions (default 10,000) published at once to
   JetStream as enrolment's relay would; the service's consumer issues the certificates and its
   relay publishes certificate.issued. Prints throughput and latency percentiles (publish of
   the completion → certificate.issued seen by a plain NATS subscriber, as HR would see it).
   `--rate R` paces the completions instead, for latency without a queue.
   The bare pipeline, measured in the same run on the same kind of database: the same
   completions fetched 500 at a time from a durable pull consumer, certificate and outbox rows
   inserted in batches, one commit per batch, then the acks (no holders, no inbox, no relay).
   `ratio completion-to-certificate <database>` is the service's rate over the bare one.
2. PDFs (SQLite run): certificates rendered per second through the service (HTTP on loopback to
   uvicorn, the PDF cache disabled so that every request renders) next to a bare process pool
   of the same size rendering the same template and data; the ratio is the figure.

    .venv/bin/python bench/certification_throughput.py [--n 10000] [--pdf-requests 200]
        [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import nats.errors
import uvicorn
from sqlalchemy import func, insert, select

from wps_certification import documents
from wps_certification.main import create_app
from wps_certification.models import Base, Certificate, Holder, outbox
from wps_certification.pdf import render_certificate
from wps_certification.settings import CertificationSettings
from wps_common.auth import mint_token
from wps_common.db import Database
from wps_common.events.contracts import (
    CertificateIssued,
    ModuleFacts,
    TrackCompleted,
    TrackFacts,
    TraineeProfileChanged,
)
from wps_common.events.envelope import CloudEvent, EventPayload
from wps_common.events.outbox import EventRouting
from wps_common.natsserver import NatsServer
from wps_common.settings import DEV_JWT_SECRET
from wps_common.testing import bus_settings, wait_until
from wps_common.testing.support import create_tables

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"

TRACK = TrackFacts(
    code="GHR-FOUND",
    version=1,
    content_hash="c" * 64,
    title={"en": "Gender and human rights foundation", "ru": "Основы: гендер и права человека"},
    certificate_title={"en": "Gender and Human Rights Foundation", "ru": "Гендер и права человека"},
    validity_months=24,
    modules=[
        ModuleFacts(
            code=f"WPS-10{i}",
            version=1,
            content_hash=f"{i}" * 64,
            title={"en": f"Module {i}", "ru": f"Модуль {i}"},
            duration_hours=6,
            assessment="quiz",
            pass_mark=70,
            min_attendance_pct=80,
        )
        for i in range(1, 5)
    ],
)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def publish_all(js: Any, routing: EventRouting, payloads: list[EventPayload]) -> None:
    for start in range(0, len(payloads), 500):
        chunk = [CloudEvent.of(p) for p in payloads[start : start + 500]]
        await asyncio.gather(
            *(
                js.publish(routing.subject(type(p)), e.to_json(), headers={"Nats-Msg-Id": e.id})
                for p, e in zip(payloads[start : start + 500], chunk, strict=True)
            )
        )


async def completions(
    app: Any, settings: CertificationSettings, n: int, trainees: int, rate: float
) -> dict[str, float]:
    runtime = app.state.runtime
    routing = EventRouting(settings.subject_root, settings.restricted_subject_root)
    nc = await nats.connect(settings.nats_url)
    js = nc.jetstream()
    academy = str(uuid.uuid4())
    trainee_ids = [str(uuid.uuid4()) for _ in range(trainees)]
    profiles: list[EventPayload] = [
        TraineeProfileChanged(
            trainee_id=t,
            academy_id=academy,
            academy_code="KZ-AST",
            academy_name="Astana Police Academy",
            employee_number=f"KZ-{i:06d}",
            given_name="Айгерим",
            family_name=f"Сулейменова-{i}",
            preferred_language="ru" if i % 2 else "en",
            active=True,
            changed_at=datetime.now(UTC),
        )
        for i, t in enumerate(trainee_ids)
    ]
    await publish_all(js, routing, profiles)

    async def holders_known() -> bool:
        async with runtime.db.session() as session:
            known = await session.scalar(select(func.count()).select_from(Holder))
        return known == trainees

    # The holders first, so no completion waits on a retry of a missing profile.
    await wait_until(holders_known, timeout=120, what="the profiles to be consumed")

    facts = [
        TrackCompleted(
            enrolment_id=str(uuid.uuid4()),
            cohort_id="cohort-bench",
            trainee_id=trainee_ids[i % trainees],
            employee_number=f"KZ-{i % trainees:06d}",
            academy_id=academy,
            track=TRACK,
            completed_on=date(2026, 11, 20),
        )
        for i in range(n)
    ]
    published: dict[str, float] = {}
    issued: dict[str, float] = {}
    all_issued = asyncio.Event()

    async def on_issued(message: Any) -> None:
        data = json.loads(message.data)["data"]
        issued.setdefault(data["enrolment_id"], time.perf_counter())
        if len(issued) >= n:
            all_issued.set()

    subject = routing.subject(CertificateIssued)
    await nc.subscribe(subject, cb=on_issued)
    started = time.perf_counter()
    if rate > 0:  # paced: latency without a queue, as long as the rate is below capacity
        for i, fact in enumerate(facts):
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            published[fact.enrolment_id] = time.perf_counter()
            await publish_all(js, routing, [fact])
    else:  # a burst: everything at once
        for start in range(0, n, 500):
            chunk = facts[start : start + 500]
            now = time.perf_counter()
            for fact in chunk:
                published[fact.enrolment_id] = now
            await publish_all(js, routing, list(chunk))
    publish_seconds = time.perf_counter() - started
    await asyncio.wait_for(all_issued.wait(), timeout=max(120.0, n * 0.1))
    finished = max(issued.values())
    await nc.close()
    latencies = [issued[e] - published[e] for e in published]
    return {
        "n": n,
        "publish_seconds": publish_seconds,
        "seconds": finished - started,
        "per_second": n / (finished - started),
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "max": max(latencies),
    }


async def pdfs_through_service(
    base_url: str, ids: list[str], requests: int, concurrency: int
) -> float:
    token = mint_token(DEV_JWT_SECRET, subject="bench", roles=["admin"])
    headers = {"Authorization": f"Bearer {token}"}
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(ids[i % len(ids)])
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=120) as client:
        # Warm-up: the render processes start (spawn) and load fonts on first use.
        await asyncio.gather(*(client.get(f"/v1/certificates/{i}.pdf") for i in ids[:concurrency]))

        async def worker() -> None:
            while not queue.empty():
                certificate_id = queue.get_nowait()
                response = await client.get(f"/v1/certificates/{certificate_id}.pdf")
                response.raise_for_status()
                assert response.content.startswith(b"%PDF")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return requests / (time.perf_counter() - started)


def raw_renders(docs: list[Any], requests: int, workers: int) -> tuple[float, float]:
    """Serial renders in this process, and the same number through a plain process pool."""
    render_certificate(docs[0])  # warm: fonts and template loaded
    started = time.perf_counter()
    for i in range(requests):
        render_certificate(docs[i % len(docs)])
    serial = requests / (time.perf_counter() - started)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(render_certificate, docs[:workers]))
        started = time.perf_counter()
        list(pool.map(render_certificate, [docs[i % len(docs)] for i in range(requests)]))
        pooled = requests / (time.perf_counter() - started)
    return serial, pooled


async def bare_pipeline(url: str, nats_url: str, n: int, trainees: int) -> float:
    """Completions per second through the bare pipeline: fetch 500, insert the certificates and
    their outbox rows, commit, ack."""
    await create_tables(url, Base.metadata)
    db = Database(url)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    tag = uuid.uuid4().hex[:8]
    stream, subject = f"BARE_{tag}", f"bare{tag}.track.completed"
    await js.add_stream(name=stream, subjects=[subject])
    academy = str(uuid.uuid4())
    facts = [
        TrackCompleted(
            enrolment_id=str(uuid.uuid4()),
            cohort_id="cohort-bench",
            trainee_id=f"trainee-{i % trainees}",
            employee_number=f"KZ-{i % trainees:06d}",
            academy_id=academy,
            track=TRACK,
            completed_on=date(2026, 11, 20),
        )
        for i in range(n)
    ]
    subscription = await js.pull_subscribe(subject, durable=f"bare{tag}", stream=stream)
    numbers = iter(range(1, n + 1))
    done = 0
    try:
        started = time.perf_counter()

        async def publish() -> None:
            for begin in range(0, n, 500):
                events = [CloudEvent.of(fact) for fact in facts[begin : begin + 500]]
                await asyncio.gather(
                    *(
                        js.publish(subject, e.to_json(), headers={"Nats-Msg-Id": e.id})
                        for e in events
                    )
                )

        publishing = asyncio.create_task(publish())
        while done < n:
            try:
                messages = await subscription.fetch(500, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            certificates, events = [], []
            now = datetime.now(UTC)
            for message in messages:
                fact = TrackCompleted.model_validate(
                    CloudEvent.model_validate_json(message.data).data
                )
                row = {
                    "id": str(uuid.uuid4()),
                    "enrolment_id": fact.enrolment_id,
                    "awarded_for": "track",
                    "edition": 1,
                    "number": f"KZ-AST-2026-{next(numbers):06d}",
                    "verification_code": uuid.uuid4().hex[:19],
                    "trainee_id": fact.trainee_id,
                    "academy_id": fact.academy_id,
                    "holder_name": "Айгерим Сулейменова",
                    "employee_number": fact.employee_number,
                    "academy_name": "Astana Police Academy",
                    "track_code": fact.track.code,
                    "track_version": fact.track.version,
                    "track": fact.track.model_dump(mode="json"),
                    "language": "ru",
                    "template_version": "1",
                    "issued_on": fact.completed_on,
                    "expires_on": date(2028, 11, 20),
                    "status": "valid",
                    "created_at": now,
                }
                certificates.append(row)
                issued = CloudEvent.of(
                    CertificateIssued(
                        certificate_id=row["id"],
                        number=row["number"],
                        enrolment_id=fact.enrolment_id,
                        trainee_id=fact.trainee_id,
                        employee_number=fact.employee_number,
                        academy_id=fact.academy_id,
                        track_code=fact.track.code,
                        track_version=fact.track.version,
                        issued_on=fact.completed_on,
                        expires_on=row["expires_on"],
                        award="track",
                    )
                )
                events.append(
                    {
                        "event_id": issued.id,
                        "event_type": issued.type,
                        "subject": "certificate.issued",
                        "restricted": False,
                        "body": issued.to_json().decode(),
                        "created_at": now,
                        "attempts": 0,
                    }
                )
            async with db.session() as session:
                await session.execute(insert(Certificate), certificates)
                await session.execute(insert(outbox.table), events)
            for message in messages:
                await message.ack()
            done += len(messages)
        seconds = time.perf_counter() - started
        await publishing
    finally:
        await js.delete_stream(stream)
        await nc.close()
        await db.dispose()
    return n / seconds


@asynccontextmanager
async def database(kind: str, work: Path, name: str) -> AsyncIterator[str]:
    """A fresh database of `kind`; a PostgreSQL one is dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{work / f'{name}.db'}"
        return
    database = f"wps_bench_{name}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{database}"')
        try:
            yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def service(settings: CertificationSettings, listener: socket.socket) -> AsyncIterator[Any]:
    """The service under uvicorn on `listener`, ready."""
    app = create_app(settings)
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(uv.serve(sockets=[listener]))
    try:
        async with httpx.AsyncClient(base_url=settings.public_base_url) as client:

            async def ready() -> bool:
                if not uv.started:
                    return False
                return (await client.get("/readyz")).status_code == 200

            await wait_until(ready, timeout=60, what="the service to be ready")
        yield app
    finally:
        uv.should_exit = True
        await serving


def free_listener() -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    return listener


async def run_database(kind: str, args: argparse.Namespace, work: Path, server: NatsServer) -> None:
    listener = free_listener()
    port = listener.getsockname()[1]
    async with database(kind, work, "bare") as bare_url:
        bare = await bare_pipeline(bare_url, server.url, args.n, args.trainees)
    async with database(kind, work, "certification") as url:
        settings = CertificationSettings(
            database_url=url,
            **{**bus_settings(server.url), "relay_poll_seconds": 0.05},
            var_dir=work / "var",
            render_workers=args.workers,
            pdf_cache_entries=0,  # every request renders
            public_base_url=f"http://127.0.0.1:{port}",
        )
        async with service(settings, listener) as app:
            flow = await completions(app, settings, args.n, args.trainees, args.rate)
            print(
                f"{kind}: track.completed → certificate.issued: {flow['n']:,} completions in "
                f"{flow['seconds']:.1f} s = {flow['per_second']:,.0f} certificates/s "
                f"(published in {flow['publish_seconds']:.1f} s, "
                + (f"paced at {args.rate:g}/s)" if args.rate > 0 else "all at once)")
            )
            print(
                f"  latency completion → issued: p50 {flow['p50'] * 1000:,.0f} ms, "
                f"p95 {flow['p95'] * 1000:,.0f} ms, max {flow['max'] * 1000:,.0f} ms "
                + (
                    ""
                    if args.rate > 0
                    else "(a burst: latency is mostly queueing behind the earlier completions)"
                )
            )
            print(f"  bare pipeline (fetch 500, insert, commit, ack): {bare:,.0f} certificates/s")
            if args.rate <= 0:
                print(
                    f"ratio completion-to-certificate {kind}: {flow['per_second'] / bare:.2f} "
                    "(goal ≥ 0.30)"
                )
            if kind == "sqlite" and args.pdf_requests > 0:
                await pdf_figures(app, settings, args)


async def pdf_figures(app: Any, settings: CertificationSettings, args: argparse.Namespace) -> None:
    async with app.state.runtime.db.session() as session:
        sample = list((await session.scalars(select(Certificate).limit(args.distinct))).all())
    ids = [c.id for c in sample]
    today = datetime.now(UTC).date()
    docs = [
        documents.document(c, language=c.language, base_url=settings.public_base_url, today=today)
        for c in sample
    ]
    through_service = await pdfs_through_service(
        settings.public_base_url, ids, args.pdf_requests, args.concurrency
    )
    serial, pooled = await asyncio.to_thread(raw_renders, docs, args.pdf_requests, args.workers)
    print(
        f"PDF: {through_service:.1f} certificates/s through the service (HTTP, "
        f"{args.workers} render processes, {args.concurrency} concurrent clients, no cache)"
    )
    print(
        f"     {pooled:.1f} renders/s in a bare pool of {args.workers} processes (same template "
        f"and data); {serial:.1f}/s in one process"
    )
    # Against a pool of the same size: comparing with one process would credit the service
    # with the second core.
    print(f"ratio pdf sqlite: {through_service / pooled:.2f} (the limit is 1.0)")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="wps-cert-bench-") as tmp:
        work = Path(tmp)
        server = NatsServer(work / "nats").start()
        try:
            print(f"machine: {os.cpu_count()} CPU(s); nats-server {server.url}")
            for kind in args.databases.split(","):
                await run_database(kind, args, work, server)
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="completions to publish")
    parser.add_argument(
        "--rate", type=float, default=0, help="completions per second (0: all at once)"
    )
    parser.add_argument("--trainees", type=int, default=200, help="distinct holders")
    parser.add_argument("--pdf-requests", type=int, default=200)
    parser.add_argument("--distinct", type=int, default=50, help="distinct certificates")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="render processes")
    parser.add_argument("--databases", default="sqlite,postgresql")
    asyncio.run(main(parser.parse_args()))
