"""An academy's languages (the order its texts fall back through) and its name in each of
them: validated, changed by its admins, and carried by every trainee.profile_changed so that
certificates print the name in the trainee's language; a change announces the academy's
trainees again in the same transaction."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal, Role
from wps_common.db import Database
from wps_common.errors import InvalidInput
from wps_common.events.contracts import TraineeProfileChanged
from wps_common.testing import auth, outbox_events
from wps_enrolment import academies
from wps_enrolment.models import AuditEntry, Base, Trainee, outbox
from wps_enrolment.schemas import AcademyCreate, AcademyUpdate

from .conftest import ADMIN, Academy

NAMES = {"kk": "Алматы полиция академиясы", "ru": "Алматинская академия полиции"}
WHO = Principal(subject="admin-1", roles=frozenset({Role.ADMIN}))
PROFILE = TraineeProfileChanged.event_type()


@pytest.fixture
def service_metadata() -> MetaData:
    return Base.metadata


async def profiles(session: AsyncSession) -> list[dict[str, Any]]:
    return [e.data for e in await outbox_events(session, outbox) if e.type == PROFILE]


class TestAnnouncing:
    async def open(self, session: AsyncSession, trainees: int) -> str:
        body = AcademyCreate(
            code="KZ-ALA",
            name="Almaty Police Academy",
            country="KZ",
            languages=["kk", "ru", "en"],
            names=NAMES,
        )
        academy = await academies.create_academy(session, data=body, who=WHO)
        for number in range(trainees):
            session.add(
                Trainee(
                    academy_id=academy.id,
                    employee_number=f"E-{number}",
                    given_name="Aigerim",
                    family_name="Sadykova",
                    preferred_language="kk",
                )
            )
        await session.flush()
        return academy.id

    async def test_a_new_name_announces_every_trainee_in_batches(
        self, service_session: AsyncSession, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(academies, "ANNOUNCE_BATCH", 2)  # five trainees: three statements
        academy_id = await self.open(service_session, trainees=5)
        named = NAMES | {"en": "Almaty Police Academy"}
        await academies.update_academy(
            service_session,
            academy_id=academy_id,
            data=AcademyUpdate(names=named, languages=["ru", "kk", "en"]),
            who=WHO,
        )
        announced = await profiles(service_session)
        assert len(announced) == 5
        assert len({p["trainee_id"] for p in announced}) == 5
        for profile in announced:
            assert profile["academy_names"] == named
            assert profile["academy_languages"] == ["ru", "kk", "en"]
            assert profile["academy_name"] == "Almaty Police Academy"
        [entry] = (
            await service_session.scalars(select(AuditEntry).where(AuditEntry.action == "updated"))
        ).all()
        assert entry.changes == {"names": named, "languages": ["ru", "kk", "en"]}

    async def test_nothing_printed_changed_announces_nothing(
        self, service_session: AsyncSession
    ) -> None:
        academy_id = await self.open(service_session, trainees=3)
        for data in (
            AcademyUpdate(names=NAMES, languages=["kk", "ru", "en"]),  # as they are
            AcademyUpdate(time_zone="Asia/Almaty"),  # not printed on certificates
        ):
            await academies.update_academy(
                service_session, academy_id=academy_id, data=data, who=WHO
            )
        assert await profiles(service_session) == []

    async def test_a_language_with_a_name_cannot_be_dropped(
        self, service_session: AsyncSession
    ) -> None:
        academy_id = await self.open(service_session, trainees=1)
        with pytest.raises(InvalidInput) as refused:
            await academies.update_academy(
                service_session,
                academy_id=academy_id,
                data=AcademyUpdate(languages=["ru", "en"]),
                who=WHO,
            )
        assert "The name in 'kk' is not in one of the academy's languages" in refused.value.detail
        assert refused.value.extensions["errors"][0]["field"] == "languages"
        assert await profiles(service_session) == []


async def test_names_and_languages_over_http(academy: Academy) -> None:
    client, at = academy.client, f"/v1/academies/{academy.academy_id}"
    trainee = await academy.trainee("E-1", preferred_language="kk")
    # The academy's own admin sets its languages and names (retried with the same key: once).
    body = {"languages": ["kk", "ru", "en"], "names": NAMES}
    key = {**academy.staff, "Idempotency-Key": "names-1"}
    first = await client.patch(at, json=body, headers=key)
    assert first.status_code == 200, first.text
    assert first.json()["names"] == NAMES and first.json()["languages"] == ["kk", "ru", "en"]
    again = await client.patch(at, json=body, headers=key)
    assert again.status_code == 200 and again.json() == first.json()
    assert (await client.get(at, headers=academy.staff)).json()["names"] == NAMES
    # Another academy's admin does not see it.
    stranger = auth("academy_admin", academy_id="another-academy")
    assert (await client.patch(at, json=body, headers=stranger)).status_code == 404

    # Registered with names; a trainee's profile event carries them.
    created = await client.post(
        "/v1/academies",
        json={
            "code": "KZ-AST",
            "name": "Astana Police Academy",
            "country": "KZ",
            "languages": ["ru", "kk"],
            "names": {"ru": "Астанинская академия полиции"},
        },
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    assert created.json()["names"] == {"ru": "Астанинская академия полиции"}

    db = Database(academy.database_url)
    try:
        async with db.session() as session:
            events = [
                e.data
                for e in await outbox_events(session, outbox)
                if e.type == PROFILE and e.data["trainee_id"] == trainee["id"]
            ]
    finally:
        await db.dispose()
    registered, renamed = events  # on registration, then on the change of names (once)
    assert registered["academy_names"] == {} and registered["academy_languages"] == ["en"]
    assert renamed["academy_names"] == NAMES
    assert renamed["academy_languages"] == ["kk", "ru", "en"]


async def test_imported_trainees_are_announced_with_the_academys_names(academy: Academy) -> None:
    at = f"/v1/academies/{academy.academy_id}"
    body = {"languages": ["kk", "ru"], "names": NAMES}
    assert (await academy.client.patch(at, json=body, headers=ADMIN)).status_code == 200
    job = await academy.import_csv(
        "Employee Number,Surname,First Name\nE-1,Sadykova,Aigerim\nE-2,Iskakov,Marat\n"
    )
    assert job["created_count"] == 2, job
    db = Database(academy.database_url)
    try:
        async with db.session() as session:
            imported = await profiles(session)
    finally:
        await db.dispose()
    assert len(imported) == 2
    for profile in imported:
        assert profile["academy_names"] == NAMES and profile["academy_languages"] == ["kk", "ru"]


BAD = [
    ({"languages": []}, "languages", "at least 1"),
    ({"languages": ["kk", "ru", "kk"]}, "languages", "only once in the order: kk"),
    ({"languages": ["kazakh"]}, "languages.0", ""),
    (
        {"languages": ["kz", "ru"]},
        "languages.0",
        "not a language code (ISO 639-1 or 639-2): for Kazakh use 'kk'",
    ),
    ({"languages": ["ru", "xx"]}, "languages.1", "'xx' is not a language code"),
    ({"languages": ["und"]}, "languages.0", "'und' is not a language code"),
    ({"names": {"de": "Polizeiakademie"}}, "names", "name in 'de'"),
    ({"names": {"kk": ""}}, "names.kk", ""),
    ({"names": {"kk": "Академия\nАлматы"}}, "names.kk", "single line"),
]


@pytest.mark.parametrize(("body", "field", "says"), BAD)
async def test_bad_languages_and_names_are_refused(
    academy: Academy, body: dict[str, Any], field: str, says: str
) -> None:
    at = f"/v1/academies/{academy.academy_id}"
    # The academy, like a new one given no languages, has the languages ["en"].
    for method, path, sent in (
        ("PATCH", at, body),
        ("POST", "/v1/academies", {"code": "KZ-NEW", "name": "New", "country": "KZ", **body}),
    ):
        response = await academy.client.request(method, path, json=sent, headers=ADMIN)
        assert response.status_code == 422, response.text
        problem = response.json()
        assert says in problem["detail"], problem
        assert any(e["field"].startswith(field) for e in problem["errors"]), problem
    listed = await academy.client.get("/v1/academies", headers=ADMIN)
    assert listed.json()["total"] == 1
