"""The route template of a request (`/v1/trainees/{trainee_id}`), for span names and metric
labels: ids and codes in the path must never reach either.

FastAPI keeps included routers as they are, so `scope["route"]` is the route as its own router
declared it, without the prefixes of the routers that include it (`/requirements`, not
`/v1/requirements`). The full template is found among the paths of the app's OpenAPI document:
the one the path matches and that ends in the declared route (so `/v1/trainees/me` is not
taken for `/v1/trainees/{trainee_id}`). Requests answered before routing (401 and 413 from the
limits) have no route: the most literal matching template is taken."""

from __future__ import annotations

import re
from typing import Any

from starlette.types import Scope

_CACHE = "wps_route_templates"


def route_template(scope: Scope) -> str | None:
    """The template of the route that answered (or would answer) the request; None if no
    operation of the app matches its path."""
    declared = getattr(scope.get("route"), "path", None)
    path = scope.get("path", "")
    matching = [
        template for pattern, template in _templates(scope.get("app")) if pattern.fullmatch(path)
    ]
    if isinstance(declared, str) and declared:
        ending = [template for template in matching if template.endswith(declared)]
        if ending:
            matching = ending
        elif not matching:
            return declared  # a route outside the OpenAPI document (e.g. /metrics)
    if not matching:
        return None
    # The most literal template wins: fewest parameters, then the longest literal text.
    return min(matching, key=lambda t: (t.count("{"), -len(re.sub(r"\{[^}]*\}", "", t))))


def _templates(app: Any) -> list[tuple[re.Pattern[str], str]]:
    state = getattr(app, "state", None)
    cached: list[tuple[re.Pattern[str], str]] | None = getattr(state, _CACHE, None)
    if cached is not None:
        return cached
    try:
        paths = app.openapi()["paths"]
    except Exception:  # no OpenAPI document: nothing to match against
        return []
    found = []
    for template in paths:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        found.append((re.compile(pattern), template))
    if state is not None:
        setattr(state, _CACHE, found)
    return found
