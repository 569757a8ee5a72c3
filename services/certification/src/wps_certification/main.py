"""The certification application: `create_app(settings)`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from wps_certification.api import router
from wps_certification.handlers import subscriptions
from wps_certification.models import idempotency_keys, job_runs, outbox
from wps_certification.rendering import Renderer
from wps_certification.settings import CertificationSettings
from wps_common.app import build_app
from wps_common.runtime import ServiceRuntime

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: CertificationSettings | None = None) -> FastAPI:
    settings = settings or CertificationSettings()
    runtime = ServiceRuntime(
        settings=settings,
        outbox=outbox,
        migrations=MIGRATIONS,
        idempotency=idempotency_keys,
        job_runs=job_runs,
        subscriptions=subscriptions,
    )
    renderer = Renderer(settings.render_workers, settings.pdf_cache_entries)
    app = build_app(
        title="WPS Training — Certification",
        description="Certificates (PDF), public verification, revocation and expiry.",
        runtime=runtime,
        routers=[router],
        on_stop=[renderer.close],
    )
    app.state.renderer = renderer
    return app
