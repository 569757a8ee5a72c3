"""Arranging data by API for the browser tests: tokens, academies, trainees, cohorts of the
starter track, enrolments and results, as a demo user of the running `Platform`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx

from .conftest import Platform, api_token

T = TypeVar("T")
STARTER_TRACK = "GHR-FOUND"  # published by the starter catalogue at start


def bearer(platform: Platform, username: str) -> dict[str, str]:
    """The `Authorization` header of a demo user."""
    return {"Authorization": f"Bearer {api_token(platform, username)}"}


@contextmanager
def enrolment_api(platform: Platform, username: str) -> Iterator[httpx.Client]:
    """Enrolment's API as `username`."""
    with httpx.Client(
        base_url=platform.urls["enrolment"], headers=bearer(platform, username), timeout=15
    ) as api:
        yield api


def eventually(
    check: Callable[[], T | None], what: str, *, seconds: float = 30, pause: float = 0.2
) -> T:
    """The first truthy answer of `check`, asked again until the deadline (the services talk by
    events, so what one does shows in another a little later)."""
    deadline = time.monotonic() + seconds
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds}s waiting for {what}")
        time.sleep(pause)


def academy_by_code(api: httpx.Client, code: str, *, limit: int = 200) -> dict[str, Any]:
    """The academy with this code, among those the API's user may see."""
    academies = api.get("/v1/academies", params={"limit": limit}).json()["items"]
    found: dict[str, Any] = next(a for a in academies if a["code"] == code)
    return found


def register(api: httpx.Client, academy_id: str, **fields: Any) -> dict[str, Any]:
    """A new trainee of the academy (201, or the test fails)."""
    response = api.post("/v1/trainees", json={"academy_id": academy_id, **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def open_cohort(api: httpx.Client, academy_id: str, **fields: Any) -> dict[str, Any]:
    """A new cohort of the starter track (unless `track_code` says another), once the track's
    publication has reached enrolment."""

    def opened() -> dict[str, Any] | None:
        response = api.post(
            "/v1/cohorts",
            json={"academy_id": academy_id, "track_code": STARTER_TRACK, **fields},
        )
        return response.json() if response.status_code == 201 else None

    return eventually(opened, "track.published to reach enrolment")


def enrol(api: httpx.Client, cohort_id: str, trainee_id: str) -> dict[str, Any]:
    """The trainee enrolled in the cohort (201, or the test fails)."""
    response = api.post(f"/v1/cohorts/{cohort_id}/enrolments", json={"trainee_id": trainee_id})
    assert response.status_code == 201, response.text
    enrolment: dict[str, Any] = response.json()
    return enrolment
