"""Certification throughput, measured on a real nats-server, SQLite and a real uvicorn.

1. track.completed → certificate.issued: N completions (default 10,000) published at once to
   JetStream as enrolment's relay would; the service's consumer issues the certificates and its
   relay publishes certificate.issued. Prints throughput and latency percentiles (publish of
   the completion → certificate.issued seen by a plain NATS subscriber, as HR would see it).
   `--rate R` paces the completions instead, for latency without a queue.
2. PDFs: certificates rendered per second through the service (HTTP on loopback to uvicorn,
   the PDF cache disabled so that every request renders) next to raw xhtml2pdf renders per
   second of the same template and data in this process; the ratio is the figure.

    .venv/bin/python bench/certification_throughput.py [--n 10000] [--pdf-requests 200]
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
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import httpx
import nats
import uvicorn
from sqlalchemy import func, select

from wps_certification import documents
from wps_certification.main import create_app
from wps_certification.models import Certificate, Holder
from wps_certification.pdf import render_certificate
from wps_certification.settings import CertificationSettings
from wps_common.auth import mint_token
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
from wps_common.testing import wait_until

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


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="wps-cert-bench-") as tmp:
        work = Path(tmp)
        server = NatsServer(work / "nats").start()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        settings = CertificationSettings(
            database_url=f"sqlite+aiosqlite:///{work / 'certification.db'}",
            nats_url=server.url,
            var_dir=work / "var",
            render_workers=args.workers,
            pdf_cache_entries=0,  # every request renders
            relay_poll_seconds=0.05,
            public_base_url=f"http://127.0.0.1:{port}",
        )
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
            print(f"machine: {os.cpu_count()} CPU(s); SQLite; nats-server {server.url}")
            flow = await completions(app, settings, args.n, args.trainees, args.rate)
            print(
                f"track.completed → certificate.issued: {flow['n']:,} completions in "
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

            async with app.state.runtime.db.session() as session:
                sample = list(
                    (await session.scalars(select(Certificate).limit(args.distinct))).all()
                )
            ids = [c.id for c in sample]
            today = datetime.now(UTC).date()
            docs = [
                documents.document(
                    c, language=c.language, base_url=settings.public_base_url, today=today
                )
                for c in sample
            ]
            through_service = await pdfs_through_service(
                settings.public_base_url, ids, args.pdf_requests, args.concurrency
            )
        finally:
            uv.should_exit = True
            await serving
            server.stop()
        serial, pooled = await asyncio.to_thread(raw_renders, docs, args.pdf_requests, args.workers)
        print(
            f"PDF: {through_service:.1f} certificates/s through the service (HTTP, "
            f"{args.workers} render processes, {args.concurrency} concurrent clients, no cache)"
        )
        print(
            f"     {serial:.1f} raw xhtml2pdf renders/s (one process, same template and data); "
            f"{pooled:.1f}/s in a bare pool of {args.workers}"
        )
        print(
            f"     ratio service / raw: {through_service / serial:.2f} "
            f"(service / bare pool: {through_service / pooled:.2f})"
        )


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
    asyncio.run(main(parser.parse_args()))
