"""A rolling restart as Kubernetes does it — a new replica ready, then an old one SIGTERMed —
while events keep coming: every event is handled once, every stopped process exits 0 within
the grace period, and no fetched batch is abandoned to come back after ack_wait."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from sqlalchemy import text

from wps_certification.main import create_app
from wps_certification.settings import CertificationSettings
from wps_common.db import Database
from wps_common.events.contracts import ModuleFacts, TrackCompleted, TrackFacts
from wps_common.events.contracts import TraineeProfileChanged as Profile
from wps_common.events.envelope import CloudEvent, EventPayload
from wps_common.events.outbox import EventRouting
from wps_common.natsserver import NatsServer
from wps_common.testing import bus_settings, running_app, wait_until

from .cluster import Cluster

GRACE_SECONDS = 10.0
# The default: a batch may wait its turn for the academy's certificate counter behind the other
# replicas' batches, and must not be sent again meanwhile.
ACK_WAIT_SECONDS = 30.0
TRAINEES = 2500  # more than the events below, so that every certificate is a first one
PER_SECOND = 40  # the steady stream
BURST = 300  # on top, just before a SIGTERM: the replica is then in the middle of a batch
ACADEMY = str(uuid.uuid4())
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


@pytest.fixture
def db_backend() -> str:
    """Replicas need PostgreSQL (SQLite is one process per service)."""
    return "postgresql"


@pytest.fixture
def cluster(tmp_path: Path, database_factory: Any) -> Iterator[Cluster]:
    nats_server = NatsServer(tmp_path / "nats").start()
    bus = bus_settings(nats_server.url)
    env = {
        "NATS_URL": nats_server.url,
        "WPS_STREAM_NAME": bus["stream_name"],
        "WPS_SUBJECT_ROOT": bus["subject_root"],
        "WPS_RESTRICTED_STREAM_NAME": bus["restricted_stream_name"],
        "WPS_RESTRICTED_SUBJECT_ROOT": bus["restricted_subject_root"],
        "WPS_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
        "CERTIFICATION_DATABASE_URL": database_factory("certification"),
        "CERTIFICATION_RELAY_POLL_SECONDS": "0.1",
        "CERTIFICATION_CONSUMER_ACK_WAIT_SECONDS": str(ACK_WAIT_SECONDS),
        "CERTIFICATION_CONSUMER_MAX_DELIVER": "20",
        "CERTIFICATION_RENDER_WORKERS": "0",
    }
    cluster = Cluster(tmp_path, nats_server, env)
    try:
        yield cluster
    finally:
        cluster.stop()


class Enrolment:
    """Publishes what enrolment's relay would: trainees' profiles, then completed tracks."""

    def __init__(self, js: JetStreamContext, cluster: Cluster) -> None:
        self.js = js
        self.routing = EventRouting(
            cluster.env["WPS_SUBJECT_ROOT"], cluster.env["WPS_RESTRICTED_SUBJECT_ROOT"]
        )
        self.completed: list[str] = []  # enrolment ids, one certificate each

    async def publish(self, payloads: list[EventPayload]) -> None:
        events = [CloudEvent.of(payload) for payload in payloads]
        await asyncio.gather(
            *(
                self._publish_once(self.routing.subject(type(payload)), event)
                for payload, event in zip(payloads, events, strict=True)
            )
        )

    async def _publish_once(self, subject: str, event: CloudEvent) -> None:
        """Store the event exactly once. On a busy machine an ack can take longer than the
        client waits: publishing again with the same Nats-Msg-Id is then safe, and only a retry
        may find the event already stored."""
        for attempt in range(5):
            try:
                ack = await self.js.publish(
                    subject, event.to_json(), headers={"Nats-Msg-Id": event.id}, timeout=20
                )
            except NatsTimeout:
                continue
            assert attempt > 0 or not ack.duplicate, event.id
            return
        raise AssertionError(f"JetStream did not acknowledge {event.id} in five attempts")

    async def profiles(self, count: int) -> None:
        for start in range(0, count, 500):
            await self.publish([profile(n) for n in range(start, min(count, start + 500))])

    async def complete(self, count: int) -> None:
        payloads = []
        for _ in range(count):
            n = len(self.completed)
            assert n < TRAINEES
            self.completed.append(str(uuid.uuid4()))
            payloads.append(
                TrackCompleted(
                    enrolment_id=self.completed[-1],
                    cohort_id="cohort-1",
                    trainee_id=f"trainee-{n}",
                    employee_number=f"MD-{n:05d}",
                    academy_id=ACADEMY,
                    track=TRACK,
                    completed_on=date(2026, 11, 6),
                )
            )
        await self.publish(payloads)

    async def steadily(self, stop: asyncio.Event) -> None:
        """PER_SECOND completions a second, in tenths, until `stop`."""
        while not stop.is_set():
            await self.complete(PER_SECOND // 10)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.1)


def profile(n: int) -> Profile:
    return Profile(
        trainee_id=f"trainee-{n}",
        academy_id=ACADEMY,
        academy_code="MD-CHI",
        academy_name="Chisinau Police Academy",
        employee_number=f"MD-{n:05d}",
        given_name="Ion",
        family_name=f"Rusu-{n}",
        preferred_language="en",
        active=True,
        changed_at=datetime(2026, 11, 1, tzinfo=UTC),
    )


@pytest.mark.postgres
async def test_rolling_restart_loses_nothing_doubles_nothing_and_redelivers_nothing(
    cluster: Cluster,
) -> None:
    old = cluster.start("certification", 2)
    await asyncio.to_thread(cluster.wait_ready)
    db = Database(cluster.env["CERTIFICATION_DATABASE_URL"])
    nc = await nats.connect(cluster.nats.url)
    stream = cluster.env["WPS_STREAM_NAME"]
    stopped: list[tuple[str, int, float, str]] = []
    stop = asyncio.Event()
    steady: asyncio.Task[None] | None = None

    async def count(sql: str) -> int:
        async with db.session() as session:
            return int((await session.execute(text(sql))).scalar_one())

    async def issued_at_least(n: int) -> bool:
        return await count("SELECT count(*) FROM certificates") >= n

    async def every_holder() -> bool:
        return await count("SELECT count(*) FROM holders") == TRAINEES

    async def outbox_sent() -> bool:
        return await count("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0

    try:
        js = nc.jetstream()
        enrolment = Enrolment(js, cluster)
        await enrolment.profiles(TRAINEES)
        await wait_until(every_holder, timeout=120, what="every trainee's profile")
        # One certificate before counting: the academy's number counter exists from here on.
        await enrolment.complete(1)
        await wait_until(lambda: issued_at_least(1), timeout=60, what="the first certificate")

        steady = asyncio.create_task(enrolment.steadily(stop))
        for replica in old:
            [successor] = cluster.start("certification", 1)
            await asyncio.to_thread(cluster.wait_ready, 90, [successor])
            issued = await count("SELECT count(*) FROM certificates")
            await enrolment.complete(BURST)
            handling = partial(issued_at_least, issued + BURST // 10)
            await wait_until(handling, timeout=60, what="the burst being handled")
            status, seconds = await asyncio.to_thread(replica.terminate, GRACE_SECONDS + 30)
            stopped.append((replica.name, status, seconds, replica.tail()))
        stop.set()
        await steady

        total = len(enrolment.completed)
        await wait_until(lambda: issued_at_least(total), timeout=180, what=f"{total} certificates")

        async def settled() -> Any:
            info = await js.consumer_info(stream, "certification")
            return info if info.num_pending == 0 and info.num_ack_pending == 0 else None

        # A message fetched and then abandoned stays pending an ack until ack_wait sends it
        # again: once nothing is pending, every redelivery there was to be has happened.
        after = await wait_until(settled, timeout=60, what="the consumer to have acked everything")
        await wait_until(outbox_sent, timeout=60, what="the outbox sent")

        for name, status, seconds, log in stopped:
            assert status == 0, f"{name} exited with {status}:\n{log}"
            assert seconds <= GRACE_SECONDS, f"{name} took {seconds:.1f}s to stop:\n{log}"
            assert "not finished within the shutdown grace" not in log, log
        # Nothing lost, nothing doubled: one certificate, one inbox row and one published
        # certificate.issued per completed track.
        assert await count("SELECT count(*) FROM certificates") == total
        assert await count("SELECT count(DISTINCT enrolment_id) FROM certificates") == total
        handled = f"SELECT count(*) FROM inbox WHERE event_type = '{TrackCompleted.event_type()}'"
        assert await count(handled) == total
        issued_rows = "SELECT count(*) FROM outbox WHERE subject LIKE '%certificate.issued'"
        assert await count(issued_rows) == total
        assert await count("SELECT count(*) FROM outbox WHERE attempts <> 1") == 0
        # No redelivery storm: a replica that drains acks the batch it fetched. Stopping it
        # by cancelling instead abandons that batch, dozens of messages, which JetStream then
        # delivers again after ack_wait. At most the message in flight at the instant a
        # replica unsubscribes may come back. Every delivery, a repeated one too, takes the
        # next consumer sequence number, and each completed track was delivered once at least.
        redelivered = after.delivered.consumer_seq - total
        assert redelivered <= len(stopped), (
            f"{redelivered} messages delivered again during the rolling restart"
        )
    finally:
        stop.set()
        if steady is not None:
            await asyncio.gather(steady, return_exceptions=True)
        await nc.close()
        await db.dispose()


async def test_readyz_answers_draining_from_the_signal_on(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    settings = CertificationSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'certification.db'}",
        render_workers=0,
        **bus_settings(nats_server.url),
    )
    app = create_app(settings)
    async with running_app(app) as client:
        app.state.runtime.request_drain()  # what the SIGTERM handler calls

        async def draining() -> bool:
            response = await client.get("/readyz")
            return response.status_code == 503 and response.json()["status"] == "draining"

        await wait_until(draining, timeout=5, what="/readyz to say draining")
        # Requests still being sent are answered: only readiness changes.
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/.well-known/jwks.json")).status_code == 200


def test_portal_exits_0_promptly_on_sigterm(tmp_path: Path) -> None:
    nats_server = NatsServer(tmp_path / "nats").start()  # the cluster's; the portal needs none
    portal_db = f"sqlite+aiosqlite:///{tmp_path / 'portal.db'}"
    cluster = Cluster(tmp_path, nats_server, {"PORTAL_DATABASE_URL": portal_db})
    try:
        [portal] = cluster.start("portal", 1)
        cluster.wait_ready()
        status, seconds = portal.terminate(timeout=30)
    finally:
        cluster.stop()
    assert status == 0, portal.tail()
    assert seconds < 5, f"the portal took {seconds:.1f}s to stop"
