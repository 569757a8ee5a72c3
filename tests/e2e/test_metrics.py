"""`/metrics` of the four services after real work on one nats-server and real databases: an
import counts its rows, a completion is published and a certificate issued, its PDF render is
timed, the certificate reaches an HR receiver over a webhook and counts as delivered."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from wps_common.testing import auth as token
from wps_common.testing import running_app, wait_until
from wps_webhooks.main import create_app as webhooks_app
from wps_webhooks.settings import WebhooksSettings

from .conftest import Platform
from .test_first_certificate import ADMIN, ok, publish_curriculum

HR = token("hr", sub="hr-system-1")
TRAINEES_CSV = (
    "employee_number,family_name,given_name,gender\n"
    "KZ-1,Сулейменова,Айгерим,female\n"
    "KZ-2,Ахметов,Ержан,male\n"
    "KZ-3,Ким,Ольга,female\n"
)


class Figures:
    """One scrape of a service: `value(name, **labels)` sums the samples whose labels match."""

    def __init__(self, text: str) -> None:
        self.samples = [s for f in text_string_to_metric_families(text) for s in f.samples]

    def value(self, name: str, **labels: str) -> float | None:
        found = [
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]
        return sum(found) if found else None


async def scrape(client: httpx.AsyncClient) -> Figures:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return Figures(response.text)


async def eventually(
    client: httpx.AsyncClient, name: str, expected: float, what: str, **labels: str
) -> Figures:
    async def reached() -> Figures | None:
        figures = await scrape(client)
        return figures if figures.value(name, **labels) == expected else None

    return await wait_until(reached, what=f"{what} ({name} {labels} = {expected})")


class Receiver:
    """An HR system's webhook endpoint that accepts everything."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                receiver.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()


async def test_scrapes_show_the_work_each_service_did(
    platform: Platform, database_factory: Callable[[str], str], receiver: Receiver
) -> None:
    settings = WebhooksSettings(
        database_url=database_factory("webhooks"),
        poll_seconds=0.05,
        allowed_private_networks="127.0.0.0/8",  # the receiver listens on loopback
        **platform.bus,
    )
    async with running_app(webhooks_app(settings)) as webhooks:
        await ok(
            await webhooks.post(
                "/v1/webhooks",
                json={"url": receiver.url, "event_types": ["certification.certificate.issued"]},
                headers=HR,
            ),
            201,
        )
        await publish_curriculum(platform.curriculum)
        academy = await ok(
            await platform.enrolment.post(
                "/v1/academies",
                json={"code": "KZ-AST", "name": "Astana Police Academy", "country": "KZ"},
                headers=ADMIN,
            ),
            201,
        )
        staff = token("academy_admin", academy_id=academy["id"])

        # An import of three trainees: three rows created, one import timed.
        job = await ok(
            await platform.enrolment.post(
                f"/v1/academies/{academy['id']}/imports",
                content=TRAINEES_CSV.encode(),
                headers={**staff, "Content-Type": "text/csv"},
            ),
            202,
        )
        figures = await eventually(
            platform.enrolment,
            "wps_import_duration_seconds_count",
            1,
            "the import to finish",
            status="succeeded",
        )
        assert figures.value("wps_import_rows_total", outcome="created") == 3
        assert figures.value("wps_import_rows_total", outcome="rejected") == 0
        finished = await ok(await platform.enrolment.get(f"/v1/imports/{job['id']}", headers=staff))
        assert finished["created_count"] == 3

        # One enrolment completed: a track.completed from enrolment, a certificate.issued from
        # certification.
        trainees = await ok(
            await platform.enrolment.get(
                f"/v1/trainees?academy_id={academy['id']}&q=KZ-1", headers=staff
            )
        )
        [trainee] = trainees["items"]

        async def cohort_created() -> Any:
            response = await platform.enrolment.post(
                "/v1/cohorts",
                json={
                    "academy_id": academy["id"],
                    "track_code": "GHR-FOUND",
                    "title": "Foundation, November",
                    "starts_on": "2026-11-02",
                    "ends_on": "2026-11-06",
                    "language": "ru",
                    "capacity": 20,
                },
                headers=staff,
            )
            return response.json() if response.status_code == 201 else None

        cohort = await wait_until(cohort_created, what="track.published to reach enrolment")
        enrolment = await ok(
            await platform.enrolment.post(
                f"/v1/cohorts/{cohort['id']}/enrolments",
                json={"trainee_id": trainee["id"]},
                headers=staff,
            ),
            201,
        )
        await ok(
            await platform.enrolment.post(
                f"/v1/enrolments/{enrolment['id']}/results",
                json={"module_code": "WPS-101", "attendance_pct": 100, "score": 86},
                headers=token("instructor", academy_id=academy["id"]),
            ),
            201,
        )
        await eventually(
            platform.enrolment,
            "wps_events_published_total",
            1,
            "the completion to be published",
            event="enrolment.track.completed",
        )
        figures = await eventually(
            platform.certification,
            "wps_events_published_total",
            1,
            "the certificate to be issued",
            event="certification.certificate.issued",
        )
        durable = {"service": "certification", "durable": "certification"}
        assert (figures.value("wps_consumer_events_total", outcome="handled", **durable) or 0) >= 1
        assert figures.value("wps_consumer_dead_letters_total", **durable) == 0

        # Its PDF: one render timed (the second download comes from the cache).
        certificates = await ok(
            await platform.certification.get(
                f"/v1/certificates?trainee_id={trainee['id']}", headers=ADMIN
            )
        )
        [certificate] = certificates["items"]
        for _ in range(2):
            pdf = await platform.certification.get(
                f"/v1/certificates/{certificate['id']}.pdf", headers=ADMIN
            )
            assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        figures = await scrape(platform.certification)
        assert figures.value("wps_pdf_render_seconds_count", service="certification") == 1
        assert (figures.value("wps_pdf_render_seconds_sum") or 0) > 0
        route = "/v1/certificates/{certificate_id}.pdf"
        count = "wps_http_request_duration_seconds_count"
        assert figures.value(count, route=route, method="GET", status="200") == 2

        # The HR receiver got the certificate: one delivery, answered 2xx.
        figures = await eventually(
            webhooks,
            "wps_webhook_deliveries_total",
            1,
            "the webhook to be delivered",
            outcome="delivered",
            status_class="2xx",
        )
        assert figures.value("wps_webhook_deliveries_total", outcome="dead") == 0
        assert len(receiver.bodies) == 1

    # Every service's backlog is read from its database, and it is empty now.
    for client in (platform.curriculum, platform.enrolment, platform.certification):
        figures = await scrape(client)
        assert figures.value("wps_outbox_unsent_events") is not None
