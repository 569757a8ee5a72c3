"""The services' REST APIs as the portal calls them: with the signed-in person's token, and
with every answer that is not a success turned into a ServiceError a page can explain."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from wps_portal.settings import PortalSettings

Service = Literal["curriculum", "enrolment", "certification", "webhooks"]


@dataclass
class ServiceError(Exception):
    """A service said no (4xx) or could not answer (5xx, unreachable): `detail` is its
    sentence for a person, `errors` the offending fields when it named them, `type` the
    problem's type URI (a page may say a known one in its own language)."""

    status: int
    detail: str
    errors: list[dict[str, Any]] = field(default_factory=list)
    retry_after: int | None = None
    type: str = ""
    body: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"

    def field_errors(self) -> dict[str, str]:
        return {str(e.get("field", "")): str(e.get("message", "")) for e in self.errors}


class Backend:
    def __init__(self, settings: PortalSettings, http: httpx.AsyncClient | None = None) -> None:
        self.urls: dict[str, str] = {
            "curriculum": settings.curriculum_url,
            "enrolment": settings.enrolment_url,
            "certification": settings.certification_url,
            "webhooks": settings.webhooks_url,
        }
        self.http = http or httpx.AsyncClient(timeout=settings.request_timeout_seconds)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def request(
        self,
        service: Service,
        method: str,
        path: str,
        *,
        token: str | None = None,
        lang: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if lang:
            headers["Accept-Language"] = lang
        try:
            response = await self.http.request(
                method, self.urls[service].rstrip("/") + path, headers=headers, **kwargs
            )
        except httpx.HTTPError as exc:
            raise ServiceError(503, f"The {service} service could not be reached.") from exc
        if response.is_success:
            return response
        raise _error(service, response)

    async def json(self, service: Service, method: str, path: str, **kwargs: Any) -> Any:
        return (await self.request(service, method, path, **kwargs)).json()


def _error(service: str, response: httpx.Response) -> ServiceError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    detail = body.get("detail") if isinstance(body, dict) else None
    retry = response.headers.get("retry-after")
    return ServiceError(
        status=response.status_code,
        detail=str(detail or f"The {service} service answered {response.status_code}."),
        errors=list(body.get("errors") or []) if isinstance(body, dict) else [],
        retry_after=int(retry) if retry and retry.isdigit() else None,
        type=str(body.get("type") or "") if isinstance(body, dict) else "",
        body=body if isinstance(body, dict) else {},
    )
