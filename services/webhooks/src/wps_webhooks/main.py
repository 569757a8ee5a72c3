"""The webhook bridge application: `create_app(settings)`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from wps_common.app import build_app
from wps_common.runtime import ServiceRuntime
from wps_webhooks.api import router
from wps_webhooks.delivery import delivery_worker
from wps_webhooks.destinations import DestinationPolicy
from wps_webhooks.handlers import subscriptions
from wps_webhooks.models import idempotency_keys, job_runs, outbox
from wps_webhooks.settings import WebhooksSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: WebhooksSettings | None = None) -> FastAPI:
    settings = settings or WebhooksSettings()
    runtime = ServiceRuntime(
        settings=settings,
        outbox=outbox,
        migrations=MIGRATIONS,
        idempotency=idempotency_keys,
        job_runs=job_runs,
    )
    runtime.extend(subscriptions=subscriptions, workers=[delivery_worker])
    app = build_app(
        title="WPS Training — Webhooks",
        description="Signed HTTP deliveries of the public events, for HR systems without NATS.",
        runtime=runtime,
        routers=[router],
    )
    app.state.destinations = DestinationPolicy.of(settings)
    return app
