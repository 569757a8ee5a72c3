"""The FastAPI application shape every service shares: lifespan, errors, health, DB session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from sqlalchemy.ext.asyncio import AsyncSession
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from wps_common.directory import Directory, Lookups
from wps_common.errors import RequestIdMiddleware, install_problem_handlers
from wps_common.idempotency import IdempotencyMiddleware
from wps_common.limits import RequestLimits
from wps_common.metrics import METRICS_PATH, HttpMetrics, metrics_endpoint
from wps_common.oidc import TokenVerifier
from wps_common.openapi import install_openapi
from wps_common.runtime import ServiceRuntime
from wps_common.tracing import FASTAPI_TELEMETRY, TraceContextMiddleware


def build_app(
    *,
    title: str,
    description: str,
    runtime: ServiceRuntime,
    routers: Sequence[APIRouter],
    prefix: str = "",
    version: str = "0.1.0",
    lookups: Lookups | None = None,
    max_upload_bytes: int | None = None,
) -> FastAPI:
    """`prefix` goes before the paths of `routers` (`/v1`); `lookups` resolve a token's
    academy code and a trainee's employee number to this service's ids (services without
    academies or trainees have none); `max_upload_bytes` is the limit for file uploads (others
    get the JSON body limit)."""
    verifier = TokenVerifier(runtime.settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()
            await verifier.aclose()

    # Swagger UI and ReDoc from the installed package, not a CDN: police networks are often
    # isolated from the internet.
    app = FastAPIOffline(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        telemetry=FASTAPI_TELEMETRY,
    )
    app.state.settings = runtime.settings
    app.state.runtime = runtime
    app.state.token_verifier = verifier
    if lookups is not None:
        app.state.principal_resolver = Directory(lambda: runtime.db, lookups)
    install_problem_handlers(app)
    # Middleware added last runs first: request id, then proxy headers (who the client is),
    # then limits and authentication before any body is read, then idempotency.
    if runtime.idempotency is not None:
        app.add_middleware(
            IdempotencyMiddleware, database=lambda: runtime.db, keys=runtime.idempotency
        )
    app.add_middleware(
        RequestLimits,
        verifier=lambda: verifier,
        max_json_bytes=runtime.settings.max_json_bytes,
        max_upload_bytes=max_upload_bytes,
    )
    if runtime.settings.trusted_proxies:
        app.add_middleware(
            ProxyHeadersMiddleware,
            trusted_hosts=[p.strip() for p in runtime.settings.trusted_proxies.split(",")],
        )
    app.add_middleware(TraceContextMiddleware)  # the caller's trace, for spans and log lines
    app.add_middleware(RequestIdMiddleware)
    # Outermost: times every answer, the ones refused by the limits above included.
    app.add_middleware(HttpMetrics, metrics=runtime.metrics)
    app.include_router(health)
    app.add_api_route(METRICS_PATH, metrics_endpoint, include_in_schema=False)
    # Each router is included in the app itself, with the prefix: FastAPI matches a request
    # against the app's routes and then again, to handle it, inside the router it chose, so
    # a router of routers under `/v1` had every route before the chosen one tried twice.
    for router in routers:
        app.include_router(router, prefix=prefix)
    install_openapi(app, runtime.settings, idempotent=runtime.idempotency is not None)
    return app


def runtime_of(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    # The request's unit of work: services never commit; this commits when the endpoint returns
    # and rolls back when it raises. scope="function" makes the commit happen before the
    # response is sent, so a failed commit is reported, never a false 2xx.
    async with runtime_of(request).db.session() as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(_session, scope="function")]

health = APIRouter(tags=["health"])


@health.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process is up and serving."""
    return {"status": "ok"}


@health.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Readiness: the database and NATS are reachable (503 with the failing checks if not,
    and 503 `draining` once the service is shutting down)."""
    runtime = runtime_of(request)
    if runtime.draining.is_set():
        # Load balancers stop sending here while the requests in flight are finished.
        return JSONResponse({"status": "draining", "checks": {}}, status_code=503)
    checks = await runtime.readiness()
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )
