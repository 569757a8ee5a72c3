"""The whole academy day through the API alone: HR CSV → cohort → enrolment → results →
completion events → compliance flips when the certificates arrive → a suppressed gender report.
Then the suppression rules on their own."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime

from wps_common.events.contracts import CertificateIssued, RequirementChanged, Selector
from wps_common.testing import EventTap, publish_event, wait_until
from wps_enrolment.reports import Cell, suppress

from .conftest import Academy


async def test_an_academy_day(academy: Academy) -> None:
    bus = academy.bus
    genders = ["F"] * 7 + ["M"] * 12 + ["other"] * 2 + [""] * 1  # 22 people
    lines = ["employee_number,family_name,given_name,gender,rank,unit,start_date"]
    for i, gender in enumerate(genders):
        lines.append(f"D-{i:03d},Family{i},Given{i},{gender},Lieutenant,Unit{i % 2},2026-01-01")
    async with EventTap(bus["nats_url"], bus["stream_name"], [f"{bus['subject_root']}.>"]) as tap:
        await publish_event(
            bus,
            RequirementChanged(
                requirement_code="REQ-ALL",
                revision=1,
                change="created",
                title={"en": "Foundation for all officers"},
                selector=Selector(),
                track_code="GHR-FOUND",
                grace_period_days=30,
                renewal_months=None,
                reminder_days=[30],
                changed_at=datetime.now(UTC),
            ),
        )
        job = await academy.import_csv("\n".join(lines) + "\n")
        assert (job["status"], job["created_count"]) == ("succeeded", 22)
        trainees = (
            await academy.client.get(
                "/v1/trainees?limit=100&sort=employee_number", headers=academy.staff
            )
        ).json()["items"]

        async def all_due() -> bool:
            summary = (
                await academy.client.get("/v1/compliance/summary", headers=academy.staff)
            ).json()
            return bool(summary["by_status"]["due"] == 22)

        await wait_until(all_due, what="22 trainees due under the requirement")

        cohort = await academy.cohort(capacity=20)
        bulk = await academy.client.post(
            f"/v1/cohorts/{cohort['id']}/enrolments/bulk",
            json={"trainee_ids": [t["id"] for t in trainees]},
            headers=academy.staff,
        )
        assert bulk.status_code == 201, bulk.text
        assert (len(bulk.json()["enrolled"]), len(bulk.json()["waitlisted"])) == (20, 2)
        seated = bulk.json()["enrolled"]
        # Results for the seated: 18 pass both modules; two miss the attendance minimum.
        entries = []
        for n, enrolment in enumerate(seated):
            attendance = 50 if n >= 18 else 100
            entries.append(
                {
                    "trainee_id": enrolment["trainee_id"],
                    "module_code": "WPS-101",
                    "attendance_pct": 100,
                    "score": 88,
                }
            )
            entries.append(
                {
                    "trainee_id": enrolment["trainee_id"],
                    "module_code": "HR-102",
                    "attendance_pct": attendance,
                }
            )
        recorded = await academy.client.post(
            f"/v1/cohorts/{cohort['id']}/results",
            json={"entries": entries},
            headers=academy.instructor,
        )
        assert recorded.status_code == 201, recorded.text
        completions = await tap.wait_for("track.completed", count=18)
        assert len(tap.of_type("module.completed")) >= 20 + 18

        # Certification answers each completion with a certificate: compliance flips.
        for event in completions:
            data = event.data
            await publish_event(
                bus,
                CertificateIssued(
                    certificate_id=str(uuid.uuid5(uuid.NAMESPACE_URL, data["enrolment_id"])),
                    number=f"N-{data['employee_number']}",
                    enrolment_id=data["enrolment_id"],
                    trainee_id=data["trainee_id"],
                    employee_number=data["employee_number"],
                    academy_id=data["academy_id"],
                    track_code="GHR-FOUND",
                    track_version=1,
                    issued_on=date.fromisoformat(data["completed_on"]),
                    expires_on=date(2030, 1, 1),
                ),
            )

        async def flipped() -> bool:
            summary = (
                await academy.client.get("/v1/compliance/summary", headers=academy.staff)
            ).json()
            return bool(
                summary["by_status"]["compliant"] == 18 and summary["by_status"]["due"] == 4
            )

        await wait_until(flipped, what="18 trainees to become compliant")
        changed = await tap.wait_for("compliance.changed", count=18)
        # The import's 22 first statuses came as one summary, not one event each.
        [summary] = await tap.wait_for("compliance.summarised", count=1)
    assert {e.data["status"] for e in changed} == {"compliant"}
    assert summary.data["changes"] == [
        {"requirement_code": "REQ-ALL", "status": "due", "count": 22}
    ]
    for raw in tap.raw:
        assert b"Family" not in raw and b"female" not in raw and b'"gender"' not in raw

    # The gender report: small cells are withheld, and so is enough else that they cannot be
    # recovered from the totals.
    report = (
        await academy.client.get("/v1/reports/completion?by=gender", headers=academy.staff)
    ).json()
    cells = {c["group"]: c for c in report["cells"]}
    # Only 2 of the 20 did not complete: even the overall count would single them out.
    assert (report["k"], report["overall"]["total"], report["overall"]["count"]) == (5, 20, None)
    assert cells["other"]["suppressed"] and cells["other"]["total"] is None
    # 7 women, 12 men and 1 "other" held seats: "other" alone would be recoverable from the
    # total, so another group is withheld with it: the men, not the women, whose figure a
    # gender report is read for (ADR 0030).
    assert cells["female"]["total"] == 7 and cells["male"]["total"] is None
    assert cells["male"]["count"] is None
    visible_totals = [c["total"] for c in report["cells"] if c["total"] is not None]
    hidden = [c for c in report["cells"] if c["total"] is None]
    assert len(hidden) >= 2 and 20 - sum(visible_totals) >= 5
    assert all(c["count"] is None for c in report["cells"] if c["suppressed"])
    participation = await academy.client.get(
        "/v1/reports/participation?by=unit&format=csv&from=2026-01-01&to=2026-12-31",
        headers=academy.staff,
    )
    assert participation.headers["content-type"].startswith("text/csv")
    rows = {r["group"]: r for r in csv.DictReader(io.StringIO(participation.text))}
    # 20 of 22 took part: the 2 on the waitlist would stand out, so no count is published.
    assert (rows["all"]["total"], rows["all"]["count"], rows["all"]["suppressed"]) == (
        "22",
        "",
        "true",
    )
    assert (rows["Unit0"]["total"], rows["Unit0"]["count"]) == ("11", "")
    compliance = (
        await academy.client.get("/v1/reports/compliance?by=track", headers=academy.staff)
    ).json()
    assert compliance["cells"] == [
        {"group": "GHR-FOUND", "count": None, "total": 22, "rate": None, "suppressed": True}
    ]  # 4 not compliant is fewer than k: the count is withheld
    bad_range = await academy.client.get(
        "/v1/reports/completion?from=2026-02-01&to=2026-01-01", headers=academy.staff
    )
    assert bad_range.status_code == 422
    instructor = await academy.client.get("/v1/reports/completion", headers=academy.instructor)
    assert instructor.status_code == 403


def cells(*rows: tuple[str, int, int]) -> list[Cell]:
    return [Cell(group, count, total) for group, count, total in rows]


def test_a_single_small_cell_takes_a_complement_with_it() -> None:
    groups = cells(("female", 3, 4), ("male", 40, 50), ("other", 10, 12))
    overall = Cell("all", 53, 66)
    suppress(groups, overall, 5)
    female, male, other = groups
    assert female.hide_total and female.hide_count
    # Without a second hidden total, 66 − 50 − 12 would give female's 4 back.
    assert other.hide_total and not male.hide_total
    assert not overall.hide_total and not overall.hide_count


def test_counts_are_withheld_when_too_few_meet_or_miss_the_measure() -> None:
    groups = cells(("a", 18, 20), ("b", 10, 20), ("c", 10, 20))
    overall = Cell("all", 38, 60)
    suppress(groups, overall, 5)
    a, b, c = groups
    assert a.hide_count and not a.hide_total  # only 2 did not complete
    assert b.hide_count or c.hide_count  # a complement, so 38 − b − c does not give a back
    assert sum(g.count for g in groups if g.hide_count) >= 5
    assert sum(g.total - g.count for g in groups if g.hide_count) >= 5


def test_nothing_is_withheld_when_every_cell_is_large() -> None:
    groups = cells(("a", 10, 20), ("b", 12, 30))
    overall = Cell("all", 22, 50)
    suppress(groups, overall, 5)
    assert not any(g.hide_count or g.hide_total for g in groups)


def test_a_small_overall_is_withheld_too() -> None:
    groups = cells(("a", 1, 2), ("b", 1, 1))
    overall = Cell("all", 2, 3)
    suppress(groups, overall, 5)
    assert overall.hide_total and all(g.hide_total for g in groups)
