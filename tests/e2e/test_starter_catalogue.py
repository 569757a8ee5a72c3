"""A fresh platform with the starter catalogue loaded: its tracks reach enrolment as events,
so an academy can open a cohort of a catalogue track without anyone publishing by hand."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

from wps_common.natsserver import NatsServer
from wps_common.testing import auth, bus_settings, running_app, wait_until
from wps_curriculum.main import create_app as curriculum_app
from wps_curriculum.settings import CurriculumSettings
from wps_enrolment.main import create_app as enrolment_app
from wps_enrolment.settings import EnrolmentSettings

ADMIN = auth("admin")


async def test_catalogue_tracks_reach_enrolment(
    nats_server: NatsServer, database_factory: Callable[[str], str]
) -> None:
    bus = bus_settings(nats_server.url)
    async with AsyncExitStack() as stack:
        curriculum = await stack.enter_async_context(
            running_app(
                curriculum_app(
                    CurriculumSettings(
                        database_url=database_factory("curriculum"),
                        load_starter_catalogue=True,
                        **bus,
                    )
                )
            )
        )
        enrolment = await stack.enter_async_context(
            running_app(
                enrolment_app(EnrolmentSettings(database_url=database_factory("enrolment"), **bus))
            )
        )
        track = await curriculum.get("/v1/tracks/GHR-PCVE?lang=ru", headers=ADMIN)
        assert track.status_code == 200 and track.json()["status"] == "published"
        assert track.json()["author"] == "catalogue"

        academy = await enrolment.post(
            "/v1/academies",
            json={"code": "KZ-AST", "name": "Astana Police Academy", "country": "KZ"},
            headers=ADMIN,
        )
        assert academy.status_code == 201, academy.text

        async def cohort_opened() -> Any:
            response = await enrolment.post(
                "/v1/cohorts",
                json={
                    "academy_id": academy.json()["id"],
                    "track_code": "GHR-PCVE",
                    "title": "P/CVERLT, spring",
                    "starts_on": "2027-03-01",
                    "ends_on": "2027-03-12",
                    "capacity": 20,
                },
                headers=ADMIN,
            )
            return response.json() if response.status_code == 201 else None

        cohort = await wait_until(cohort_opened, what="track.published to reach enrolment")
        assert cohort["track_code"] == "GHR-PCVE"
