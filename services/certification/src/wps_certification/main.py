"""The certification application: `create_app(settings)`."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from wps_certification import expiry
from wps_certification.api import router, well_known
from wps_certification.handlers import subscriptions
from wps_certification.identity import CertificationLookups
from wps_certification.models import idempotency_keys, job_runs, outbox
from wps_certification.ratelimit import RateLimiter, TooManyRequests
from wps_certification.rendering import Renderer
from wps_certification.settings import CertificationSettings
from wps_certification.signing import Keyring
from wps_common.app import build_app
from wps_common.errors import problem_response
from wps_common.jobs import PeriodicJob
from wps_common.runtime import ServiceRuntime

MIGRATIONS = Path(__file__).parent / "migrations"
EXPIRY_SCAN = "certificate-expiry-scan"

log = logging.getLogger("wps.certification")


def create_app(settings: CertificationSettings | None = None) -> FastAPI:
    settings = settings or CertificationSettings()
    runtime = ServiceRuntime(
        settings=settings,
        outbox=outbox,
        migrations=MIGRATIONS,
        idempotency=idempotency_keys,
        job_runs=job_runs,
    )

    async def scan_expiry(now: datetime) -> None:
        async with runtime.db.session() as session:
            sent = await expiry.scan_expiry(
                session, today=now.date(), lead_days=settings.expiry_lead_days
            )
        if sent:
            log.info("expiry scan %s: %d notice(s)", now.date(), sent)

    renderer = Renderer(settings.render_workers, settings.pdf_cache_entries, runtime.metrics)
    # Every replica runs the job loop; the lease in job_runs lets one of them scan per period,
    # and the notices table would refuse a second notice even if two scans overlapped.
    runtime.extend(
        subscriptions=subscriptions,
        jobs=[
            PeriodicJob(EXPIRY_SCAN, timedelta(minutes=settings.expiry_scan_minutes), scan_expiry)
        ],
        on_stop=[renderer.close],
    )
    app = build_app(
        title="WPS Training — Certification",
        description=(
            "Certificates (PDF and Open Badges 3.0 credentials), public verification, "
            "revocation, correction and expiry."
        ),
        runtime=runtime,
        lookups=CertificationLookups(),
        routers=[router, well_known],
    )
    app.add_exception_handler(TooManyRequests, _too_many_requests)
    app.state.renderer = renderer
    app.state.keyring = Keyring.from_settings(settings)
    app.state.verify_limiter = RateLimiter(
        per_minute=settings.verify_rate_per_minute, burst=settings.verify_burst
    )
    return app


async def _too_many_requests(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TooManyRequests)
    response = problem_response(request, exc.status, exc.title, exc.slug, exc.detail)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response
