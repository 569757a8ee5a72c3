"""Recognised training over HTTP: recorded with its evidence by one academy admin, approved or
rejected by another, counted towards compliance (shown as recognised), scoped to the academy."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any

import pytest

from wps_common.events.contracts import (
    ClearanceItem,
    ClearanceProfileChanged,
    RequirementChanged,
    Selector,
)
from wps_common.testing import EventTap, auth, publish_event, wait_until

from .conftest import Academy, open_academy

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


class Clock:
    def __init__(self, day: date) -> None:
        self.now = datetime(day.year, day.month, day.day, 6, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


REQUIREMENT = RequirementChanged(
    requirement_code="REQ-GHR",
    revision=1,
    change="created",
    title={"en": "Gender and human rights foundation"},
    selector=Selector(),
    track_code="GHR-FOUND",
    grace_period_days=30,
    renewal_months=24,
    reminder_days=[60],
    changed_at=datetime(2026, 1, 1, tzinfo=UTC),
)


def form(trainee_id: str, **changes: Any) -> dict[str, str]:
    fields = {
        "trainee_id": trainee_id,
        "track_code": "GHR-FOUND",
        "issuer": "OSCE Academy, Bishkek",
        "completed_on": "2026-03-10",
        "note": "Two-week residential course",
        **changes,
    }
    return {k: v for k, v in fields.items() if v is not None}


async def record(
    academy: Academy,
    trainee_id: str,
    *,
    headers: dict[str, str] | None = None,
    evidence: tuple[str, bytes, str] | None = ("certificate.pdf", PDF, "application/pdf"),
    **changes: Any,
) -> Any:
    files = {"evidence": evidence} if evidence else {"nothing": ("x", b"", "text/plain")}
    request = academy.client.build_request(
        "POST",
        "/v1/recognitions",
        data=form(trainee_id, **changes),
        files=files,
        headers=headers or academy.staff,
    )
    request.read()
    response = await academy.client.send(request)
    response.extensions["request"] = request  # to send again, byte for byte
    return response


@pytest.fixture
async def setting(academy: Academy) -> dict[str, Any]:
    academy.app.state.runtime.clock = Clock(date(2026, 6, 1))
    trainee = await academy.trainee("R-1", start_date="2026-01-01")
    await publish_event(academy.bus, REQUIREMENT)

    async def overdue() -> bool:
        rows = (
            await academy.client.get(
                f"/v1/trainees/{trainee['id']}/compliance", headers=academy.staff
            )
        ).json()
        return [r["status"] for r in rows] == ["overdue"]

    await wait_until(overdue, what="the requirement to apply")
    recorder = auth("academy_admin", academy_id=academy.academy_id, sub="recorder-1")
    approver = auth("academy_admin", academy_id=academy.academy_id, sub="approver-2")
    return {"trainee": trainee, "recorder": recorder, "approver": approver}


async def test_recorded_then_approved_by_another_admin_counts_as_recognised(
    academy: Academy, setting: dict[str, Any]
) -> None:
    trainee, recorder, approver = setting["trainee"], setting["recorder"], setting["approver"]
    keyed = {**recorder, "Idempotency-Key": "recognition-1"}
    created = await record(academy, trainee["id"], headers=keyed)
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["Location"] == f"/v1/recognitions/{body['id']}"
    assert body["status"] == "pending" and body["recorded_by"] == "recorder-1"
    assert body["evidence"] == {
        "name": "certificate.pdf",
        "media_type": "application/pdf",
        "size": len(PDF),
        "sha256": hashlib.sha256(PDF).hexdigest(),
    }
    again = await academy.client.send(created.extensions["request"])
    assert again.json()["id"] == body["id"]  # a retried request is answered as the first
    # A client sending the form again picks another multipart boundary: still the same request.
    anew = await record(academy, trainee["id"], headers=keyed)
    assert anew.extensions["request"].content != created.extensions["request"].content
    assert anew.status_code == 201, anew.text
    assert anew.json()["id"] == body["id"] and anew.headers["idempotent-replayed"] == "true"

    pending = (await academy.client.get("/v1/recognitions?status=pending", headers=approver)).json()
    assert [r["id"] for r in pending["items"]] == [body["id"]] and pending["total"] == 1

    evidence = await academy.client.get(f"/v1/recognitions/{body['id']}/evidence", headers=approver)
    assert evidence.status_code == 200 and evidence.content == PDF
    assert evidence.headers["content-type"] == "application/pdf"
    assert evidence.headers["content-disposition"] == 'attachment; filename="certificate.pdf"'

    own = await academy.client.post(f"/v1/recognitions/{body['id']}/approve", headers=recorder)
    assert own.status_code == 403, own.text
    assert "another academy admin" in own.json()["detail"]
    assert own.json()["type"].endswith("/problems/recognition/recorder-decides")

    bus = academy.bus
    async with EventTap(
        bus["nats_url"], bus["stream_name"], [f"{bus['subject_root']}.enrolment.compliance.>"]
    ) as tap:
        approved = await academy.client.post(
            f"/v1/recognitions/{body['id']}/approve", headers=approver
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved"
        assert approved.json()["decided_by"] == "approver-2"
        # Re-evaluated in the approving transaction: the status is there when the answer is.
        [row] = (
            await academy.client.get(
                f"/v1/trainees/{trainee['id']}/compliance", headers=academy.staff
            )
        ).json()
        assert (row["status"], row["due_on"], row["basis"]) == (
            "compliant",
            "2028-03-10",
            "recognised",
        )
        assert row["recognition_id"] == body["id"] and row["certificate_id"] is None

        async def announced() -> list[Any]:
            return [e for e in tap.of_type("compliance.changed") if e.data["status"] == "compliant"]

        [changed] = await wait_until(announced, what="compliance.changed to compliant")
    assert changed.data["previous_status"] == "overdue"
    assert changed.data["trainee_id"] == trainee["id"]

    twice = await academy.client.post(f"/v1/recognitions/{body['id']}/approve", headers=approver)
    assert twice.status_code == 409 and "already approved" in twice.json()["detail"]
    trail = (
        await academy.client.get(f"/v1/recognitions/{body['id']}/history", headers=approver)
    ).json()
    assert [(e["action"], e["actor"]) for e in trail["items"]] == [
        ("recorded", "recorder-1"),
        ("approved", "approver-2"),
    ]
    # The record names who recorded and who decided (the names the audit trail keeps).
    named = (await academy.client.get(f"/v1/recognitions/{body['id']}", headers=approver)).json()
    assert (named["recorded_by_name"], named["decided_by_name"]) == ("recorder-1", "approver-2")
    listed = (await academy.client.get("/v1/recognitions", headers=approver)).json()["items"]
    assert [(r["recorded_by_name"], r["decided_by_name"]) for r in listed] == [
        ("recorder-1", "approver-2")
    ]


def test_a_file_name_in_any_script_has_a_readable_ascii_stand_in() -> None:
    from wps_enrolment.api.recognitions import _attachment

    kazakh = _attachment("Куәлік Қазақстан.pdf", "r-1")
    assert kazakh.startswith("attachment; filename=\"Kualik Qazaqstan.pdf\"; filename*=UTF-8''")
    assert _attachment("证书.png", "r-2").startswith('attachment; filename="evidence-r-2.png";')
    assert _attachment("scan.pdf", "r-3") == 'attachment; filename="scan.pdf"'


async def test_rejected_with_a_reason_counts_for_nothing(
    academy: Academy, setting: dict[str, Any]
) -> None:
    trainee, recorder, approver = setting["trainee"], setting["recorder"], setting["approver"]
    created = await record(
        academy,
        trainee["id"],
        headers=recorder,
        evidence=("C:\\scans\\Сертификат ОБСЕ.jpg", JPEG, "image/jpeg"),
    )
    assert created.json()["evidence"]["media_type"] == "image/jpeg"
    assert created.json()["evidence"]["name"] == "Сертификат ОБСЕ.jpg"  # no path kept
    path = f"/v1/recognitions/{created.json()['id']}"
    download = await academy.client.get(f"{path}/evidence", headers=approver)
    assert download.status_code == 200 and download.content == JPEG
    assert download.headers["content-type"] == "image/jpeg"
    assert download.headers["content-disposition"] == (
        'attachment; filename="Sertifikat OBSE.jpg"; '
        "filename*=UTF-8''%D0%A1%D0%B5%D1%80%D1%82%D0%B8%D1%84%D0%B8%D0%BA%D0%B0%D1%82%20"
        "%D0%9E%D0%91%D0%A1%D0%95.jpg"
    )
    no_reason = await academy.client.post(f"{path}/reject", json={}, headers=approver)
    assert no_reason.status_code == 422
    rejected = await academy.client.post(
        f"{path}/reject", json={"reason": "The course did not cover SEAH."}, headers=approver
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["decision_reason"] == "The course did not cover SEAH."
    rows = (
        await academy.client.get(f"/v1/trainees/{trainee['id']}/compliance", headers=recorder)
    ).json()
    assert [(r["status"], r["basis"]) for r in rows] == [("overdue", None)]
    late = await academy.client.post(f"{path}/approve", headers=approver)
    assert late.status_code == 409


BAD = [
    pytest.param({"evidence": ("a.txt", b"hello", "text/plain")}, 415, "evidence", id="text"),
    pytest.param(
        {"evidence": ("a.pdf", b"GIF89a" + b"\x00" * 10, "application/pdf")},
        415,
        "evidence",
        id="named_pdf_but_a_gif",
    ),
    pytest.param(
        {"evidence": ("big.png", PNG + b"\x00" * (5 * 1024 * 1024), "image/png")},
        413,
        "evidence",
        id="over_5_MiB",
    ),
    pytest.param(
        {"evidence": ("big.pdf", b"%PDF-" + b"\x00" * (6 * 1024 * 1024), "application/pdf")},
        413,
        "evidence",
        id="request_far_over_5_MiB",
    ),
    pytest.param({"evidence": ("e.pdf", b"", "application/pdf")}, 422, "evidence", id="empty"),
    pytest.param({"evidence": None}, 422, "evidence", id="no_file"),
    pytest.param({"track_code": "ZZZ-NONE"}, 422, "track_code", id="unknown_track"),
    pytest.param({"track_code": "lower case"}, 422, "track_code", id="malformed_track"),
    pytest.param({"completed_on": "2027-01-01"}, 422, "completed_on", id="in_the_future"),
    pytest.param({"completed_on": "10.03.2026"}, 422, "completed_on", id="not_a_date"),
    pytest.param({"completed_on": None}, 422, "completed_on", id="no_date"),
    pytest.param({"valid_until": "2026-03-01"}, 422, "valid_until", id="ends_before_it_began"),
    pytest.param({"issuer": None}, 422, "issuer", id="no_issuer"),
    pytest.param({"surprise": "x"}, 422, "surprise", id="unknown_field"),
]


@pytest.mark.parametrize(("changes", "status", "field"), BAD)
async def test_bad_records_are_refused_with_a_sentence(
    academy: Academy, setting: dict[str, Any], changes: dict[str, Any], status: int, field: str
) -> None:
    response = await record(academy, setting["trainee"]["id"], **changes)
    assert response.status_code == status, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["detail"]
    if status == 422:
        assert any(e["field"].endswith(field) for e in problem["errors"]), problem
    listed = (await academy.client.get("/v1/recognitions", headers=academy.staff)).json()
    assert listed["total"] == 0


@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        ({"evidence": ("e.pdf", b"", "application/pdf")}, "recognition/empty-evidence"),
        ({"completed_on": "2027-01-01"}, "recognition/completed-in-future"),
        ({"valid_until": "2026-03-01"}, "recognition/valid-until-before-completion"),
        ({"evidence": ("a.txt", b"hello", "text/plain")}, "unsupported-media-type"),
    ],
)
async def test_each_refusal_has_a_type_a_page_can_say_in_its_language(
    academy: Academy, setting: dict[str, Any], changes: dict[str, Any], kind: str
) -> None:
    response = await record(academy, setting["trainee"]["id"], **changes)
    assert response.json()["type"] == f"https://wps-training.org/problems/{kind}", response.text


async def test_another_academy_sees_nothing(academy: Academy, setting: dict[str, Any]) -> None:
    created = await record(academy, setting["trainee"]["id"], headers=setting["recorder"])
    other = await open_academy(academy.client, academy.bus, academy.database_url, code="KZ-AST")
    path = f"/v1/recognitions/{created.json()['id']}"
    for method, url in (
        ("GET", path),
        ("GET", f"{path}/evidence"),
        ("GET", f"{path}/history"),
        ("POST", f"{path}/approve"),
    ):
        response = await academy.client.request(method, url, headers=other.staff)
        assert response.status_code == 404, (method, url, response.text)
    listed = (await academy.client.get("/v1/recognitions", headers=other.staff)).json()
    assert listed["total"] == 0
    named = await academy.client.get(
        f"/v1/recognitions?academy_id={academy.academy_id}", headers=other.staff
    )
    assert named.status_code == 404
    foreign = await record(academy, setting["trainee"]["id"], headers=other.staff)
    assert foreign.status_code == 404
    for role in ("instructor", "hr", "trainee"):
        who = auth(role, academy_id=academy.academy_id)
        assert (await academy.client.get(path, headers=who)).status_code == 403
    # An admin of the platform sees and decides for every academy.
    approved = await academy.client.post(f"{path}/approve", headers=auth("admin", sub="root"))
    assert approved.status_code == 200, approved.text


async def test_approved_recognition_clears_for_a_deployment(
    academy: Academy, setting: dict[str, Any]
) -> None:
    """Deployment clearance reads approved recognised training as a holding of its track:
    the track and the modules in it, until the track's validity from the completion date."""
    trainee, recorder, approver = setting["trainee"], setting["recorder"], setting["approver"]
    await publish_event(
        academy.bus,
        ClearanceProfileChanged(
            profile_code="PKO-TEST",
            revision=1,
            change="created",
            title={"en": "Pre-deployment"},
            items=[
                ClearanceItem(kind="track", code="GHR-FOUND"),
                ClearanceItem(kind="module", code="WPS-101"),
            ],
            active=True,
            changed_at=datetime(2026, 1, 1, tzinfo=UTC),
        ),
    )
    ask = f"/v1/clearance?employee_number={trainee['employee_number']}&profile=PKO-TEST"

    async def answered() -> Any:
        response = await academy.client.get(ask, headers=approver)
        return response.json() if response.status_code == 200 else None

    before = await wait_until(answered, what="the profile to reach enrolment")
    assert before["cleared"] is False
    created = await record(academy, trainee["id"], headers=recorder)
    pending = (await academy.client.get(ask, headers=approver)).json()
    assert pending["cleared"] is False  # pending training clears nobody
    await academy.client.post(f"/v1/recognitions/{created.json()['id']}/approve", headers=approver)
    after = (await academy.client.get(f"{ask}&until=2027-06-30", headers=approver)).json()
    assert after["cleared"] is True
    assert {(i["code"], i["status"], i["basis"], i["expires_on"]) for i in after["items"]} == {
        ("GHR-FOUND", "met", "recognised", "2028-03-10"),
        ("WPS-101", "met", "recognised", "2028-03-10"),
    }
    assert all(i["recognition_id"] == created.json()["id"] for i in after["items"])
    late = (await academy.client.get(f"{ask}&until=2028-06-30", headers=approver)).json()
    assert [i["status"] for i in late["items"]] == ["expires", "expires"]


async def test_the_completion_day_is_the_academy_s_own_today(
    academy: Academy, setting: dict[str, Any]
) -> None:
    """At 20:00 UTC it is already the next day in Almaty: a course finished that day is not in
    the future, the day after is."""
    changed = await academy.client.patch(
        f"/v1/academies/{academy.academy_id}",
        json={"time_zone": "Asia/Almaty"},
        headers=auth("admin"),
    )
    assert changed.status_code == 200, changed.text
    academy.app.state.runtime.clock.now = datetime(2026, 6, 1, 20, tzinfo=UTC)
    trainee_id = setting["trainee"]["id"]
    ahead = await record(academy, trainee_id, completed_on="2026-06-03")
    assert ahead.json()["type"].endswith("recognition/completed-in-future"), ahead.text
    local_today = await record(academy, trainee_id, completed_on="2026-06-02")
    assert local_today.status_code == 201, local_today.text
