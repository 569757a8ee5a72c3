"""The spine, end to end through REST only: curriculum → enrolment → certification → HR."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
from pypdf import PdfReader

from wps_common.testing import EventTap, wait_until
from wps_common.testing import auth as token

from .conftest import Platform

CLOUDEVENTS_SCHEMA = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "conformance"
    / "cloudevents-1.0.schema.json"
)
ADMIN = token("admin")
REVIEWER = token("reviewer", sub="reviewer-1")
PERSONAL_WORDS = ("Aigerim", "Suleimenova", "Айгерим", "female", "given_name", "family_name")


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def review_and_publish(curriculum: httpx.AsyncClient, version_path: str) -> None:
    """Four eyes: the author submits, a reviewer who did not write it approves, the author
    publishes."""
    for action, headers in (("submit", ADMIN), ("approve", REVIEWER), ("publish", ADMIN)):
        await ok(await curriculum.post(f"{version_path}/{action}", headers=headers))


async def publish_curriculum(curriculum: httpx.AsyncClient) -> None:
    module = {
        "code": "WPS-101",
        "title": {"en": "Women, Peace and Security", "ru": "Женщины, мир и безопасность"},
        "duration_hours": 6,
        "assessment": {"kind": "quiz", "pass_mark": 70},
        "min_attendance_pct": 80,
        "references": ["UNSCR 1325 (2000)"],
    }
    await ok(await curriculum.post("/v1/modules", json=module, headers=ADMIN), 201)
    await review_and_publish(curriculum, "/v1/modules/WPS-101/versions/1")
    track = {
        "code": "GHR-FOUND",
        "title": {
            "en": "Gender and human rights foundation",
            "ru": "Основы: гендер и права человека",
        },
        "certificate_title": {
            "en": "Gender and Human Rights Foundation",
            "ru": "Гендер и права человека: базовый курс",
        },
        "modules": [{"code": "WPS-101", "version": 1}],
        "validity_months": 24,
    }
    await ok(await curriculum.post("/v1/tracks", json=track, headers=ADMIN), 201)
    await review_and_publish(curriculum, "/v1/tracks/GHR-FOUND/versions/1")


async def test_a_passing_result_yields_one_verifiable_certificate(platform: Platform) -> None:
    root = platform.bus["subject_root"]
    async with EventTap(platform.bus["nats_url"], platform.bus["stream_name"], [f"{root}.>"]) as hr:
        await publish_curriculum(platform.curriculum)
        academy = await ok(
            await platform.enrolment.post(
                "/v1/academies",
                json={
                    "code": "KZ-AST",
                    "name": "Astana Police Academy",
                    "country": "KZ",
                    "languages": ["ru", "en"],
                },
                headers=ADMIN,
            ),
            201,
        )
        staff = token("academy_admin", academy_id=academy["id"])
        trainee = await ok(
            await platform.enrolment.post(
                "/v1/trainees",
                json={
                    "academy_id": academy["id"],
                    "employee_number": "KZ-000123",
                    "given_name": "Айгерим",
                    "family_name": "Сулейменова",
                    "preferred_language": "ru",
                    "gender": "female",
                    "rank": "Lieutenant",
                },
                headers=staff,
            ),
            201,
        )

        # The cohort can be opened once track.published has reached enrolment's read model.
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
        recorded = await ok(
            await platform.enrolment.post(
                f"/v1/enrolments/{enrolment['id']}/results",
                json={"module_code": "WPS-101", "attendance_pct": 100, "score": 86},
                headers=token("instructor", academy_id=academy["id"]),
            ),
            201,
        )
        assert recorded["result"]["passed"] is True
        assert recorded["enrolment"]["status"] == "completed"

        [completed] = await hr.wait_for("track.completed")
        [issued] = await hr.wait_for("certificate.issued")

    # HR sees ids and facts, never a name or gender, and every envelope is a valid CloudEvent.
    assert completed.data["trainee_id"] == trainee["id"]
    assert completed.data["employee_number"] == "KZ-000123"
    assert issued.data["enrolment_id"] == enrolment["id"]
    schema = json.loads(CLOUDEVENTS_SCHEMA.read_text()) if CLOUDEVENTS_SCHEMA.exists() else None
    for raw in hr.raw:
        text = raw.decode()
        assert not any(word in text for word in PERSONAL_WORDS), text
        if schema:
            jsonschema.validate(json.loads(raw), schema, format_checker=jsonschema.FormatChecker())
    types = sorted(e.type for e in hr.events)
    assert types.count("org.wps-training.enrolment.track.completed.v1") == 1
    assert types.count("org.wps-training.certification.certificate.issued.v1") == 1

    # The trainee downloads their certificate; it names them in Cyrillic.
    certificate_id = issued.data["certificate_id"]
    as_trainee = token("trainee", academy_id=academy["id"], sub=trainee["id"])
    pdf = await platform.certification.get(
        f"/v1/certificates/{certificate_id}.pdf", headers=as_trainee
    )
    assert pdf.status_code == 200, pdf.text
    assert pdf.content.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Айгерим Сулейменова" in text
    certificate = await ok(
        await platform.certification.get(f"/v1/certificates/{certificate_id}", headers=as_trainee)
    )
    assert certificate["verification_code"] in text
    assert certificate["number"] in text and certificate["number"].startswith("KZ-AST-")
    assert certificate["expires_on"] is not None

    # Someone else's trainee token and another academy's staff see nothing.
    stranger = token("trainee", academy_id=academy["id"], sub="someone-else")
    other_academy = token("academy_admin", academy_id="another-academy")
    for headers in (stranger, other_academy):
        response = await platform.certification.get(
            f"/v1/certificates/{certificate_id}.pdf", headers=headers
        )
        assert response.status_code == 404
    assert (
        await platform.certification.get(f"/v1/certificates/{certificate_id}.pdf")
    ).status_code == 401

    # Anyone can verify by code, without logging in, and learns only what the certificate shows.
    code = certificate["verification_code"]
    verified = await ok(await platform.certification.get(f"/v1/verify/{code.lower()}"))
    assert verified["status"] == "valid"
    assert verified["track_code"] == "GHR-FOUND"
    assert verified["issued_on"] == certificate["issued_on"]
    assert "employee_number" not in verified and "KZ-000123" not in json.dumps(verified)
    page = await platform.certification.get(f"/v1/verify/{code}", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Сулейменова" in page.text
    missing = await platform.certification.get("/v1/verify/AAAA-BBBB-CCCC-DDDD")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
