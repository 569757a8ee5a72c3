"""A Kazakh-speaking trainee of a Kazakh academy gets a Kazakh certificate, end to end: the
academy's names and languages travel from enrolment to certification in the trainee's profile."""

from __future__ import annotations

import io
from typing import Any

import httpx
from pypdf import PdfReader

from wps_common.testing import EventTap, wait_until
from wps_common.testing import auth as token

from .conftest import Platform
from .test_first_certificate import ADMIN, ok, review_and_publish

NAMES = {
    "kk": "Алматы полиция академиясы",
    "ru": "Алматинская академия полиции",
    "en": "Almaty Police Academy",
}


async def publish_kazakh_track(curriculum: httpx.AsyncClient) -> None:
    # Written in Kazakh and Russian only: English is no longer required.
    module = {
        "code": "WPS-101",
        "title": {
            "kk": "Әйелдер, бейбітшілік және қауіпсіздік",
            "ru": "Женщины, мир и безопасность",
        },
        "duration_hours": 6,
        "assessment": {"kind": "quiz", "pass_mark": 70},
        "min_attendance_pct": 80,
        "references": ["UNSCR 1325 (2000)"],
    }
    await ok(await curriculum.post("/v1/modules", json=module, headers=ADMIN), 201)
    await review_and_publish(curriculum, "/v1/modules/WPS-101/versions/1")
    track = {
        "code": "GHR-FOUND",
        "title": {"kk": "Гендер және адам құқықтары", "ru": "Гендер и права человека"},
        "certificate_title": {
            "kk": "Полиция қызметіндегі гендер және адам құқықтары (базалық курс)",
            "ru": "Гендер и права человека в деятельности полиции (базовый курс)",
        },
        "modules": [{"code": "WPS-101", "version": 1}],
        "validity_months": 24,
    }
    await ok(await curriculum.post("/v1/tracks", json=track, headers=ADMIN), 201)
    await review_and_publish(curriculum, "/v1/tracks/GHR-FOUND/versions/1")


async def test_a_kazakh_speaking_trainee_gets_a_kazakh_certificate(platform: Platform) -> None:
    root = platform.bus["subject_root"]
    async with EventTap(platform.bus["nats_url"], platform.bus["stream_name"], [f"{root}.>"]) as hr:
        await publish_kazakh_track(platform.curriculum)
        academy = await ok(
            await platform.enrolment.post(
                "/v1/academies",
                json={
                    "code": "KZ-ALA",
                    "name": "Almaty Police Academy MIA RK",
                    "country": "KZ",
                    "languages": ["kk", "ru", "en"],
                    "names": NAMES,
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
                    "employee_number": "KZ-000777",
                    "given_name": "Әйгерім",
                    "family_name": "Нұрғалиева",
                    "preferred_language": "kk",
                },
                headers=staff,
            ),
            201,
        )

        async def cohort_created() -> Any:
            response = await platform.enrolment.post(
                "/v1/cohorts",
                json={
                    "academy_id": academy["id"],
                    "track_code": "GHR-FOUND",
                    "title": "Базалық курс, қараша",
                    "starts_on": "2026-11-02",
                    "ends_on": "2026-11-06",
                    "language": "kk",
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
                json={"module_code": "WPS-101", "attendance_pct": 100, "score": 90},
                headers=token("instructor", academy_id=academy["id"]),
            ),
            201,
        )
        [issued] = await hr.wait_for("certificate.issued")

    certificate_id = issued.data["certificate_id"]
    own = token("trainee", academy_id=academy["id"], sub=trainee["id"])
    certificate = await ok(
        await platform.certification.get(f"/v1/certificates/{certificate_id}", headers=own)
    )
    assert certificate["language"] == "kk"
    pdf = await platform.certification.get(f"/v1/certificates/{certificate_id}.pdf", headers=own)
    assert pdf.status_code == 200, pdf.text
    text = " ".join(PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text().split())
    for expected in (
        "ОҚУДЫ АЯҚТАҒАНЫ ТУРАЛЫ СЕРТИФИКАТ",
        NAMES["kk"].upper(),
        "Әйгерім Нұрғалиева",
        "Полиция қызметіндегі гендер және адам құқықтары (базалық курс)",
        "Әйелдер, бейбітшілік және қауіпсіздік",
    ):
        assert expected in text, expected
    credential = await ok(
        await platform.certification.get(
            f"/v1/certificates/{certificate_id}/credential", headers=own
        )
    )
    achievement = credential["credential"]["credentialSubject"]["achievement"]
    assert achievement["name"] == "Полиция қызметіндегі гендер және адам құқықтары (базалық курс)"
    assert credential["credential"]["issuer"]["name"] == NAMES["kk"]
