"""The webhook bridge against a real local HTTP receiver: signed, ordered, retried, parked and
redelivered; never sent to a private address unless allowed, never redirected, never showing
what a receiver answered — on a real nats-server and both databases."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from wps_common.events.contracts import CertificateIssued, TrackCompleted, TrackFacts
from wps_common.natsserver import NatsServer
from wps_common.testing import (
    auth,
    bus_settings,
    publish_event,
    running_app,
    wait_until,
    walk_pages,
)
from wps_webhooks.main import create_app
from wps_webhooks.settings import WebhooksSettings
from wps_webhooks.signing import standard_form

HR = auth("hr", sub="hr-system-1")
SECRET = "s3cret-shared-with-the-hr-system"
LOOPBACK_ALLOWED = "127.0.0.0/8"  # the receiver listens on 127.0.0.1
REPLY_SECRET = b"stack trace: db password is hunter2"


class Receiver:
    """An HR system's endpoint: records what it accepts; fails (with a reply that must never be
    shown to the subscriber) while `failing` is positive; answers 302 while `redirecting`."""

    def __init__(self) -> None:
        self.accepted: list[dict[str, Any]] = []
        self.requests = 0
        self.attempt_ids: list[str] = []  # webhook-id of every attempt, refused ones too
        self.paths: list[str] = []
        self.failing = 0
        self.redirecting = False
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests += 1
                    receiver.attempt_ids.append(self.headers["webhook-id"])
                    receiver.paths.append(self.path)
                    if receiver.redirecting:
                        self.send_response(302)
                        self.send_header("Location", receiver.url.replace("/hooks", "/elsewhere"))
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    if receiver.failing > 0:
                        receiver.failing -= 1
                        self.send_response(503)
                        self.send_header("Content-Length", str(len(REPLY_SECRET)))
                        self.end_headers()
                        self.wfile.write(REPLY_SECRET)
                        return
                    receiver.accepted.append(
                        {"body": body, "headers": {k.lower(): v for k, v in self.headers.items()}}
                    )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def numbers(self) -> list[str]:
        with self.lock:
            return [json.loads(a["body"])["data"]["number"] for a in self.accepted]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture
def bus(nats_server: NatsServer) -> dict[str, Any]:
    return bus_settings(nats_server.url)


RunBridge = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def run_bridge(bus: dict[str, Any], database_url: str) -> RunBridge:
    """Starts the bridge on this test's bus and database; by default it may deliver to the
    local receiver (`allowed_private_networks`), as an operator would allow an internal one."""

    def run(**overrides: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        settings: dict[str, Any] = {
            "database_url": database_url,
            "first_retry_seconds": 0.05,
            "max_retry_seconds": 0.2,
            "max_attempts": 3,
            "poll_seconds": 0.05,
            "allowed_private_networks": LOOPBACK_ALLOWED,
            **bus,
        }
        return running_app(create_app(WebhooksSettings(**{**settings, **overrides})))

    return run


@pytest.fixture
async def client(run_bridge: RunBridge) -> AsyncIterator[httpx.AsyncClient]:
    async with run_bridge() as client:
        yield client


def issued(number: str) -> CertificateIssued:
    return CertificateIssued(
        certificate_id=f"c-{number}",
        number=number,
        enrolment_id=f"e-{number}",
        trainee_id="t",
        employee_number="E-1",
        academy_id="a",
        track_code="GHR-FOUND",
        track_version=1,
        issued_on=date(2026, 11, 23),
        expires_on=None,
    )


async def subscribe(client: httpx.AsyncClient, receiver: Receiver, url: str = "") -> str:
    response = await client.post(
        "/v1/webhooks",
        json={
            "url": url or receiver.url,
            "event_types": ["certification.certificate.issued"],
            "secret": SECRET,
        },
        headers=HR,
    )
    assert response.status_code == 201, response.text
    assert response.json()["secret"] is None  # the client's own secret is not echoed
    return str(response.json()["id"])


async def test_bad_subscriptions_are_refused(client: httpx.AsyncClient) -> None:
    for body, field in (
        ({"url": "not a url", "event_types": ["*"], "secret": SECRET}, "url"),
        (
            {"url": "https://hr.example.org", "event_types": ["nope.nope"], "secret": SECRET},
            "event_types",
        ),
        ({"url": "https://hr.example.org", "event_types": ["*"], "secret": "short"}, "secret"),
        (
            {"url": "https://hr.example.org", "event_types": ["*"], "secret": "whsec_not*base64!"},
            "secret",
        ),
        (  # base64, but of 12 bytes: too short a key
            {"url": "https://hr.example.org", "event_types": ["*"], "secret": "whsec_" + "A" * 16},
            "secret",
        ),
        ({"url": "https://hr.example.org", "event_types": [], "secret": SECRET}, "event_types"),
    ):
        response = await client.post("/v1/webhooks", json=body, headers=HR)
        assert response.status_code == 422, body
        assert any(e["field"] == field for e in response.json()["errors"])
    trainee = await client.post(
        "/v1/webhooks",
        json={"url": "https://hr.example.org", "event_types": ["*"], "secret": SECRET},
        headers=auth("trainee", academy_id="a"),
    )
    assert trainee.status_code == 403
    assert (await client.get("/v1/webhooks/nope", headers=HR)).status_code == 404


async def test_deliveries_are_signed_in_order_and_survive_a_failing_receiver(
    client: httpx.AsyncClient, bus: dict[str, Any], receiver: Receiver
) -> None:
    await subscribe(client, receiver)
    receiver.failing = 2  # the HR system is down for the first two attempts
    track = TrackFacts(
        code="X-1",
        version=1,
        content_hash="0",
        title={"en": "x"},
        certificate_title={"en": "x"},
        validity_months=None,
        modules=[],
    )
    for n in range(1, 4):
        await publish_event(bus, issued(f"N-{n}"))
        await publish_event(
            bus,
            TrackCompleted(
                enrolment_id=f"e{n}",
                cohort_id="c",
                trainee_id="t",
                employee_number="E",
                academy_id="a",
                track=track,
                completed_on=date(2026, 11, 23),
            ),
        )

    async def all_three() -> list[str]:
        numbers = receiver.numbers()
        return numbers if len(numbers) >= 3 else []

    assert await wait_until(all_three, what="three deliveries") == ["N-1", "N-2", "N-3"]
    assert receiver.requests == 5  # two refused attempts, then each once: order kept
    first_id = json.loads(receiver.accepted[0]["body"])["id"]
    assert receiver.attempt_ids[:3] == [first_id] * 3  # webhook-id is the same on every retry
    # A secret chosen before Standard Webhooks: its UTF-8 bytes are the key.
    hr_system = Webhook(standard_form(SECRET))
    for accepted in receiver.accepted:
        body, headers = accepted["body"], accepted["headers"]
        assert hr_system.verify(body, headers)["id"] == headers["webhook-id"]
        assert Webhook(SECRET.encode()).verify(body, headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(standard_form("another-secret-entirely")).verify(body, headers)
        with pytest.raises(WebhookVerificationError):
            hr_system.verify(body.replace(b"N-", b"X-"), headers)
        # The older X-WPS-Signature is still sent, for receivers not yet moved over.
        legacy = hmac.new(
            SECRET.encode(), f"{headers['x-wps-timestamp']}.".encode() + body, hashlib.sha256
        )
        assert headers["x-wps-signature"] == f"v1={legacy.hexdigest()}"
        assert json.loads(body)["type"] == CertificateIssued.event_type()


async def test_a_generated_secret_is_returned_once_and_verifies_as_it_is(
    client: httpx.AsyncClient, bus: dict[str, Any], receiver: Receiver
) -> None:
    response = await client.post(
        "/v1/webhooks",
        json={"url": receiver.url, "event_types": ["certification.certificate.issued"]},
        headers=HR,
    )
    assert response.status_code == 201, response.text
    secret = response.json()["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    shown = await client.get(f"/v1/webhooks/{response.json()['id']}", headers=HR)
    assert "secret" not in shown.json()
    await publish_event(bus, issued("W-1"))

    async def delivered() -> list[str]:
        return receiver.numbers()

    assert await wait_until(delivered, what="a delivery") == ["W-1"]
    [accepted] = receiver.accepted
    assert Webhook(secret).verify(accepted["body"], accepted["headers"])["data"]["number"] == "W-1"


async def test_a_receiver_down_too_long_parks_deliveries_that_can_be_redelivered(
    client: httpx.AsyncClient, bus: dict[str, Any], receiver: Receiver
) -> None:
    subscription_id = await subscribe(client, receiver)
    receiver.failing = 1_000
    await publish_event(bus, issued("P-1"))
    await publish_event(bus, issued("P-2"))
    path = f"/v1/webhooks/{subscription_id}/deliveries"

    async def parked() -> list[dict[str, Any]]:
        page = (await client.get(path, params={"status": "parked"}, headers=HR)).json()
        return list(page["items"]) if page["total"] == 2 else []

    items = await wait_until(parked, what="both deliveries to be parked")
    assert [item["attempts"] for item in items] == [3, 3]
    assert items[0]["last_status_code"] == 503 and items[0]["last_error"] == "http_503"
    listed = await client.get(path, headers=HR)
    assert REPLY_SECRET.decode() not in listed.text  # what a receiver answers is never shown
    receiver.failing = 0
    requeued = await client.post(f"/v1/webhooks/{subscription_id}/redeliver", headers=HR)
    assert requeued.json() == {"requeued": 2}

    async def delivered() -> list[str]:
        return receiver.numbers() if len(receiver.numbers()) == 2 else []

    assert await wait_until(delivered, what="redelivery") == ["P-1", "P-2"]


async def test_a_subscription_belongs_to_the_client_that_created_it(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    mine = await subscribe(client, receiver)
    other = auth("hr", sub="hr-system-2")
    theirs = await client.post(
        "/v1/webhooks",
        json={"url": receiver.url, "event_types": ["*"], "secret": SECRET},
        headers=other,
    )
    assert theirs.status_code == 201, theirs.text

    listed = (await client.get("/v1/webhooks", headers=HR)).json()
    assert [s["id"] for s in listed["items"]] == [mine] and listed["total"] == 1
    for method, path in (
        ("GET", f"/v1/webhooks/{mine}"),
        ("GET", f"/v1/webhooks/{mine}/deliveries"),
        ("POST", f"/v1/webhooks/{mine}/redeliver"),
        ("DELETE", f"/v1/webhooks/{mine}"),
    ):
        response = await client.request(method, path, headers=other)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["detail"] == "No such webhook subscription."
    assert (await client.get(f"/v1/webhooks/{mine}", headers=HR)).json()["active"] is True
    everyone = (await client.get("/v1/webhooks", headers=auth("admin"))).json()
    assert {s["id"] for s in everyone["items"]} == {mine, theirs.json()["id"]}


async def test_urls_at_addresses_that_are_not_public_are_refused(run_bridge: RunBridge) -> None:
    """Without an allow-list, the bridge's own network (and the cloud's metadata service) is
    out of reach, whichever way the address is written."""
    async with run_bridge(allowed_private_networks="") as client:
        for url, said in (
            ("http://127.0.0.1:8004/hooks", "127.0.0.1 is a loopback address."),
            ("http://2130706433/", "127.0.0.1 is a loopback address."),
            ("http://0x7f.1/", "127.0.0.1 is a loopback address."),
            ("http://0177.0.0.1/", "127.0.0.1 is a loopback address."),
            ("http://[::1]/", "::1 is a loopback address."),
            ("http://[::ffff:127.0.0.1]/", "a loopback address (it stands for 127.0.0.1)."),
            ("http://localhost:8004/", "localhost resolves to 127.0.0.1, which is a loopback"),
            ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local"),
            ("http://[fe80::1]/", "fe80::1 is a link-local address."),
            ("https://10.20.30.40/hooks", "10.20.30.40 is a private address."),
            ("https://192.168.1.1/", "192.168.1.1 is a private address."),
            ("https://100.64.0.1/", "100.64.0.1 is a carrier-grade NAT address."),
            ("http://0.0.0.0:8004/", "0.0.0.0 is the unspecified address."),
            ("https://224.0.0.1/", "224.0.0.1 is a multicast address."),
            ("https://[fd00::1]/", "fd00::1 is a private address."),
        ):
            response = await client.post(
                "/v1/webhooks",
                json={"url": url, "event_types": ["*"], "secret": SECRET},
                headers=HR,
            )
            assert response.status_code == 422, (url, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert problem["detail"].startswith("Webhook URLs must point at a public address; ")
            assert said in problem["detail"], (url, problem["detail"])
            assert problem["errors"] == [{"field": "url", "message": problem["detail"]}]
        assert (await client.get("/v1/webhooks", headers=HR)).json()["total"] == 0


async def test_a_receiver_no_longer_allowed_gets_nothing(
    run_bridge: RunBridge, bus: dict[str, Any], receiver: Receiver
) -> None:
    """Every delivery resolves and checks the address again: subscriptions registered while
    loopback was allowed — by address, and by a name that resolves to it — are not delivered
    to once it is not (as after a DNS answer changed to a private address)."""
    port = receiver.server.server_address[1]
    async with run_bridge() as client:
        by_address = await subscribe(client, receiver)
        by_name = await subscribe(client, receiver, url=f"http://localhost:{port}/hooks")
    async with run_bridge(allowed_private_networks="") as client:
        await publish_event(bus, issued("R-1"))

        async def refused() -> list[dict[str, Any]]:
            items = []
            for subscription_id in (by_address, by_name):
                page = await client.get(f"/v1/webhooks/{subscription_id}/deliveries", headers=HR)
                items += page.json()["items"]
            done = [i for i in items if i["last_error"] == "refused_address"]
            return items if len(done) == 2 else []

        items = await wait_until(refused, what="both deliveries to be refused")
        assert [item["last_status_code"] for item in items] == [None, None]
        assert receiver.requests == 0


async def test_redirects_are_not_followed(
    client: httpx.AsyncClient, bus: dict[str, Any], receiver: Receiver
) -> None:
    subscription_id = await subscribe(client, receiver)
    receiver.redirecting = True
    await publish_event(bus, issued("D-1"))

    async def redirected() -> dict[str, Any]:
        page = await client.get(f"/v1/webhooks/{subscription_id}/deliveries", headers=HR)
        items = [dict(item) for item in page.json()["items"] if item["last_error"]]
        return items[0] if items else {}

    item = await wait_until(redirected, what="the redirect to be recorded")
    assert item["last_error"] == "redirect" and item["last_status_code"] == 302
    assert item["status"] in {"pending", "parked"}  # a failure like any other
    with receiver.lock:
        assert receiver.paths and set(receiver.paths) == {"/hooks"}


async def test_hostile_paging_ids_and_texts_are_refused_not_crashed(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    """Found by fuzzing: integers past int64 and NUL characters reached the database."""
    mine = await subscribe(client, receiver)
    for path in (
        "/v1/webhooks?offset=18446744073709551616",
        f"/v1/webhooks/{mine}/deliveries?offset=18446744073709551616",
        "/v1/webhooks/a%00b",
        "/v1/webhooks/a%00b/deliveries",
    ):
        response = await client.get(path, headers=HR)
        assert response.status_code == 422, (path, response.text)
    for field, value in (("secret", "s3cret-with-a-\x00-in-it"), ("description", "HR\x00")):
        body = {"url": receiver.url, "event_types": ["*"], "secret": SECRET, field: value}
        response = await client.post("/v1/webhooks", json=body, headers=HR)
        assert response.status_code == 422, (field, response.text)
        assert field in response.json()["detail"]


async def test_subscriptions_and_deliveries_walked_by_cursor(
    client: httpx.AsyncClient, bus: dict[str, Any], receiver: Receiver
) -> None:
    mine = [await subscribe(client, receiver) for _ in range(3)]
    other = auth("hr", sub="hr-system-2")
    body = {"url": receiver.url, "event_types": ["certification.certificate.issued"]}
    assert (await client.post("/v1/webhooks", json=body, headers=other)).status_code == 201
    walked = await walk_pages(client, "/v1/webhooks", headers=HR)
    assert [s["id"] for s in walked] == mine  # oldest first, only the caller's
    everyone = await walk_pages(client, "/v1/webhooks", headers=auth("admin"), limit=3)
    assert len(everyone) == 4 and [s["id"] for s in everyone][:3] == mine

    for n in range(5):
        await publish_event(bus, issued(f"K-{n}"))
    path = f"/v1/webhooks/{mine[0]}/deliveries"

    async def delivered() -> bool:
        page = (await client.get(path, params={"status": "delivered"}, headers=HR)).json()
        return bool(page["total"] == 5)

    await wait_until(delivered, what="five deliveries")
    deliveries = await walk_pages(client, path, headers=HR)
    assert [d["id"] for d in deliveries] == sorted(d["id"] for d in deliveries)
    assert len(deliveries) == 5 and {d["status"] for d in deliveries} == {"delivered"}
    assert await walk_pages(client, path, headers=HR, params={"status": "delivered"}) == deliveries
