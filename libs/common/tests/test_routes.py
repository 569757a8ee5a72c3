"""Route templates for span names and metric labels, with routers nested in routers."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from wps_common.routes import route_template


def app_with_nested_routers() -> tuple[FastAPI, list[str | None]]:
    seen: list[str | None] = []
    trainees = APIRouter()

    @trainees.get("/trainees/me")
    def me() -> dict[str, str]:
        return {}

    @trainees.get("/trainees/{trainee_id}")
    def one(trainee_id: str) -> dict[str, str]:
        return {}

    v1 = APIRouter(prefix="/v1")
    v1.include_router(trainees)
    app = FastAPI()
    app.include_router(v1)

    inner = app.build_middleware_stack

    def stack():  # type: ignore[no-untyped-def]
        app_ = inner()

        async def noting(scope: Scope, receive: Receive, send: Send) -> None:
            await app_(scope, receive, send)
            if scope["type"] == "http":
                seen.append(route_template(scope))

        return noting

    app.build_middleware_stack = stack  # type: ignore[method-assign]
    return app, seen


def test_the_template_carries_every_prefix_and_never_the_id() -> None:
    app, seen = app_with_nested_routers()
    with TestClient(app) as client:
        assert client.get("/v1/trainees/T-123").status_code == 200
        assert client.get("/v1/trainees/me").status_code == 200
        assert client.get("/v2/unknown").status_code == 404
    assert seen == ["/v1/trainees/{trainee_id}", "/v1/trainees/me", None]
