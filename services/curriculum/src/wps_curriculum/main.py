"""The curriculum application: `create_app(settings)`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from wps_common.app import build_app
from wps_common.runtime import ServiceRuntime
from wps_curriculum.api import router
from wps_curriculum.models import idempotency_keys, outbox
from wps_curriculum.settings import CurriculumSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: CurriculumSettings | None = None) -> FastAPI:
    settings = settings or CurriculumSettings()
    runtime = ServiceRuntime(
        settings=settings, outbox=outbox, migrations=MIGRATIONS, idempotency=idempotency_keys
    )
    return build_app(
        title="WPS Training — Curriculum",
        description="Modules, tracks and mandatory-training requirements, reviewed and versioned.",
        runtime=runtime,
        routers=[router],
    )
