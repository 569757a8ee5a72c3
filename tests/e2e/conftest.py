"""The three services together on one real nats-server, each with its own real database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from wps_certification.main import create_app as certification_app
from wps_certification.settings import CertificationSettings
from wps_common.natsserver import NatsServer
from wps_common.testing import bus_settings, running_app
from wps_curriculum.main import create_app as curriculum_app
from wps_curriculum.settings import CurriculumSettings
from wps_enrolment.main import create_app as enrolment_app
from wps_enrolment.settings import EnrolmentSettings


@dataclass
class Platform:
    curriculum: httpx.AsyncClient
    enrolment: httpx.AsyncClient
    certification: httpx.AsyncClient
    bus: dict[str, Any]
    database_urls: dict[str, str]


@pytest.fixture
async def platform(
    nats_server: NatsServer, database_factory: Callable[[str], str]
) -> AsyncIterator[Platform]:
    bus = bus_settings(nats_server.url)
    urls = {name: database_factory(name) for name in ("curriculum", "enrolment", "certification")}
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(running_app(app))
            for app in (
                curriculum_app(CurriculumSettings(database_url=urls["curriculum"], **bus)),
                enrolment_app(EnrolmentSettings(database_url=urls["enrolment"], **bus)),
                certification_app(
                    CertificationSettings(
                        database_url=urls["certification"], render_workers=0, **bus
                    )
                ),
            )
        ]
        yield Platform(*clients, bus=bus, database_urls=urls)
