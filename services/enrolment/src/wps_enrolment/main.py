"""The enrolment application: `create_app(settings)`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from wps_common.app import build_app
from wps_common.runtime import ServiceRuntime
from wps_enrolment.api import router
from wps_enrolment.handlers import subscriptions
from wps_enrolment.models import idempotency_keys, job_runs, outbox
from wps_enrolment.settings import EnrolmentSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: EnrolmentSettings | None = None) -> FastAPI:
    settings = settings or EnrolmentSettings()
    runtime = ServiceRuntime(
        settings=settings,
        outbox=outbox,
        migrations=MIGRATIONS,
        idempotency=idempotency_keys,
        job_runs=job_runs,
        subscriptions=subscriptions,
    )
    return build_app(
        title="WPS Training — Enrolment",
        description="Academies, trainees, cohorts, results, completion and compliance.",
        runtime=runtime,
        routers=[router],
    )
