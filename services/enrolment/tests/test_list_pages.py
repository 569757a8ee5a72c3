"""Every list walked by cursor, a few rows a page: each row once, in the list's order, the same
as one page of everything (academies, cohorts, a cohort's and a trainee's enrolments, an
academy's compliance, a trainee's history, an enrolment's results)."""

from __future__ import annotations

import base64
from typing import Any

from wps_common.events.contracts import Selector
from wps_common.testing import publish_event, wait_until, walk_pages

from .conftest import ADMIN, Academy, open_academy
from .test_compliance import requirement


async def test_academies_and_cohorts_by_cursor(academy: Academy) -> None:
    for code in ("KZ-AST", "AM-YER", "UA-KYV"):
        await open_academy(academy.client, academy.bus, academy.database_url, code)
    academies = await walk_pages(academy.client, "/v1/academies", headers=ADMIN)
    assert [a["code"] for a in academies] == ["AM-YER", "GE-TBS", "KZ-AST", "UA-KYV"]

    # Repeated start days, so the id decides between cohorts that start together.
    for starts_on in ("2026-03-02", "2026-05-04", "2026-03-02", "2026-01-05", "2026-05-04"):
        body = {
            "academy_id": academy.academy_id,
            "track_code": "GHR-FOUND",
            "title": f"From {starts_on}",
            "starts_on": starts_on,
            "ends_on": "2026-12-18",
            "capacity": 10,
        }
        response = await academy.client.post("/v1/cohorts", json=body, headers=academy.staff)
        assert response.status_code == 201, response.text
    cohorts = await walk_pages(academy.client, "/v1/cohorts", headers=academy.staff)
    assert [(c["starts_on"], c["id"]) for c in cohorts] == sorted(
        ((c["starts_on"], c["id"]) for c in cohorts), reverse=True
    )
    assert len(cohorts) == 5
    scoped = await walk_pages(
        academy.client, "/v1/cohorts", headers=ADMIN, params={"academy_id": academy.academy_id}
    )
    assert scoped == cohorts


async def test_enrolments_by_cursor(academy: Academy) -> None:
    cohort = await academy.cohort(capacity=2)
    people = await academy.trainees(5)
    enrolled = [await academy.enrol(cohort["id"], p["id"]) for p in people]
    withdrawn = await academy.client.post(
        f"/v1/enrolments/{enrolled[0]['id']}/withdraw",
        json={"reason_code": "operational"},
        headers=academy.staff,
    )
    assert withdrawn.status_code == 200, withdrawn.text
    path = f"/v1/cohorts/{cohort['id']}/enrolments"
    walked = await walk_pages(academy.client, path, headers=academy.staff)
    # Seats first, then the waitlist in promotion order, then the withdrawn.
    assert [e["status"] for e in walked] == [
        "enrolled",
        "enrolled",
        "waitlisted",
        "waitlisted",
        "withdrawn",
    ]
    assert [e["trainee_id"] for e in walked] == [p["id"] for p in people[1:]] + [people[0]["id"]]
    waitlist = await walk_pages(
        academy.client, path, headers=academy.staff, params={"status": "waitlisted"}, limit=1
    )
    assert waitlist == walked[2:4]

    # One trainee in several cohorts: newest first.
    someone = people[1]
    for _ in range(3):
        await academy.enrol((await academy.cohort())["id"], someone["id"])
    theirs = await walk_pages(
        academy.client, f"/v1/trainees/{someone['id']}/enrolments", headers=academy.staff
    )
    assert len(theirs) == 4 and {e["trainee_id"] for e in theirs} == {someone["id"]}
    assert [e["enrolled_at"] for e in theirs] == sorted(
        (e["enrolled_at"] for e in theirs), reverse=True
    )


async def test_compliance_by_cursor(academy: Academy) -> None:
    # Two trainees with the same name, so the record decides their order.
    for number, family in (("L-1", "Beridze"), ("L-2", "Abashidze"), ("L-3", "Beridze")):
        await academy.trainee(number, rank="Lieutenant", family_name=family)
    for code in ("REQ-A", "REQ-B"):
        await publish_event(
            academy.bus,
            requirement(requirement_code=code, selector=Selector(ranks=["Lieutenant"])),
        )

    async def evaluated() -> list[Any] | None:
        response = await academy.client.get("/v1/compliance", headers=academy.staff)
        assert response.status_code == 200, response.text
        return response.json()["items"] if response.json()["total"] == 6 else None

    await wait_until(evaluated, what="six compliance records")
    rows = await walk_pages(academy.client, "/v1/compliance", headers=academy.staff, limit=4)
    assert [r["family_name"] for r in rows] == ["Abashidze"] * 2 + ["Beridze"] * 4
    assert len({(r["employee_number"], r["requirement_code"]) for r in rows}) == 6
    only_b = {"requirement_code": "REQ-B"}
    due = await walk_pages(academy.client, "/v1/compliance", headers=academy.staff, params=only_b)
    assert due == [r for r in rows if r["requirement_code"] == "REQ-B"]
    # The cursor names no one: it carries the record's id, and the names are read again.
    for query in ("limit=1", "limit=1&changed_since=2020-01-01"):
        first = await academy.client.get(f"/v1/compliance?{query}", headers=academy.staff)
        cursor = first.json()["next_cursor"]
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        assert "Abashidze" not in raw and "Beridze" not in raw and "Ana" not in raw, raw
    changed = await walk_pages(
        academy.client,
        "/v1/compliance",
        headers=academy.staff,
        params={"changed_since": "2020-01-01"},
    )
    assert [r["family_name"] for r in changed] == ["Abashidze"] * 2 + ["Beridze"] * 4


async def test_a_trainees_history_by_cursor(academy: Academy) -> None:
    trainee = await academy.trainee()
    path = f"/v1/trainees/{trainee['id']}"
    for rank in ("Sergeant", "Lieutenant", "Captain"):
        response = await academy.client.patch(path, json={"rank": rank}, headers=academy.staff)
        assert response.status_code == 200, response.text
    response = await academy.client.post(f"{path}/deactivate", headers=academy.staff)
    assert response.status_code == 200, response.text
    await academy.trainee("E-2")  # another trainee's trail is not in it

    history = await walk_pages(academy.client, f"{path}/history", headers=academy.staff)
    assert [(e["action"], e["changes"].get("rank")) for e in history] == [
        ("created", None),
        ("updated", "Sergeant"),
        ("updated", "Lieutenant"),
        ("updated", "Captain"),
        ("deactivated", None),
    ]
    assert {e["entity_id"] for e in history} == {trainee["id"]}
    assert [e["at"] for e in history] == sorted(e["at"] for e in history)


async def test_an_enrolments_results_by_cursor(academy: Academy) -> None:
    cohort = await academy.cohort()
    enrolment = await academy.enrol(cohort["id"], (await academy.trainee())["id"])
    first = await academy.result(enrolment["id"], "WPS-101", 100, 55)
    await academy.result(enrolment["id"], "HR-102", 100)
    await academy.result(enrolment["id"], "WPS-101", 100, 60, corrects=first["result"]["id"])
    await academy.result(enrolment["id"], "WPS-101", 100, 71)

    path = f"/v1/enrolments/{enrolment['id']}/results"
    results = await walk_pages(academy.client, path, headers=academy.staff, limit=3)
    # Oldest first across the modules, not module by module: the last entry of each counts.
    assert [(r["module_code"], r["attempt"], r["score"]) for r in results] == [
        ("WPS-101", 1, 55.0),
        ("HR-102", 1, None),
        ("WPS-101", 1, 60.0),
        ("WPS-101", 2, 71.0),
    ]
    assert [r["recorded_at"] for r in results] == sorted(r["recorded_at"] for r in results)


async def test_a_cursor_from_another_list_or_garbage_is_refused(academy: Academy) -> None:
    for code in ("KZ-AST", "AM-YER"):
        await open_academy(academy.client, academy.bus, academy.database_url, code)
    first = await academy.client.get("/v1/academies", params={"limit": 1}, headers=ADMIN)
    cursor = first.json()["next_cursor"]
    assert cursor
    for path, value in (
        ("/v1/cohorts", cursor),  # another list's cursor
        ("/v1/academies", "bm90LWpzb24"),  # base64 of something else
        ("/v1/academies", "not a cursor!"),
    ):
        response = await academy.client.get(path, params={"cursor": value}, headers=ADMIN)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "cursor" in response.json()["detail"]
