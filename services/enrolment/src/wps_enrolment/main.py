"""The enrolment application: `create_app(settings)`."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from fastapi import FastAPI

from wps_common.app import build_app
from wps_common.jobs import PeriodicJob
from wps_common.runtime import ServiceRuntime
from wps_enrolment import compliance
from wps_enrolment.api import PREFIX, routers
from wps_enrolment.handlers import subscriptions
from wps_enrolment.identity import EnrolmentLookups
from wps_enrolment.imports import ImportRunner
from wps_enrolment.models import idempotency_keys, job_runs, outbox
from wps_enrolment.settings import EnrolmentSettings

MIGRATIONS = Path(__file__).parent / "migrations"
COMPLIANCE_SWEEP = "compliance-sweep"


def create_app(settings: EnrolmentSettings | None = None) -> FastAPI:
    settings = settings or EnrolmentSettings()
    runtime = ServiceRuntime(
        settings=settings,
        outbox=outbox,
        migrations=MIGRATIONS,
        idempotency=idempotency_keys,
        job_runs=job_runs,
    )

    async def sweep(now: datetime) -> None:
        # Due dates pass and reminder windows open with time alone: every hour, the academies
        # whose own midnight has passed since their last sweep are re-evaluated.
        await compliance.sweep(runtime.db, now)

    def now() -> datetime:
        return runtime.clock()  # read at each call: tests replace the runtime's clock

    imports = ImportRunner(lambda: runtime.db, now, settings.import_chunk_rows, runtime.metrics)
    runtime.extend(
        subscriptions=subscriptions(now),
        jobs=[PeriodicJob(COMPLIANCE_SWEEP, timedelta(hours=1), sweep)],
        workers=[imports.recover],
        on_stop=[imports.stop],
    )
    app = build_app(
        title="WPS Training — Enrolment",
        description="Academies, trainees, cohorts, results, completion and compliance.",
        runtime=runtime,
        lookups=EnrolmentLookups(),
        max_upload_bytes=settings.import_max_bytes,
        routers=routers,
        prefix=PREFIX,
    )
    app.state.imports = imports
    return app
