"""The portal application: `create_app(settings)`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from wps_common.db import Database
from wps_common.errors import RequestIdMiddleware
from wps_portal import pages
from wps_portal.backend import Backend, ServiceError
from wps_portal.sessions import ServerSessions, SessionStore
from wps_portal.settings import PortalSettings
from wps_portal.signin import SignIn
from wps_portal.signin import router as sign_in_router
from wps_portal.web import CsrfRejected, NotAllowed, SignInRequired, error_page, render

log = logging.getLogger("wps.portal")
STATIC = Path(__file__).parent / "static"


def create_app(settings: PortalSettings | None = None) -> FastAPI:
    settings = settings or PortalSettings()
    database = Database(settings.database_url)
    store = SessionStore(database, timedelta(hours=settings.session_hours))
    backend = Backend(settings)
    sign_in = SignIn(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.create_tables()
        await store.purge()
        try:
            yield
        finally:
            await backend.aclose()
            await sign_in.aclose()
            await database.dispose()

    app = FastAPI(
        title="WPS Training — Portal",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.backend = backend
    app.state.sign_in = sign_in
    app.state.sessions = store
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(sign_in_router)
    app.include_router(_health(database))
    for router in pages.routers():
        app.include_router(router)
    app.add_middleware(ServerSessions, store=store, secure=settings.cookie_secure)
    app.add_middleware(RequestIdMiddleware)
    _install_error_pages(app)
    return app


def _health(database: Database) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        try:
            await database.ping()
        except Exception as exc:
            body = {"status": "not ready", "checks": {"database": exc.__class__.__name__}}
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ready", "checks": {"database": "ok"}})

    return router


def _install_error_pages(app: FastAPI) -> None:
    async def service_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceError)
        return error_page(request, exc)

    async def sign_in_required(request: Request, exc: Exception) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/auth/sign-in?next={quote(target, safe='/')}", status_code=303)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return render(request, "forbidden.html", status=403)

    async def csrf_rejected(request: Request, exc: Exception) -> Response:
        return render(request, "csrf.html", status=403)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        return render(
            request,
            "not_found.html" if status == 404 else "error.html",
            status=status,
            error=ServiceError(status, str(exc.detail)),
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        request_id = getattr(request.state, "request_id", "")
        log.exception("unhandled error (request_id=%s) on %s", request_id, request.url.path)
        return render(
            request,
            "error.html",
            status=500,
            error=ServiceError(500, ""),
            request_id=request_id,
        )

    async def invalid_request(request: Request, exc: Exception) -> Response:
        # A mangled link (a filter value of the wrong kind): a page, never FastAPI's JSON.
        return render(request, "error.html", status=422, error=ServiceError(422, ""))

    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(NotAllowed, not_allowed)
    app.add_exception_handler(CsrfRejected, csrf_rejected)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
