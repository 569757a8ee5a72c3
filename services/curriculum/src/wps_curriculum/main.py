"""The curriculum application: `create_app(settings)`."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI

from wps_common.app import build_app
from wps_common.runtime import ServiceRuntime
from wps_curriculum.api import router
from wps_curriculum.catalogue import STARTER_CATALOGUE, load_into
from wps_curriculum.models import idempotency_keys, job_runs, outbox
from wps_curriculum.settings import CurriculumSettings

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger("wps.curriculum")


async def load_starter_catalogue(runtime: ServiceRuntime) -> None:
    """Once the database is migrated: the starter catalogue, when the settings ask for it."""
    settings = runtime.settings
    if isinstance(settings, CurriculumSettings) and settings.load_starter_catalogue:
        path = settings.catalogue_path or STARTER_CATALOGUE
        report = await load_into(runtime.db, path, now=runtime.clock())
        log.info("catalogue %s: %s", path.name, report.summary())


def create_app(settings: CurriculumSettings | None = None) -> FastAPI:
    settings = settings or CurriculumSettings()
    runtime = ServiceRuntime(
        settings=settings,
        outbox=outbox,
        migrations=MIGRATIONS,
        idempotency=idempotency_keys,
        job_runs=job_runs,
    )
    runtime.extend(on_start=[load_starter_catalogue])
    return build_app(
        title="WPS Training — Curriculum",
        description="Modules, tracks and mandatory-training requirements, reviewed and versioned.",
        runtime=runtime,
        routers=[router],
    )
