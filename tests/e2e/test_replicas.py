"""Several replicas as separate OS processes on PostgreSQL and one nats-server: every
certificate is issued once and every event published once — also when a replica is killed,
nats-server restarts, or NATS is away for a minute."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from wps_common.db import Database
from wps_common.events.contracts import ModuleFacts, TrackFacts, TrackPublished
from wps_common.natsserver import NatsServer
from wps_common.testing import EventTap, auth, bus_settings, publish_event, wait_until

from .cluster import Cluster

pytestmark = pytest.mark.postgres

TRACK = TrackFacts(
    code="GHR-FOUND",
    version=1,
    content_hash="c" * 64,
    title={"en": "Foundation"},
    certificate_title={"en": "Gender and Human Rights Foundation"},
    validity_months=24,
    modules=[
        ModuleFacts(
            code="WPS-101",
            version=1,
            content_hash="a" * 64,
            title={"en": "WPS"},
            duration_hours=6,
            assessment="quiz",
            pass_mark=70,
            min_attendance_pct=80,
        )
    ],
)
ADMIN = auth("admin")
SERVICES = ("enrolment", "certification")
SCAN_SECONDS = 3.0  # the expiry scanner's period in these tests, so it runs many times


@pytest.fixture
def db_backend() -> str:
    """Replicas need PostgreSQL (SQLite is one process per service): no SQLite variant here."""
    return "postgresql"


@pytest.fixture
def cluster(tmp_path: Path, postgres_admin_url: str, database_factory: Any) -> Iterator[Cluster]:
    nats_server = NatsServer(tmp_path / "nats").start()
    bus = bus_settings(nats_server.url)
    env = {
        "NATS_URL": nats_server.url,
        "WPS_STREAM_NAME": bus["stream_name"],
        "WPS_SUBJECT_ROOT": bus["subject_root"],
        "WPS_RESTRICTED_STREAM_NAME": bus["restricted_stream_name"],
        "WPS_RESTRICTED_SUBJECT_ROOT": bus["restricted_subject_root"],
    }
    for service in SERVICES:
        prefix = service.upper()
        env[f"{prefix}_DATABASE_URL"] = database_factory(service)
        env[f"{prefix}_RELAY_POLL_SECONDS"] = "0.1"
        env[f"{prefix}_RELAY_MAX_BACKOFF_SECONDS"] = "2"
        env[f"{prefix}_PUBLISH_TIMEOUT_SECONDS"] = "2"
        env[f"{prefix}_CONSUMER_ACK_WAIT_SECONDS"] = "5"
        env[f"{prefix}_CONSUMER_NAK_DELAYS"] = "[0.2, 0.5, 1, 2, 3]"
        env[f"{prefix}_CONSUMER_MAX_DELIVER"] = "20"
    env["CERTIFICATION_RENDER_WORKERS"] = "0"
    env["CERTIFICATION_EXPIRY_SCAN_MINUTES"] = str(SCAN_SECONDS / 60)
    cluster = Cluster(tmp_path, nats_server, env)
    try:
        cluster.start("enrolment", 2)
        cluster.start("certification", 2)
        cluster.wait_ready()
        yield cluster
    finally:
        cluster.stop()


def bus_of(cluster: Cluster) -> dict[str, Any]:
    return {
        "nats_url": cluster.nats.url,
        "stream_name": cluster.env["WPS_STREAM_NAME"],
        "subject_root": cluster.env["WPS_SUBJECT_ROOT"],
        "restricted_subject_root": cluster.env["WPS_RESTRICTED_SUBJECT_ROOT"],
    }


class Academy:
    """Drives the REST flow round-robin over the enrolment replicas."""

    def __init__(self, cluster: Cluster, client: httpx.AsyncClient) -> None:
        self.cluster, self.client = cluster, client
        self.gate = asyncio.Semaphore(12)
        self.turn = 0

    def url(self) -> str:
        """Round-robin over the live enrolment replicas."""
        live = self.cluster.live("enrolment")
        self.turn += 1
        return live[self.turn % len(live)]

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self.gate:
            for attempt in range(20):  # a replica may be down: try the next one
                url = self.url()
                try:
                    response = await self.client.request(method, url + path, **kwargs)
                except httpx.TransportError:
                    await asyncio.sleep(0.2 * (attempt + 1))
                    continue
                assert response.status_code < 300, response.text
                return response.json()
            raise AssertionError(f"{method} {path} failed on every replica")

    async def open(self) -> tuple[str, str, dict[str, str]]:
        academy = await self.call(
            "POST",
            "/v1/academies",
            headers=ADMIN,
            json={"code": "MD-CHI", "name": "Chisinau Police Academy", "country": "MD"},
        )
        staff = auth("academy_admin", academy_id=academy["id"])

        async def cohort() -> Any:
            url = self.url()
            response = await self.client.post(
                url + "/v1/cohorts",
                headers=staff,
                json={
                    "academy_id": academy["id"],
                    "track_code": "GHR-FOUND",
                    "title": "Spring",
                    "starts_on": "2026-11-02",
                    "ends_on": "2026-11-06",
                    "capacity": 5000,
                },
            )
            return response.json() if response.status_code == 201 else None

        opened = await wait_until(cohort, what="track.published to reach both replicas' database")
        return academy["id"], opened["id"], staff

    async def complete(self, academy_id: str, cohort_id: str, staff: dict[str, str], n: int) -> str:
        trainee = await self.call(
            "POST",
            "/v1/trainees",
            headers=staff,
            json={
                "academy_id": academy_id,
                "employee_number": f"MD-{n:05d}",
                "given_name": "Ion",
                "family_name": f"Rusu-{n}",
                "preferred_language": "en",
            },
        )
        enrolment = await self.call(
            "POST",
            f"/v1/cohorts/{cohort_id}/enrolments",
            headers=staff,
            json={"trainee_id": trainee["id"]},
        )
        await self.call(
            "POST",
            f"/v1/enrolments/{enrolment['id']}/results",
            headers=staff,
            json={"module_code": "WPS-101", "attendance_pct": 100, "score": 90},
        )
        return str(enrolment["id"])


async def scalar(url: str, sql: str) -> Any:
    db = Database(url)
    try:
        async with db.session() as session:
            return (await session.execute(text(sql))).scalar()
    finally:
        await db.dispose()


async def check_exactly_once(cluster: Cluster, tap: EventTap, enrolments: list[str]) -> None:
    certification_db = cluster.env["CERTIFICATION_DATABASE_URL"]

    async def all_issued() -> bool:
        count = await scalar(certification_db, "SELECT count(*) FROM certificates")
        return bool(count >= len(enrolments))

    await wait_until(all_issued, timeout=180, what=f"{len(enrolments)} certificates")
    for service in SERVICES:
        url = cluster.env[f"{service.upper()}_DATABASE_URL"]

        async def drained(url: str = url) -> bool:
            return await scalar(url, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0

        try:
            await wait_until(drained, timeout=120, what=f"{service} outbox drained")
        except AssertionError as exc:
            error = await scalar(url, "SELECT max(last_error) FROM outbox WHERE sent_at IS NULL")
            raise AssertionError(f"{exc}; last relay error: {error}") from None
    assert await scalar(certification_db, "SELECT count(*) FROM certificates") == len(enrolments)
    issued = await tap.wait_for("certificate.issued", count=len(enrolments), timeout=60)
    assert sorted(e.data["enrolment_id"] for e in issued) == sorted(enrolments)
    completed = await tap.wait_for("track.completed", count=len(enrolments), timeout=60)
    assert len({e.id for e in completed}) == len(completed) == len(enrolments)
    # Nothing published twice: the stream holds exactly the distinct events of the outboxes.
    stream_ids = [e.id for e in tap.events]
    assert len(stream_ids) == len(set(stream_ids))


async def run_completions(
    cluster: Cluster, count: int, during: Any = None
) -> tuple[list[str], EventTap]:
    bus = bus_of(cluster)
    await publish_event(bus, TrackPublished(track=TRACK, published_at=datetime.now(UTC)))
    tap = EventTap(bus["nats_url"], bus["stream_name"], [f"{bus['subject_root']}.>"])
    async with httpx.AsyncClient(timeout=30) as client:
        academy = Academy(cluster, client)
        academy_id, cohort_id, staff = await academy.open()
        tasks = [
            asyncio.create_task(academy.complete(academy_id, cohort_id, staff, n))
            for n in range(count)
        ]
        if during is not None:
            await during(tasks)
        enrolments = list(await asyncio.gather(*tasks))
    return enrolments, tap


async def test_two_replicas_each_issue_every_certificate_exactly_once(cluster: Cluster) -> None:
    enrolments, tap = await run_completions(cluster, 200)
    async with tap:
        await check_exactly_once(cluster, tap, enrolments)
    for service in SERVICES:
        url = cluster.env[f"{service.upper()}_DATABASE_URL"]
        # One publish attempt per row: replicas never claimed the same outbox row twice.
        assert await scalar(url, "SELECT count(*) FROM outbox WHERE attempts <> 1") == 0
    # The expiry scan ran in many short periods, never twice in one, across both replicas.
    certification_db = cluster.env["CERTIFICATION_DATABASE_URL"]
    scan = "SELECT runs FROM job_runs WHERE name = 'certificate-expiry-scan'"
    runs = await scalar(certification_db, scan)
    periods = int(time.time() // SCAN_SECONDS) - int(cluster.started_at // SCAN_SECONDS) + 1
    assert 2 <= runs <= periods, (runs, periods)
    failed = "SELECT count(*) FROM job_runs WHERE last_error IS NOT NULL"
    assert await scalar(certification_db, failed) == 0
    enrolment_db = cluster.env["ENROLMENT_DATABASE_URL"]
    daily = await scalar(enrolment_db, "SELECT coalesce(max(runs), 0) FROM job_runs")
    assert daily <= 2  # a daily sweep: at most the day it started and, at midnight, the next


async def test_kill_restart_and_outage_lose_nothing_and_double_nothing(cluster: Cluster) -> None:
    certification_db = cluster.env["CERTIFICATION_DATABASE_URL"]

    async def faults(tasks: list[asyncio.Task[str]]) -> None:
        async def issued_at_least(n: int) -> bool:
            return bool(await scalar(certification_db, "SELECT count(*) FROM certificates") >= n)

        await wait_until(lambda: issued_at_least(40), timeout=120, what="40 certificates")
        cluster.replicas["certification"][0].kill()  # kill -9 mid-stream
        await wait_until(lambda: issued_at_least(100), timeout=120, what="100 certificates")
        await asyncio.to_thread(cluster.nats.restart)  # nats-server restarts mid-stream
        await wait_until(lambda: issued_at_least(160), timeout=120, what="160 certificates")
        await asyncio.to_thread(cluster.nats.stop)
        # The fault itself lasts a minute (not a wait for a condition): REST writes go on and
        # their events wait in the outboxes.
        await asyncio.sleep(60)
        await asyncio.to_thread(cluster.nats.start)

    enrolments, tap = await run_completions(cluster, 300, during=faults)
    async with tap:
        await check_exactly_once(cluster, tap, enrolments)
    distinct = "SELECT count(DISTINCT enrolment_id) FROM certificates"
    assert await scalar(certification_db, distinct) == 300
