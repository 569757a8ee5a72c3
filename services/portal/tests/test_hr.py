"""HR in a real browser: webhook subscriptions registered, refused and deactivated; deliveries
to a local receiver that fails, park, and go out again after "Redeliver parked" — and another
HR client never sees the subscription."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from .conftest import (
    Platform,
    api_token,
    assert_accessible,
    screenshot,
    sign_in,
    use_language,
)

TRACK = "GHR-FOUND"
ENROLLED = "enrolment.trainee.enrolled"


class Receiver:
    """An HR system's endpoint on a free loopback port: 503 while `failing`, else 200."""

    def __init__(self) -> None:
        self.failing = True
        self.received = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received += 1
                self.send_response(503 if receiver.failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/training"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


def eventually(check: Callable[[], Any], *, what: str, seconds: float = 30) -> Any:
    """The first truthy answer of `check`, asked again until the deadline."""
    deadline = time.monotonic() + seconds
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def client_token(platform: Platform, client_id: str, secret: str) -> str:
    answer = httpx.post(
        f"{platform.urls['idp']}/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=15,
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def enrol_someone(platform: Platform) -> None:
    """A trainee enrolled in a new cohort of KZ-ALA: one `trainee.enrolled` event."""
    headers = {"Authorization": f"Bearer {api_token(platform, 'admin')}"}
    tag = uuid.uuid4().hex[:6].upper()
    with httpx.Client(base_url=platform.urls["enrolment"], headers=headers, timeout=15) as api:
        academies = api.get("/v1/academies", params={"limit": 100}).json()["items"]
        academy = next(a for a in academies if a["code"] == "KZ-ALA")
        trainee = api.post(
            "/v1/trainees",
            json={
                "academy_id": academy["id"],
                "employee_number": f"H-{tag}",
                "given_name": "Aset",
                "family_name": f"Nurlanov{tag}",
            },
        ).json()

        def open_cohort() -> Any:
            response = api.post(
                "/v1/cohorts",
                json={
                    "academy_id": academy["id"],
                    "track_code": TRACK,
                    "title": f"HR events {tag}",
                    "starts_on": "2026-03-02",
                    "ends_on": "2030-03-06",
                    "capacity": 5,
                },
            )
            return response.json() if response.status_code == 201 else None

        cohort = eventually(open_cohort, what="track.published to reach enrolment")
        enrolled = api.post(
            f"/v1/cohorts/{cohort['id']}/enrolments", json={"trainee_id": trainee["id"]}
        )
        assert enrolled.status_code == 201, enrolled.text


def deliveries(platform: Platform, subscription_id: str, status: str) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {api_token(platform, 'hr')}"}
    answer = httpx.get(
        f"{platform.urls['webhooks']}/v1/webhooks/{subscription_id}/deliveries",
        params={"status": status},
        headers=headers,
        timeout=15,
    )
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def fits_the_screen(page: Any) -> bool:
    width: int = page.evaluate("document.documentElement.scrollWidth")
    return width <= page.viewport_size["width"]


def test_subscribe_see_deliveries_park_and_redeliver(
    page: Any, platform: Platform, receiver: Receiver
) -> None:
    sign_in(page, "hr", next_path="/hr/webhooks")
    use_language(page, "en")
    assert page.locator("h1").inner_text() == "Webhooks"
    assert_accessible(page)

    # A cloud metadata address is refused, with the service's sentence next to the field.
    page.fill("#f-url", "http://169.254.169.254/latest/meta-data/")
    page.get_by_label("A trainee was enrolled or waitlisted").check()
    page.get_by_role("button", name="Register", exact=True).click()
    page.wait_for_load_state("load")
    error = page.locator("#f-url-error")
    assert "169.254.169.254 is a link-local address" in error.inner_text()
    assert page.locator("#f-url").get_attribute("aria-invalid") == "true"
    assert page.locator("#f-url").input_value() == "http://169.254.169.254/latest/meta-data/"
    assert page.get_by_label("A trainee was enrolled or waitlisted").is_checked()
    assert_accessible(page)
    screenshot(page, "hr-webhooks-refused-address")

    # The local receiver (loopback is allowed in development) is accepted.
    page.fill("#f-url", receiver.url)
    page.fill("#f-description", "Personnel system, test instance")
    page.get_by_role("button", name="Register", exact=True).click()
    page.wait_for_url("**/hr/webhooks/*")
    assert "The subscription is registered." in page.locator(".notice.success").inner_text()
    subscription_id = page.url.rsplit("/", 1)[1]
    assert receiver.url in page.locator(".webhook-facts").inner_text()
    assert "No event has been queued" in page.locator("main").inner_text()

    # An enrolment happens; the receiver answers 503 twice and the delivery is parked.
    enrol_someone(platform)
    eventually(lambda: deliveries(platform, subscription_id, "parked"), what="a parked delivery")
    page.reload()
    row = page.locator(".deliveries tbody tr")
    assert row.count() == 1
    assert "Parked" in row.inner_text() and ENROLLED in row.inner_text()
    assert "http_503" in row.inner_text()
    assert "The receiver failed with HTTP status 503" in row.inner_text()
    assert receiver.received == 2
    assert_accessible(page)
    screenshot(page, "hr-deliveries-parked")

    # The receiver is fixed; the parked delivery goes out again.
    receiver.failing = False
    page.get_by_role("button", name="Redeliver parked").click()
    page.wait_for_load_state("load")
    assert "1 parked delivery is queued again." in page.locator(".notice.success").inner_text()
    eventually(lambda: deliveries(platform, subscription_id, "delivered"), what="the redelivery")
    page.select_option("#status-filter", "delivered")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**status=delivered")
    assert "Delivered" in page.locator(".deliveries tbody tr").inner_text()
    page.select_option("#status-filter", "parked")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**status=parked")
    assert "No delivery has this status." in page.locator("main").inner_text()

    # Another HR system (its own client) does not see the subscription at all.
    other = {
        "Authorization": f"Bearer {client_token(platform, 'wps-hr-other', 'demo-hr-other-secret')}"
    }
    with httpx.Client(base_url=platform.urls["webhooks"], headers=other, timeout=15) as api:
        listed = api.get("/v1/webhooks", params={"limit": 500}).json()["items"]
        assert subscription_id not in {s["id"] for s in listed}
        assert api.get(f"/v1/webhooks/{subscription_id}").status_code == 404
        assert api.get(f"/v1/webhooks/{subscription_id}/deliveries").status_code == 404

    # Deactivated from the list: a POST form, the API's DELETE.
    page.goto("/hr/webhooks")
    row = page.locator(".webhooks tbody tr", has_text=receiver.url)
    row.get_by_role("button", name="Deactivate").click()
    page.wait_for_load_state("load")
    assert "is deactivated" in page.locator(".notice.success").inner_text()
    assert "Deactivated" in page.locator(".webhooks tbody tr", has_text=receiver.url).inner_text()


def test_a_subscription_of_someone_else_is_not_found(page: Any, platform: Platform) -> None:
    other = {
        "Authorization": f"Bearer {client_token(platform, 'wps-hr-other', 'demo-hr-other-secret')}"
    }
    created = httpx.post(
        f"{platform.urls['webhooks']}/v1/webhooks",
        json={
            "url": "http://127.0.0.1:9/elsewhere",
            "event_types": ["*"],
            "secret": "another-systems-secret",
        },
        headers=other,
        timeout=15,
    )
    assert created.status_code == 201, created.text
    sign_in(page, "hr", next_path="/hr/webhooks")
    use_language(page, "en")
    assert "127.0.0.1:9/elsewhere" not in page.locator("main").inner_text()
    response = page.goto(f"/hr/webhooks/{created.json()['id']}")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "Page not found"
    token = page.locator("input[name=csrf_token]").first.input_value()
    for action in ("redeliver", "deactivate"):
        posted = page.request.post(
            f"/hr/webhooks/{created.json()['id']}/{action}", form={"csrf_token": token}
        )
        assert posted.status == 404


def test_instructors_have_no_webhooks(page: Any) -> None:
    sign_in(page, "instructor.ala", next_path="/hr/webhooks")
    use_language(page, "en")
    assert page.locator("h1").inner_text() == "Not available to you"


@pytest.fixture(scope="module")
def parked(platform: Platform) -> Iterator[str]:
    """A subscription of `hr` (made through the API) whose one delivery is parked."""
    endpoint = Receiver()
    headers = {"Authorization": f"Bearer {api_token(platform, 'hr')}"}
    created = httpx.post(
        f"{platform.urls['webhooks']}/v1/webhooks",
        json={
            "url": endpoint.url,
            "event_types": [ENROLLED],
            "secret": "a-secret-for-the-screenshots",
            "description": "Personnel system, staging",
        },
        headers=headers,
        timeout=15,
    )
    assert created.status_code == 201, created.text
    enrol_someone(platform)
    eventually(lambda: deliveries(platform, created.json()["id"], "parked"), what="parking")
    yield created.json()["id"]
    endpoint.close()


@pytest.mark.parametrize("language", ["en", "ru"])
def test_hr_pages_on_desktop_and_phone(page: Any, phone: Any, parked: str, language: str) -> None:
    for tab, width in ((page, "desktop"), (phone, "phone")):
        sign_in(tab, "hr", next_path="/hr/webhooks")
        use_language(tab, language)
        assert tab.locator("html").get_attribute("lang") == language
        assert fits_the_screen(tab)
        assert_accessible(tab)
        screenshot(tab, f"hr-webhooks-{width}-{language}")
        tab.goto(f"/hr/webhooks/{parked}")
        assert tab.locator(".deliveries tbody tr").count() == 1
        assert fits_the_screen(tab)
        assert_accessible(tab)
        screenshot(tab, f"hr-deliveries-{width}-{language}")
