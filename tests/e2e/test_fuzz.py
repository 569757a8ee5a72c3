"""Every operation of the four services, fuzzed in process from its own OpenAPI (schemathesis):
whatever a client sends, valid or not, the answer is never a server error, and it is what the
document says: a declared status, with the declared media type, body schema and headers.

Each operation is a test of its own, so a defect is tracked by marking one operation, never a
whole service. Generation is derandomised (the same examples every run) and bounded, so the
four services stay within a few minutes per database on a small machine.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.pytest._test_builder import build_operation_test
from schemathesis.python import asgi as schemathesis_asgi

from wps_certification.main import create_app as certification_app
from wps_certification.settings import CertificationSettings
from wps_common.natsserver import NatsServer
from wps_common.testing import auth, bus_settings
from wps_common.testing.plugin import _admin, _run
from wps_curriculum.main import create_app as curriculum_app
from wps_curriculum.settings import CurriculumSettings
from wps_enrolment.main import create_app as enrolment_app
from wps_enrolment.settings import EnrolmentSettings
from wps_webhooks.main import create_app as webhooks_app
from wps_webhooks.settings import WebhooksSettings

ADMIN_TOKEN = auth("admin")["Authorization"].removeprefix("Bearer ")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Per operation: the schema's examples, the coverage phase (boundary values and one violation of
# each constraint: wrong types, values out of range, missing fields, unexpected methods) and
# then 20 random valid and invalid requests. Derandomised: every run sends the same requests.
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 1325,
        # Protected operations take the OpenID Connect scheme's token: an admin may call all.
        "auth": {"openapi": {"oidc": {"bearer": ADMIN_TOKEN}}},
        # What a hostile client tries first, mixed into generated values: integers past the
        # database's integer types, text with NUL, other controls and direction overrides.
        "dictionaries": {
            "hostile-integers": {"values": [2**31, 2**63, 2**64, -(2**63) - 1, 10**30]},
            "hostile-strings": {
                "values": ["\x00", "a\x00b", "\r", "a\rb", "\x1b[31m", "\u202eevil", "=1+1"]
            },
        },
        "generation": {
            "mode": "all",
            "max-examples": 20,
            "deterministic": True,
            "no-shrink": True,
            "database": "none",
            # The token is the configured one on every request: a mangled one is a 401 and
            # would spend the examples at the door.
            "with-security-parameters": False,
            "dictionaries": {
                "integer": {"dictionary": "hostile-integers", "probability": 0.3},
                "string": {"dictionary": "hostile-strings", "probability": 0.2},
            },
        },
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
        "suppress-health-check": ["all"],
    }
)


def _certification(database_url: str, var_dir: Path, **bus: Any) -> FastAPI:
    return certification_app(
        CertificationSettings(
            database_url=database_url,
            render_workers=0,
            var_dir=var_dir,
            # The fuzzer is one client asking many times: the limiter would answer 429 and hide
            # what the lookups themselves do.
            verify_rate_per_minute=1_000_000,
            verify_burst=1_000_000,
            **bus,
        )
    )


SERVICES: dict[str, Callable[..., FastAPI]] = {
    "curriculum": lambda url, var_dir, **bus: curriculum_app(
        CurriculumSettings(database_url=url, **bus)
    ),
    "enrolment": lambda url, var_dir, **bus: enrolment_app(
        EnrolmentSettings(database_url=url, **bus)
    ),
    "certification": _certification,
    "webhooks": lambda url, var_dir, **bus: webhooks_app(WebhooksSettings(database_url=url, **bus)),
}

# Operations with a known server error that another change fixes, by (service, method, path)
# and the databases it shows on. Remove an entry once its fix is in (an XPASS says so).
KNOWN_DEFECTS: dict[tuple[str, str, str], tuple[frozenset[str], str]] = {}


def _operations() -> list[tuple[str, str, str]]:
    """(service, METHOD, path) of every documented operation, read from each app's OpenAPI."""
    found = []
    with tempfile.TemporaryDirectory() as var_dir:
        for name, make in SERVICES.items():
            schema = make("sqlite+aiosqlite://", Path(var_dir)).openapi()
            for path, methods in schema["paths"].items():
                for method in methods:
                    found.append((name, method.upper(), path))
    return found


def _cases() -> list[Any]:
    return [
        pytest.param(service, method, path, id=f"{service}:{method} {path}")
        for service, method, path in _operations()
    ]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def db_backend(request: pytest.FixtureRequest) -> str:
    """Both databases, each service started once per database for all its operations."""
    backend: str = request.param
    return backend


# Kept before the `services` fixture stands it down for schemathesis' own plugin.
SHUTDOWN_LIFESPANS = schemathesis_asgi.shutdown_lifespans


@dataclass
class Fuzzed:
    """A service's app, started by schemathesis in its own event-loop thread, and its schema."""

    app: FastAPI
    schema: Any


class Services:
    """Starts each service on first use (one at a time: the one before is stopped) and keeps
    it for the rest of that service's operations."""

    def __init__(self, backend: str, nats_url: str, tmp: Path, admin_url: str) -> None:
        self.backend, self.nats_url, self.tmp, self.admin_url = backend, nats_url, tmp, admin_url
        self.current: tuple[str, Fuzzed] | None = None
        self.databases: list[str] = []

    def get(self, name: str) -> Fuzzed:
        if self.current is not None and self.current[0] == name:
            return self.current[1]
        self.stop()
        app = SERVICES[name](
            self._database(name),
            self.tmp / name,
            **bus_settings(self.nats_url),
            # Stopping one service before the next is not what is tested here.
            shutdown_grace_seconds=1.0,
        )
        # Loading the schema through the app starts its lifespan (database, NATS, workers) in
        # schemathesis' event-loop thread, where every request then runs.
        schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
        self.current = (name, Fuzzed(app, schema))
        return self.current[1]

    def _database(self, name: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite+aiosqlite:///{self.tmp / f'{name}.db'}"
        database = f"wps_test_fuzz_{name}_{self.tmp.name[-8:].lower()}"
        _run(_admin(self.admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        _run(_admin(self.admin_url, f'CREATE DATABASE "{database}"'))
        self.databases.append(database)
        return self.admin_url.rsplit("/", 1)[0] + f"/{database}"

    def stop(self) -> None:
        if self.current is not None:
            self.current = None
            SHUTDOWN_LIFESPANS()

    def close(self) -> None:
        self.stop()
        for database in self.databases:
            _run(_admin(self.admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def services(
    db_backend: str,
    nats_server: NatsServer,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Services]:
    admin_url = request.getfixturevalue("postgres_admin_url") if db_backend == "postgresql" else ""
    started = Services(db_backend, nats_server.url, tmp_path_factory.mktemp("fuzz"), admin_url)
    # schemathesis' pytest plugin ends every ASGI lifespan after each test; the service would
    # then be fuzzed stopped (no consumers, relay or jobs, /readyz 503 draining). Here the
    # module ends it itself, when the next service starts or the module is done.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(schemathesis_asgi, "shutdown_lifespans", lambda: None)
        yield started
        started.close()


@pytest.mark.parametrize(("service", "method", "path"), _cases())
def test_no_server_error(
    services: Services,
    db_backend: str,
    service: str,
    method: str,
    path: str,
    request: pytest.FixtureRequest,
) -> None:
    known = KNOWN_DEFECTS.get((service, method, path))
    if known is not None and db_backend in known[0]:
        # Still run: an unexpected pass says the defect is gone and the entry can go.
        request.applymarker(pytest.mark.xfail(reason=known[1], strict=False))
    schema = services.get(service).schema
    operation = schema[path][method]

    signed_in: list[int] = []

    def no_server_error(case: schemathesis.Case) -> None:
        response = case.call_and_validate(checks=CHECKS)
        # A fuzzer refused at the door tests nothing: with the token (the coverage phase also
        # sends requests without it or with a mangled one, on purpose), sign-in must succeed.
        if response.request.headers.get("Authorization") == f"Bearer {ADMIN_TOKEN}":
            assert response.status_code != 401, response.text
            signed_in.append(response.status_code)

    # What `schemathesis.pytest.from_fixture(...).parametrize()` runs for each operation, here
    # as one pytest item per operation so that a known defect marks only its operation.
    test = build_operation_test(
        config=schema.config,
        operation=operation,
        test_func=no_server_error,
        given_kwargs={},
        feedback=FeedbackSources(),
    )
    test()
    if operation.definition.raw.get("security"):
        # Every 401 is a declared answer: only this says the configured token was sent at all.
        assert signed_in, "no request carried the admin token: is CONFIG's auth scheme declared?"
    # Random generation seldom hits the one value that breaks a parameter, and schemathesis
    # never puts NUL in a path: every parameter also gets the values that broke them before.
    for case in _hostile_parameters(operation):
        no_server_error(case)


HOSTILE_INTEGER = 2**63  # past SQLite's int64 (and PostgreSQL's integer and bigint)
HOSTILE_TEXT = "a\x00b"  # PostgreSQL refuses NUL in text


def _hostile_parameters(operation: Any) -> list[schemathesis.Case]:
    """Requests with one hostile parameter each (all path parameters at once), on top of a
    valid body when the operation takes one, so that the parameter reaches the handler."""
    parameters = [
        p for p in operation.definition.raw.get("parameters", []) if p["in"] in ("path", "query")
    ]
    if not parameters:
        return []
    drawn: list[schemathesis.Case] = []

    @hypothesis.settings(
        max_examples=1,
        database=None,
        derandomize=True,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(operation.as_strategy(schemathesis.GenerationMode.POSITIVE))
    def draw(case: schemathesis.Case) -> None:
        drawn.append(case)

    draw()
    base = drawn[0]

    def hostile(parameter: dict[str, Any]) -> Any:
        return HOSTILE_INTEGER if _is_integer(parameter["schema"]) else HOSTILE_TEXT

    path = [p for p in parameters if p["in"] == "path"]
    # Path parameters of a case are kept percent-encoded, as they go into the URL.
    variants = [({p["name"]: quote(str(hostile(p)), safe="") for p in path}, {})] if path else []
    variants += [
        (base.path_parameters or {}, {p["name"]: hostile(p)})
        for p in parameters
        if p["in"] == "query"
    ]
    return [
        operation.Case(
            path_parameters=path_parameters,
            query=query,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},  # not added to cases made here
            body=base.body,
            media_type=base.media_type,
        )
        for path_parameters, query in variants
    ]


def _is_integer(schema: dict[str, Any]) -> bool:
    options = schema.get("anyOf", [schema])
    return any(option.get("type") == "integer" for option in options)
