"""Deployment clearance over HTTP: profiles and certificates arrive as events (as curriculum
and certification publish them), and GET /v1/clearance answers per item for admins, academy
admins (their own academy only) and HR."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select

from wps_common.db import Database
from wps_common.events.contracts import (
    CertificateIssued,
    CertificateRevoked,
    ClearanceItem,
    ClearanceProfileChanged,
)
from wps_common.testing import auth, publish_event, wait_until
from wps_enrolment.models import CertificateRecord, ClearanceProfile

from .conftest import ADMIN, Academy, open_academy

HR = auth("hr", sub="mission-hr")
PROFILE = "UN-PKO-PREDEPLOY"


def profile(revision: int = 1, active: bool = True, **changes: Any) -> ClearanceProfileChanged:
    fields: dict[str, Any] = {
        "profile_code": PROFILE,
        "revision": revision,
        "change": "created" if revision == 1 else ("updated" if active else "retired"),
        "title": {"en": "UN peacekeeping pre-deployment", "ru": "Подготовка к миссии ООН"},
        "items": [
            ClearanceItem(kind="module", code="WPS-101"),
            ClearanceItem(kind="module", code="CRSV-301"),
        ],
        "active": active,
        "changed_at": datetime(2026, 11, 1, tzinfo=UTC),
        **changes,
    }
    return ClearanceProfileChanged(**fields)


def certificate(
    trainee: dict[str, Any],
    academy: Academy,
    id_: str,
    code: str,
    expires_on: date | None,
    award: str = "track",
) -> CertificateIssued:
    return CertificateIssued(
        certificate_id=id_,
        number=f"GE-TBS-{id_}",
        enrolment_id="enr-1",
        trainee_id=trainee["id"],
        employee_number=trainee["employee_number"],
        academy_id=academy.academy_id,
        track_code=code,
        track_version=1,
        issued_on=date(2026, 10, 1),
        expires_on=expires_on,
        award=award,  # type: ignore[arg-type]
    )


async def until_stored(database_url: str, model: Any, column: Any, value: Any, check: Any) -> None:
    db = Database(database_url)

    async def there() -> bool:
        async with db.session() as session:
            row = await session.scalar(select(model).where(column == value))
            return row is not None and bool(check(row))

    try:
        await wait_until(there, what=f"{model.__name__} {value}")
    finally:
        await db.dispose()


async def ask(place: Academy, headers: dict[str, str], **query: str) -> Any:
    return await place.client.get("/v1/clearance", params=query, headers=headers)


async def test_clearance_item_by_item(academy: Academy) -> None:
    url, bus = academy.database_url, academy.bus
    officer = await academy.trainee("PK-7", rank="Captain")
    await publish_event(bus, profile())
    await until_stored(url, ClearanceProfile, ClearanceProfile.code, PROFILE, lambda p: p.active)

    nothing = await ask(academy, HR, employee_number="PK-7", profile=PROFILE, until="2027-06-30")
    assert nothing.status_code == 200, nothing.text
    body = nothing.json()
    assert body["cleared"] is False and body["until"] == "2027-06-30"
    assert body["person"] == {
        "trainee_id": officer["id"],
        "employee_number": "PK-7",
        "academy_id": academy.academy_id,
        "academy_code": "GE-TBS",
    }
    assert body["profile"]["title"]["ru"] == "Подготовка к миссии ООН"
    assert [(i["code"], i["status"]) for i in body["items"]] == [
        ("WPS-101", "missing"),
        ("CRSV-301", "missing"),
    ]
    assert body["items"][0]["title"] == {"en": "WPS agenda"}  # from the curriculum read model

    # The foundation track contains WPS-101; CRSV-301 grants its own certificate.
    await publish_event(bus, certificate(officer, academy, "c-ghr", "GHR-FOUND", date(2028, 10, 1)))
    crsv = certificate(officer, academy, "c-crsv", "CRSV-301", date(2027, 3, 31), award="module")
    await publish_event(bus, crsv)
    await until_stored(url, CertificateRecord, CertificateRecord.certificate_id, "c-crsv", bool)

    answer = (
        await ask(academy, ADMIN, employee_number="PK-7", profile=PROFILE, until="2027-06-30")
    ).json()
    assert answer["cleared"] is False
    assert [
        (i["status"], i["expires_on"], i["certificate_id"], i["via"]) for i in answer["items"]
    ] == [
        ("met", "2028-10-01", "c-ghr", "GHR-FOUND"),
        ("expires", "2027-03-31", "c-crsv", "CRSV-301"),
    ]
    # What meets an item says when it was issued and what it is of, titled per language.
    assert [i["issued_on"] for i in answer["items"]] == ["2026-10-01", "2026-10-01"]
    assert answer["items"][1]["via_title"] == answer["items"][1]["title"]
    shorter = await ask(
        academy, academy.staff, employee_number="PK-7", profile=PROFILE, until="2027-03-31"
    )
    assert shorter.json()["cleared"] is True
    assert {i["basis"] for i in shorter.json()["items"]} == {"certificate"}

    # A revoked certificate no longer meets anything.
    await publish_event(
        bus,
        CertificateRevoked(
            certificate_id="c-ghr",
            number="GE-TBS-c-ghr",
            enrolment_id="enr-1",
            trainee_id=officer["id"],
            employee_number="PK-7",
            academy_id=academy.academy_id,
            track_code="GHR-FOUND",
            revoked_on=date(2026, 11, 20),
        ),
    )
    await until_stored(
        url,
        CertificateRecord,
        CertificateRecord.certificate_id,
        "c-ghr",
        lambda c: c.status == "revoked",
    )
    after = (
        await ask(academy, HR, employee_number="PK-7", profile=PROFILE, until="2027-03-01")
    ).json()
    assert [i["status"] for i in after["items"]] == ["missing", "met"] and not after["cleared"]

    # Without `until`: today in the academy's time zone.
    today = (await ask(academy, HR, employee_number="PK-7", profile=PROFILE)).json()
    assert date.fromisoformat(today["until"]) >= date(2026, 11, 24)

    # Retired: answered no more, with a sentence.
    await publish_event(bus, profile(revision=2, active=False))
    await until_stored(
        url, ClearanceProfile, ClearanceProfile.code, PROFILE, lambda p: not p.active
    )
    retired = await ask(academy, HR, employee_number="PK-7", profile=PROFILE)
    assert retired.status_code == 404 and "retired" in retired.json()["detail"]
    assert retired.json()["type"].endswith("/clearance/retired-profile")
    # An older revision arriving late changes nothing.
    await publish_event(bus, profile(revision=1))
    again = await ask(academy, HR, employee_number="PK-7", profile=PROFILE)
    assert again.status_code == 404


async def test_who_may_ask_and_bad_questions(academy: Academy) -> None:
    url, bus = academy.database_url, academy.bus
    await academy.trainee("PK-1")
    other = await open_academy(academy.client, bus, url, code="KZ-ALA")
    await other.trainee("PK-1")
    await other.trainee("PK-2")
    await publish_event(bus, profile())
    await until_stored(url, ClearanceProfile, ClearanceProfile.code, PROFILE, lambda p: p.active)

    # One number in two academies: HR sees both and must name one.
    both = await ask(academy, HR, employee_number="PK-1", profile=PROFILE)
    assert both.status_code == 409, both.text
    assert "several academies" in both.json()["detail"] and "academy=" in both.json()["detail"]
    named = await ask(academy, HR, employee_number="PK-1", profile=PROFILE, academy="KZ-ALA")
    assert named.status_code == 200 and named.json()["person"]["academy_code"] == "KZ-ALA"
    by_id = await ask(
        academy, HR, employee_number="PK-1", profile=PROFILE, academy=other.academy_id
    )
    assert by_id.json()["person"]["academy_id"] == other.academy_id
    # An academy admin sees their own academy only: no conflict, and the other's people are 404.
    own = await ask(academy, academy.staff, employee_number="PK-1", profile=PROFILE)
    assert own.status_code == 200 and own.json()["person"]["academy_code"] == "GE-TBS"
    hidden = await ask(academy, academy.staff, employee_number="PK-2", profile=PROFILE)
    assert hidden.status_code == 404 and "PK-2" in hidden.json()["detail"]
    named_other = await ask(
        academy, academy.staff, employee_number="PK-1", profile=PROFILE, academy="KZ-ALA"
    )
    assert named_other.status_code == 404

    for who in (
        academy.instructor,
        auth("trainee", academy_id=academy.academy_id),
        auth("reviewer"),
    ):
        assert (await ask(academy, who, employee_number="PK-1", profile=PROFILE)).status_code == 403
    assert (await ask(academy, {}, employee_number="PK-1", profile=PROFILE)).status_code == 401

    unknown = await ask(academy, HR, employee_number="PK-1", profile="UN-NONE", academy="GE-TBS")
    assert unknown.status_code == 404 and "no clearance profile UN-NONE" in unknown.json()["detail"]
    nobody = await ask(academy, HR, employee_number="NOBODY-9", profile=PROFILE)
    assert nobody.status_code == 404 and "NOBODY-9" in nobody.json()["detail"]
    # Each case has a type of its own, so a client (the portal) can say it in its language.
    problems = "https://wps-training.org/problems/clearance/"
    assert unknown.json()["type"] == problems + "unknown-profile"
    assert nobody.json()["type"] == problems + "unknown-person"
    assert hidden.json()["type"] == problems + "unknown-person"
    assert both.json()["type"] == problems + "several-academies"
    assert both.json()["academies"] == ["GE-TBS", "KZ-ALA"]
    nowhere = await ask(academy, HR, employee_number="PK-1", profile=PROFILE, academy="XX-NONE")
    assert nowhere.status_code == 404
    assert nowhere.json()["type"] == problems + "unknown-academy"
    # A mission that ended already is no question to answer: a past end date is refused.
    past = await ask(academy, HR, employee_number="PK-2", profile=PROFILE, until="1999-01-01")
    assert past.status_code == 422, past.text
    assert past.json()["type"] == problems + "past-end-date"
    assert "in the past" in past.json()["detail"]
    assert [e["field"] for e in past.json()["errors"]] == ["until"]
    for bad in ("2027-02-30", "30.06.2027", "1066-10-14"):
        refused = await ask(academy, HR, employee_number="PK-2", profile=PROFILE, until=bad)
        assert refused.status_code == 422, bad
        assert any(e["field"].endswith("until") for e in refused.json()["errors"]), refused.text
    missing = await academy.client.get("/v1/clearance?profile=UN-PKO-PREDEPLOY", headers=HR)
    assert missing.status_code == 422
