"""Every route the services publish reaches its owner through each overlay's Ingress: the
routes come from the services' own OpenAPI documents (and the portal's router), so a new
resource that nobody added to the Ingress fails here instead of answering 404 in production."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.routing import Mount, Route

from wps_certification.main import create_app as certification_app
from wps_certification.settings import CertificationSettings
from wps_curriculum.main import create_app as curriculum_app
from wps_curriculum.settings import CurriculumSettings
from wps_enrolment.main import create_app as enrolment_app
from wps_enrolment.settings import EnrolmentSettings
from wps_portal import pages, signin
from wps_portal.main import create_app as portal_app
from wps_portal.settings import PortalSettings
from wps_webhooks.main import create_app as webhooks_app
from wps_webhooks.settings import WebhooksSettings

from .conftest import kustomize

# Probed per pod by the kubelet; through the Ingress they are the portal's.
PER_POD = {"/healthz", "/readyz"}


def service_paths(tmp_path: Path) -> dict[str, set[str]]:
    """Each service's documented paths, with every `{parameter}` filled in."""
    sqlite = f"sqlite+aiosqlite:///{tmp_path}/db.sqlite"
    apps = {
        "curriculum": curriculum_app(CurriculumSettings(database_url=sqlite)),
        "enrolment": enrolment_app(EnrolmentSettings(database_url=sqlite)),
        "certification": certification_app(
            CertificationSettings(database_url=sqlite, var_dir=tmp_path, render_workers=0)
        ),
        "webhooks": webhooks_app(WebhooksSettings(database_url=sqlite)),
    }
    paths = {name: {_concrete(p) for p in app.openapi()["paths"]} for name, app in apps.items()}
    paths["portal"] = _portal_paths(portal_app(PortalSettings(database_url=sqlite)))
    return {name: found - PER_POD for name, found in paths.items()}


def _portal_paths(app: FastAPI) -> set[str]:
    """The portal publishes no OpenAPI document: its routers and mounts are the list."""
    paths = {"/"}
    for router in [*pages.routers(), signin.router]:
        paths |= {_concrete(route.path) for route in router.routes if isinstance(route, Route)}
    for mount in app.routes:
        if isinstance(mount, Mount):
            paths.add(_concrete(mount.path) + "/portal.css")
    return paths


def _concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", template)


def ingress_backend(ingress: dict[str, Any], path: str) -> str | None:
    """The Service an ingress controller sends `path` to, by the Ingress rules: Exact paths
    match whole, Prefix paths element by element, the longest match wins (Exact on a tie)."""
    elements = [part for part in path.split("/") if part]
    matches: list[tuple[int, bool, str]] = []
    for rule in ingress["spec"]["rules"]:
        for entry in rule["http"]["paths"]:
            wanted = [part for part in entry["path"].split("/") if part]
            exact = entry["pathType"] == "Exact"
            if (entry["path"] == path) if exact else (elements[: len(wanted)] == wanted):
                rank = len(entry["path"].rstrip("/"))
                matches.append((rank, exact, entry["backend"]["service"]["name"]))
    return max(matches, key=lambda match: match[:2])[2] if matches else None


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    return service_paths(tmp_path_factory.mktemp("openapi"))


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_the_ingress_routes_every_published_path_to_its_service(
    overlay: str, published: dict[str, set[str]]
) -> None:
    objects = kustomize(overlay)
    [ingress] = [o for o in objects if o["kind"] == "Ingress"]
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    images = {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]["containers"][0]["image"]
        for o in objects
        if o["kind"] == "Deployment"
    }
    misrouted = [
        f"{path} (goes to {ingress_backend(ingress, path)}, belongs to {owner})"
        for owner, paths in published.items()
        for path in sorted(paths)
        if ingress_backend(ingress, path) != owner
    ]
    assert not misrouted, "the Ingress misroutes: " + ", ".join(misrouted)
    assert ingress_backend(ingress, "/") == "portal"
    for owner in published:  # each backend is a Service in front of that service's pods
        service = services[owner]
        assert {"name": "http", "port": 80, "targetPort": "http"} in service["spec"]["ports"]
        assert service["spec"]["selector"] == {"app.kubernetes.io/name": owner}
        assert images[owner].split(":")[0].endswith(f"/{owner}")


def test_a_prefix_matches_whole_path_elements() -> None:
    """The matcher itself: /v1/compliance is not routed by a /v1/comp rule, and the longest
    prefix wins over `/`."""
    ingress = {
        "spec": {
            "rules": [
                {
                    "http": {
                        "paths": [
                            {"path": "/", "pathType": "Prefix", "backend": _to("portal")},
                            {"path": "/v1/comp", "pathType": "Prefix", "backend": _to("other")},
                            {"path": "/v1/x", "pathType": "Exact", "backend": _to("exact")},
                        ]
                    }
                }
            ]
        }
    }
    assert ingress_backend(ingress, "/v1/compliance/summary") == "portal"
    assert ingress_backend(ingress, "/v1/comp/summary") == "other"
    assert ingress_backend(ingress, "/v1/x") == "exact"
    assert ingress_backend(ingress, "/v1/x/y") == "portal"


def _to(name: str) -> dict[str, Any]:
    return {"service": {"name": name, "port": {"name": "http"}}}
