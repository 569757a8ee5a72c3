"""Cohorts: capacity under concurrency, the waitlist, withdrawal, bulk enrolment, prerequisites,
single-module cohorts, results with re-sits, corrections and failure."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from wps_common.events.contracts import ModuleFacts, ModulePublished
from wps_common.testing import EventTap, publish_event, wait_until
from wps_enrolment.models import CurriculumModule

from .conftest import TRACK, Academy, known, open_academy


def tap_all(academy: Academy) -> EventTap:
    bus = academy.bus
    return EventTap(bus["nats_url"], bus["stream_name"], [f"{bus['subject_root']}.>"])


async def test_fifty_concurrent_enrolments_fill_ten_seats_exactly(academy: Academy) -> None:
    trainees = await academy.trainees(50)
    cohort = await academy.cohort(capacity=10)
    async with tap_all(academy) as tap:
        responses = await asyncio.gather(
            *(
                academy.client.post(
                    f"/v1/cohorts/{cohort['id']}/enrolments",
                    json={"trainee_id": t["id"]},
                    headers=academy.staff,
                )
                for t in trainees
            )
        )
        assert [r.status_code for r in responses] == [201] * 50, [r.text for r in responses]
        statuses = [r.json()["status"] for r in responses]
        assert statuses.count("enrolled") == 10 and statuses.count("waitlisted") == 40
        events = await tap.wait_for("trainee.enrolled", count=50)
    assert sorted(e.data["status"] for e in events).count("enrolled") == 10
    detail = (await academy.client.get(f"/v1/cohorts/{cohort['id']}", headers=academy.staff)).json()
    assert (detail["seats_taken"], detail["seats_free"], detail["waitlisted"]) == (10, 0, 40)


async def test_withdrawal_promotes_the_first_on_the_waitlist(academy: Academy) -> None:
    first, second, third, fourth = await academy.trainees(4)
    cohort = await academy.cohort(capacity=2)
    seated = await academy.enrol(cohort["id"], first["id"])
    await academy.enrol(cohort["id"], second["id"])
    waiting = await academy.enrol(cohort["id"], third["id"])
    last = await academy.enrol(cohort["id"], fourth["id"])
    assert (waiting["status"], last["status"]) == ("waitlisted", "waitlisted")
    again = await academy.enrol(cohort["id"], third["id"], status=409)
    assert again["enrolment_id"] == waiting["id"]
    async with tap_all(academy) as tap:
        # A waitlisted trainee leaving frees no seat; a seated one promotes the next in line.
        out = await academy.client.post(
            f"/v1/enrolments/{last['id']}/withdraw",
            json={"reason_code": "operational"},
            headers=academy.staff,
        )
        assert out.json()["promoted"] is None
        response = await academy.client.post(
            f"/v1/enrolments/{seated['id']}/withdraw",
            json={"reason_code": "medical", "note": "broken leg"},
            headers=academy.staff,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["enrolment"]["status"] == "withdrawn"
        assert body["enrolment"]["withdrawal_reason"] == "medical"
        assert body["promoted"]["id"] == waiting["id"]
        assert body["promoted"]["status"] == "enrolled"
        withdrawn = await tap.wait_for("enrolment.withdrawn", count=2)

        async def promotion() -> list[Any]:
            return [
                e
                for e in tap.of_type("trainee.enrolled")
                if e.data["enrolment_id"] == waiting["id"]
            ]

        promoted = await wait_until(promotion, what="the promotion event")
    # A medical withdrawal is personal data: HR's stream says `other` (ADR 0018).
    assert {e.data["reason_code"] for e in withdrawn} == {"operational", "other"}
    assert not any("medical" in raw.decode() for raw in tap.raw)
    assert [e.data["status"] for e in promoted] == ["waitlisted", "enrolled"]
    assert all(b"broken leg" not in raw for raw in tap.raw)
    twice = await academy.client.post(
        f"/v1/enrolments/{seated['id']}/withdraw",
        json={"reason_code": "other"},
        headers=academy.staff,
    )
    assert twice.status_code == 409
    bad_reason = await academy.client.post(
        f"/v1/enrolments/{waiting['id']}/withdraw",
        json={"reason_code": "bored"},
        headers=academy.staff,
    )
    assert bad_reason.status_code == 422
    listing = await academy.client.get(
        f"/v1/cohorts/{cohort['id']}/enrolments", headers=academy.staff
    )
    assert [(e["trainee_id"], e["status"]) for e in listing.json()["items"]] == [
        (second["id"], "enrolled"),
        (third["id"], "enrolled"),
        (first["id"], "withdrawn"),
        (fourth["id"], "withdrawn"),
    ]
    # A withdrawn trainee may come back: to the waitlist, as the cohort is full.
    back = await academy.enrol(cohort["id"], first["id"])
    assert (back["id"], back["status"]) == (seated["id"], "waitlisted")


async def test_bulk_enrolment_is_all_or_nothing(academy: Academy) -> None:
    a, b, c = await academy.trainees(3)
    cohort = await academy.cohort(capacity=2)
    url = f"/v1/cohorts/{cohort['id']}/enrolments/bulk"
    await academy.enrol(cohort["id"], c["id"])
    refused = await academy.client.post(
        url, json={"trainee_ids": [a["id"], c["id"]]}, headers=academy.staff
    )
    assert refused.status_code == 409 and c["id"] in refused.json()["detail"]
    unknown = await academy.client.post(
        url, json={"trainee_ids": [a["id"], "nobody"]}, headers=academy.staff
    )
    assert unknown.status_code == 422 and "nobody" in unknown.json()["detail"]
    listing = await academy.client.get(
        f"/v1/cohorts/{cohort['id']}/enrolments", headers=academy.staff
    )
    assert listing.json()["total"] == 1
    done = await academy.client.post(
        url, json={"trainee_ids": [a["id"], b["id"]]}, headers=academy.staff
    )
    assert done.status_code == 201, done.text
    assert [e["trainee_id"] for e in done.json()["enrolled"]] == [a["id"]]
    assert [e["trainee_id"] for e in done.json()["waitlisted"]] == [b["id"]]
    deactivated = await academy.client.post(
        f"/v1/trainees/{b['id']}/deactivate", headers=academy.staff
    )
    assert deactivated.json()["active"] is False
    other = await academy.cohort()
    assert (
        await academy.client.post(
            f"/v1/cohorts/{other['id']}/enrolments",
            json={"trainee_id": b["id"]},
            headers=academy.staff,
        )
    ).status_code == 409


ADVANCED = ModuleFacts(
    code="WPS-201",
    version=1,
    content_hash="d" * 64,
    title={"en": "Gender-responsive policing, advanced"},
    duration_hours=8,
    assessment="practical",
    pass_mark=60,
    min_attendance_pct=90,
    prerequisites=["WPS-101"],
)


async def test_single_module_cohort_checks_prerequisites(academy: Academy) -> None:
    await publish_event(
        academy.bus, ModulePublished(module=ADVANCED, published_at=datetime.now(UTC))
    )
    await wait_until(
        lambda: known(academy.database_url, CurriculumModule, "WPS-201"), what="WPS-201"
    )
    trainee, novice = await academy.trainees(2)
    advanced = await academy.client.post(
        "/v1/cohorts",
        json={
            "academy_id": academy.academy_id,
            "module_code": "WPS-201",
            "title": "Advanced",
            "starts_on": "2026-12-01",
            "ends_on": "2026-12-02",
            "capacity": 5,
            "max_attempts": 1,
        },
        headers=academy.staff,
    )
    assert advanced.status_code == 201, advanced.text
    cohort = advanced.json()
    assert (cohort["module_code"], cohort["module_version"], cohort["track_code"]) == (
        "WPS-201",
        1,
        None,
    )
    refused = await academy.enrol(cohort["id"], trainee["id"], status=409)
    assert refused["missing_prerequisites"] == {trainee["id"]: ["WPS-101"]}
    # A person reads the refusal: it names the trainee by employee number, not by id.
    number = trainee["employee_number"]
    assert f"employee number {number} has not completed WPS-101" in refused["detail"]
    assert trainee["id"] not in refused["detail"]
    foundation = await academy.cohort()
    enrolment = await academy.enrol(foundation["id"], trainee["id"])
    await academy.result(enrolment["id"], "WPS-101", 100, 80)
    seat = await academy.enrol(cohort["id"], trainee["id"])
    assert seat["status"] == "enrolled"
    async with tap_all(academy) as tap:
        failed = await academy.result(seat["id"], "WPS-201", 100, 10)
        assert failed["enrolment"]["status"] == "failed"  # one attempt allowed in this cohort
        [event] = await tap.wait_for("enrolment.failed")
    assert event.data["curriculum"] == "module" and event.data["attempts"] == 1
    both = await academy.client.post(
        "/v1/cohorts",
        json={
            "academy_id": academy.academy_id,
            "module_code": "WPS-201",
            "track_code": "GHR-FOUND",
            "title": "x",
            "starts_on": "2026-12-01",
            "ends_on": "2026-12-02",
            "capacity": 5,
        },
        headers=academy.staff,
    )
    assert both.status_code == 422 and "exactly one" in both.json()["detail"]
    assert novice  # enrolled in nothing: only the listed trainee is affected


async def test_resits_corrections_and_failure_after_the_last_attempt(academy: Academy) -> None:
    passer, failer = await academy.trainees(2)
    cohort = await academy.cohort()
    ok = await academy.enrol(cohort["id"], passer["id"])
    bad = await academy.enrol(cohort["id"], failer["id"])
    async with tap_all(academy) as tap:
        first = await academy.result(ok["id"], "WPS-101", 100, 95)
        # The instructor mistyped: the correction replaces the pass with a fail, same attempt.
        fixed = await academy.result(ok["id"], "WPS-101", 100, 55, corrects=first["result"]["id"])
        assert (fixed["result"]["attempt"], fixed["result"]["passed"]) == (1, False)
        stale = await academy.result(
            ok["id"], "WPS-101", 100, 90, corrects=first["result"]["id"], status=422
        )
        assert "latest" in stale["detail"]
        resit = await academy.result(ok["id"], "WPS-101", 100, 71)
        assert (resit["result"]["attempt"], resit["result"]["passed"]) == (2, True)
        await academy.result(ok["id"], "WPS-101", 100, 99, status=409)  # passed: no new attempt
        for attempt, score in enumerate((10, 20, 30), start=1):
            body = await academy.result(bad["id"], "WPS-101", 100, score)
            assert body["result"]["attempt"] == attempt
        assert body["enrolment"]["status"] == "failed"
        assert body["enrolment"]["failed_on"] is not None
        await academy.result(bad["id"], "WPS-101", 100, 90, status=409)
        [failed] = await tap.wait_for("enrolment.failed")
        completed = await tap.wait_for("module.completed")
    assert failed.data["enrolment_id"] == bad["id"] and failed.data["attempts"] == 3
    assert failed.data["module_code"] == "WPS-101" and failed.data["track_code"] == "GHR-FOUND"
    # module.completed is announced once per module: the correction does not re-announce it
    assert [e.data["score"] for e in completed] == [95.0] or [
        e.data["score"] for e in completed
    ] == [71.0]
    history = await academy.client.get(f"/v1/enrolments/{ok['id']}/results", headers=academy.staff)
    assert [(r["attempt"], r["score"], r["corrects"]) for r in history.json()["items"]] == [
        (1, 95.0, None),
        (1, 55.0, first["result"]["id"]),
        (2, 71.0, None),
    ]


async def test_bulk_results_for_a_cohort_are_all_or_nothing(academy: Academy) -> None:
    trainees = await academy.trainees(3)
    cohort = await academy.cohort()
    for t in trainees:
        await academy.enrol(cohort["id"], t["id"])
    url = f"/v1/cohorts/{cohort['id']}/results"
    entries: list[dict[str, Any]] = [
        {"trainee_id": t["id"], "module_code": "WPS-101", "attendance_pct": 100, "score": 80}
        for t in trainees
    ]
    broken = [
        *entries[:2],
        {**entries[2], "module_code": "NOPE"},
        {**entries[0], "trainee_id": "x"},
    ]
    refused = await academy.client.post(url, json={"entries": broken}, headers=academy.instructor)
    assert refused.status_code == 422, refused.text
    fields = [e["field"] for e in refused.json()["errors"]]
    assert fields == ["entries.2.module_code", "entries.3.trainee_id"]
    history = await academy.client.get(
        f"/v1/cohorts/{cohort['id']}/enrolments", headers=academy.staff
    )
    for enrolment in history.json()["items"]:
        results = await academy.client.get(
            f"/v1/enrolments/{enrolment['id']}/results", headers=academy.staff
        )
        assert results.json()["items"] == []
    entries += [
        {"trainee_id": t["id"], "module_code": "HR-102", "attendance_pct": 100} for t in trainees
    ]
    done = await academy.client.post(url, json={"entries": entries}, headers=academy.instructor)
    assert done.status_code == 201, done.text
    statuses = [r["enrolment"]["status"] for r in done.json()["results"]]
    assert statuses[-3:] == ["completed"] * 3


async def test_only_the_cohorts_instructors_enter_its_results(academy: Academy) -> None:
    trainee = await academy.trainee()
    response = await academy.client.post(
        "/v1/cohorts",
        json={
            "academy_id": academy.academy_id,
            "track_code": "GHR-FOUND",
            "title": "Taught by one",
            "starts_on": "2026-11-02",
            "ends_on": "2026-11-06",
            "capacity": 3,
            "instructors": ["instructor-7"],
        },
        headers=academy.staff,
    )
    cohort = response.json()
    enrolment = await academy.enrol(cohort["id"], trainee["id"])
    body = {"module_code": "WPS-101", "attendance_pct": 100, "score": 90}
    from wps_common.testing import auth

    stranger = auth("instructor", academy_id=academy.academy_id, sub="instructor-8")
    teacher = auth("instructor", academy_id=academy.academy_id, sub="instructor-7")
    path = f"/v1/enrolments/{enrolment['id']}/results"
    assert (await academy.client.post(path, json=body, headers=stranger)).status_code == 403
    assert (await academy.client.post(path, json=body, headers=teacher)).status_code == 201


async def test_other_tenants_ids_are_not_found(academy: Academy) -> None:
    trainee = await academy.trainee()
    cohort = await academy.cohort()
    enrolment = await academy.enrol(cohort["id"], trainee["id"])
    other = await open_academy(academy.client, academy.bus, academy.database_url, code="AM-YER")
    own = await other.trainee("O-1")
    probes: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/v1/enrolments/{enrolment['id']}", None),
        ("GET", f"/v1/enrolments/{enrolment['id']}/results", None),
        ("GET", f"/v1/cohorts/{cohort['id']}/enrolments", None),
        ("GET", f"/v1/trainees/{trainee['id']}/history", None),
        ("GET", f"/v1/trainees/{trainee['id']}/compliance", None),
        ("GET", f"/v1/trainees/{trainee['id']}/enrolments", None),
        ("PATCH", f"/v1/trainees/{trainee['id']}", {"rank": "General"}),
        ("PATCH", f"/v1/academies/{academy.academy_id}", {"name": "Mine now"}),
        ("POST", f"/v1/trainees/{trainee['id']}/deactivate", None),
        ("POST", f"/v1/enrolments/{enrolment['id']}/withdraw", {"reason_code": "other"}),
        (
            "POST",
            f"/v1/enrolments/{enrolment['id']}/results",
            {"module_code": "WPS-101", "attendance_pct": 1, "score": 1},
        ),
        ("POST", f"/v1/cohorts/{cohort['id']}/enrolments", {"trainee_id": own["id"]}),
        (
            "POST",
            f"/v1/cohorts/{cohort['id']}/results",
            {
                "entries": [
                    {
                        "trainee_id": trainee["id"],
                        "module_code": "WPS-101",
                        "attendance_pct": 1,
                        "score": 1,
                    }
                ]
            },
        ),
        ("PUT", f"/v1/trainees/{trainee['id']}/exemptions/REQ-1", {"reason": "secondment"}),
        ("GET", f"/v1/compliance?academy_id={academy.academy_id}", None),
        ("GET", f"/v1/reports/participation?academy_id={academy.academy_id}", None),
        ("GET", f"/v1/trainees?academy_id={academy.academy_id}", None),
    ]
    for method, path, body in probes:
        response = await academy.client.request(method, path, json=body, headers=other.staff)
        assert response.status_code == 404, (method, path, response.text)
    # Lists without a filter show only the caller's own academy.
    mine = await academy.client.get("/v1/trainees", headers=other.staff)
    assert [t["id"] for t in mine.json()["items"]] == [own["id"]]
    cohorts = await academy.client.get("/v1/cohorts", headers=other.staff)
    assert cohorts.json()["total"] == 0
    academies = await academy.client.get("/v1/academies", headers=other.staff)
    assert [a["id"] for a in academies.json()["items"]] == [other.academy_id]
    unchanged = await academy.client.get(f"/v1/enrolments/{enrolment['id']}", headers=academy.staff)
    assert unchanged.json()["status"] == "enrolled"
    assert TRACK.code == cohort["track_code"]


async def test_trainees_search_filter_and_page_stably(academy: Academy) -> None:
    for i, (family, unit) in enumerate(
        [
            ("Beridze", "Patrol"),
            ("Abashidze", "Border"),
            ("Beridze", "Border"),
            ("Chkheidze", "Patrol"),
        ]
    ):
        await academy.trainee(f"S-{i}", family_name=family, given_name=f"G{i}", unit=unit)
    url = "/v1/trainees"
    page1 = (await academy.client.get(url + "?limit=2", headers=academy.staff)).json()
    page2 = (await academy.client.get(url + "?limit=2&offset=2", headers=academy.staff)).json()
    assert page1["total"] == page2["total"] == 4
    names = [t["family_name"] for t in page1["items"] + page2["items"]]
    assert names == ["Abashidze", "Beridze", "Beridze", "Chkheidze"]
    border = (await academy.client.get(url + "?unit=Border&q=beri", headers=academy.staff)).json()
    assert [t["employee_number"] for t in border["items"]] == ["S-2"]
    patched = await academy.client.patch(
        f"/v1/trainees/{border['items'][0]['id']}",
        json={"rank": "Major", "given_name": None},
        headers=academy.staff,
    )
    assert patched.status_code == 422  # a required field cannot be cleared
    patched = await academy.client.patch(
        f"/v1/trainees/{border['items'][0]['id']}", json={"rank": "Major"}, headers=academy.staff
    )
    assert patched.json()["rank"] == "Major"
    taken = await academy.client.patch(
        f"/v1/trainees/{border['items'][0]['id']}",
        json={"employee_number": "S-0"},
        headers=academy.staff,
    )
    assert taken.status_code == 409


async def test_a_trainees_enrolments_say_what_cohort_they_are_in(academy: Academy) -> None:
    """A trainee may not read cohorts: their own enrolments carry the cohort's title,
    training, dates and place."""
    trainee = await academy.trainee()
    cohort = await academy.cohort()
    await academy.enrol(cohort["id"], trainee["id"])
    listed = await academy.client.get(
        f"/v1/trainees/{trainee['id']}/enrolments", headers=academy.staff
    )
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    shown = {k: cohort[k] for k in ("id", "title", "track_code", "starts_on", "ends_on")}
    assert {k: item["cohort"][k] for k in shown} == shown
    assert "capacity" not in item["cohort"] and "instructors" not in item["cohort"]
