"""`/metrics` of two curriculum replicas as OS processes on one PostgreSQL database: both report
the same outbox backlog while NATS is away, both report none once it is back, and between them
they published each event once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from wps_common.natsserver import NatsServer
from wps_common.testing import bus_settings, wait_until

from .cluster import Cluster
from .test_first_certificate import publish_curriculum

pytestmark = pytest.mark.postgres
EVENTS = ("curriculum.module.published", "curriculum.track.published")


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
        "CURRICULUM_DATABASE_URL": database_factory("curriculum"),
        "CURRICULUM_RELAY_POLL_SECONDS": "0.1",
        "CURRICULUM_RELAY_MAX_BACKOFF_SECONDS": "1",
        "CURRICULUM_PUBLISH_TIMEOUT_SECONDS": "1",
    }
    cluster = Cluster(tmp_path, nats_server, env)
    try:
        cluster.start("curriculum", 2)
        cluster.wait_ready()
        yield cluster
    finally:
        cluster.stop()


async def figures(client: httpx.AsyncClient, url: str) -> dict[tuple[str, str], float]:
    """(sample name, event label) → value, from one replica's scrape."""
    response = await client.get(f"{url}/metrics")
    assert response.status_code == 200, response.text
    return {
        (s.name, s.labels.get("event", "")): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


async def test_replicas_report_one_backlog_and_publish_each_event_once(cluster: Cluster) -> None:
    replicas = [replica.url for replica in cluster.replicas["curriculum"]]
    unsent = ("wps_outbox_unsent_events", "")
    async with httpx.AsyncClient(timeout=10) as client:
        cluster.nats.stop()
        async with httpx.AsyncClient(base_url=replicas[0], timeout=10) as api:
            await publish_curriculum(api)  # a module and a track, through one replica

        async def both_see_the_backlog() -> list[dict[tuple[str, str], float]] | None:
            scrapes = [await figures(client, url) for url in replicas]
            return scrapes if all(s.get(unsent) == 2 for s in scrapes) else None

        scrapes = await wait_until(both_see_the_backlog, what="both replicas to report 2 unsent")
        ages = [s[("wps_outbox_oldest_unsent_age_seconds", "")] for s in scrapes]
        assert all(age >= 0 for age in ages)

        cluster.nats.start()

        async def both_caught_up() -> list[dict[tuple[str, str], float]] | None:
            scrapes = [await figures(client, url) for url in replicas]
            return scrapes if all(s.get(unsent) == 0 for s in scrapes) else None

        scrapes = await wait_until(both_caught_up, timeout=60, what="the backlog to drain")

    for event in EVENTS:
        published = sum(s.get(("wps_events_published_total", event), 0) for s in scrapes)
        assert published == 1, (event, scrapes)
