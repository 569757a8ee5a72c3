"""Each service's OpenAPI document tells a client what it will really get: every error status
with the problem+json schema, Idempotency-Key on writes, OpenID Connect on protected operations.
(test_fuzz.py then checks the answers against the document.)"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI

from wps_certification.main import create_app as certification_app
from wps_certification.settings import CertificationSettings
from wps_common.errors import PROBLEM_JSON
from wps_common.testing import wait_until
from wps_curriculum.main import create_app as curriculum_app
from wps_curriculum.settings import CurriculumSettings
from wps_enrolment.main import create_app as enrolment_app
from wps_enrolment.settings import EnrolmentSettings
from wps_webhooks.main import create_app as webhooks_app
from wps_webhooks.settings import WebhooksSettings

from .conftest import Platform
from .test_first_certificate import ADMIN
from .test_first_certificate import (
    test_a_passing_result_yields_one_verifiable_certificate as first_certificate,
)

ISSUER = "https://idp.example.org/realms/wps"
SQLITE = "sqlite+aiosqlite://"
WRITES = {"post", "put", "patch", "delete"}
# Answer anyone: health, certificate verification, the revocation lists and the keys that
# check credentials.
PUBLIC = {
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/v1/verify/{code}"),
    ("get", "/v1/status-lists/{academy_id}/{number}"),
    ("get", "/.well-known/jwks.json"),
}

SERVICES: dict[str, Callable[[Path, str], FastAPI]] = {
    "curriculum": lambda tmp, issuers: curriculum_app(
        CurriculumSettings(database_url=SQLITE, oidc_issuers=issuers)
    ),
    "enrolment": lambda tmp, issuers: enrolment_app(
        EnrolmentSettings(database_url=SQLITE, oidc_issuers=issuers)
    ),
    "certification": lambda tmp, issuers: certification_app(
        CertificationSettings(
            database_url=SQLITE, oidc_issuers=issuers, render_workers=0, var_dir=tmp
        )
    ),
    "webhooks": lambda tmp, issuers: webhooks_app(
        WebhooksSettings(database_url=SQLITE, oidc_issuers=issuers)
    ),
}


@pytest.fixture(params=list(SERVICES), scope="module")
def document(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp(request.param)
    return SERVICES[request.param](tmp, ISSUER).openapi()


def _operations(document: Any) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def _response(document: Any, operation: dict[str, Any], status: int) -> dict[str, Any]:
    response: dict[str, Any] = operation["responses"][str(status)]
    if "$ref" in response:
        response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response


def _assert_problem(document: Any, method: str, path: str, status: int) -> None:
    operation = document["paths"][path][method]
    where = f"{method.upper()} {path}"
    assert str(status) in operation["responses"], f"{where} does not declare {status}"
    content = _response(document, operation, status).get("content", {})
    assert list(content) == [PROBLEM_JSON], f"{where} {status}: {list(content)}"
    assert content[PROBLEM_JSON]["schema"] == {"$ref": "#/components/schemas/Problem"}, where


def test_no_trace_of_fastapis_default_errors(document: Any) -> None:
    text = json.dumps(document)
    assert "HTTPValidationError" not in text
    assert '"ValidationError"' not in text
    assert "HTTPBearer" not in text


def test_operations_only(document: Any) -> None:
    # Prometheus scrapes /metrics; it is no part of the API.
    assert "/metrics" not in document["paths"]


def test_the_problem_schema_is_what_errors_send(document: Any) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert set(problem["properties"]) >= {
        "type",
        "title",
        "status",
        "detail",
        "instance",
        "request_id",
        "errors",
    }
    field = document["components"]["schemas"]["FieldProblem"]
    assert set(field["required"]) == {"field", "message"}


def test_every_error_status_is_declared_as_a_problem(document: Any) -> None:
    for method, path, operation in _operations(document):
        protected = (method, path) not in PUBLIC
        expected = {500}
        if operation.get("parameters") or "requestBody" in operation:
            expected.add(422)
        if protected:
            expected |= {401, 403, 503}
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            expected.add(404)
        if method in WRITES:
            expected |= {400, 409, 413, 422}
        for status in expected:
            _assert_problem(document, method, path, status)
        if not protected:
            assert "401" not in operation["responses"], f"{method} {path} is public"
        # No error without its schema, whatever declared it.
        for status in operation["responses"]:
            if int(status) >= 400 and not (path == "/readyz" and status == "503"):
                _assert_problem(document, method, path, int(status))


# The only reads that answer a bare array: a trainee's compliance is one row per requirement
# that applies to her, not a list that grows with the records.
ARRAYS = {("get", "/v1/trainees/{trainee_id}/compliance")}


def test_every_list_answers_a_keyset_page(document: Any) -> None:
    for method, path, operation in _operations(document):
        content = operation["responses"].get("200", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema", {})
        where = f"{method.upper()} {path}"
        if schema.get("type") == "array":
            assert (method, path) in ARRAYS, f"{where} answers an array, not a page"
            continue
        if not schema.get("$ref", "").startswith("#/components/schemas/Page_"):
            continue
        query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert query >= {"limit", "offset", "cursor"}, f"{where} pages without {query}"


def test_writes_accept_an_idempotency_key(document: Any) -> None:
    for method, path, operation in _operations(document):
        headers = [p for p in operation.get("parameters", []) if p["in"] == "header"]
        keys = [p for p in headers if p["name"] == "Idempotency-Key"]
        if method in WRITES:
            assert len(keys) == 1, f"{method.upper()} {path} does not declare Idempotency-Key"
            assert keys[0]["required"] is False
            assert keys[0]["schema"]["maxLength"] == 200
        else:
            assert not keys, f"{method.upper()} {path} is not a write"


def test_protected_operations_need_an_openid_connect_token(document: Any) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["oidc"] == {
        "type": "openIdConnect",
        "openIdConnectUrl": f"{ISSUER}/.well-known/openid-configuration",
        "description": schemes["oidc"]["description"],
    }
    # The same token pasted into Swagger UI's Authorize dialog.
    assert schemes["bearer"]["type"] == "http" and schemes["bearer"]["scheme"] == "bearer"
    assert "security" not in document
    for method, path, operation in _operations(document):
        if (method, path) in PUBLIC:
            assert "security" not in operation, f"{method.upper()} {path} is public"
        else:
            assert operation["security"] == [{"oidc": []}, {"bearer": []}], path


def test_the_development_provider_without_issuers(tmp_path: Path) -> None:
    document = SERVICES["webhooks"](tmp_path, "").openapi()
    assert document["components"]["securitySchemes"]["oidc"]["openIdConnectUrl"] == (
        "http://localhost:8006/.well-known/openid-configuration"
    )


def test_files_and_redirects_are_declared_with_their_media_types(tmp_path: Path) -> None:
    certification = SERVICES["certification"](tmp_path, ISSUER).openapi()["paths"]
    pdf = certification["/v1/certificates/{certificate_id}.pdf"]["get"]["responses"]
    assert list(pdf["200"]["content"]) == ["application/pdf"]
    assert "content" not in pdf["304"]
    verify = certification["/v1/verify/{code}"]["get"]["responses"]
    assert set(verify["200"]["content"]) == {"application/json", "text/html"}
    assert "Location" in verify["303"]["headers"] and "content" not in verify["303"]
    assert "Retry-After" in verify["429"]["headers"]
    enrolment = SERVICES["enrolment"](tmp_path, ISSUER).openapi()["paths"]
    export = enrolment["/v1/academies/{academy_id}/trainees.csv"]["get"]["responses"]
    assert list(export["200"]["content"]) == ["text/csv"]
    template = enrolment["/v1/imports/trainees/template"]["get"]["responses"]
    assert list(template["200"]["content"]) == [
        "text/csv",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ]
    report = enrolment["/v1/reports/{measure}"]["get"]["responses"]
    assert set(report["200"]["content"]) == {"application/json", "text/csv"}
    monthly = enrolment["/v1/reports/compliance/monthly"]["get"]["responses"]
    assert set(monthly["200"]["content"]) == {"application/json", "text/csv"}


class Documented:
    """Checks every answer a client gets against the service's own document: the status is
    declared, the media type is one declared for it, and the body matches its schema."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str, int]] = set()

    async def watch(self, client: httpx.AsyncClient) -> None:
        schema = schemathesis.openapi.from_dict((await client.get("/openapi.json")).json())

        async def check(response: httpx.Response) -> None:
            await response.aread()
            request = response.request
            if request.url.path in ("/openapi.json", "/readyz"):
                return
            operation = schema.find_operation_by_path(request.method, request.url.path)
            where = f"{request.method} {request.url.path}"
            assert operation is not None, f"{where} is not documented"
            declared = operation.definition.raw["responses"]
            status = str(response.status_code)
            assert status in declared, f"{where} answered {status}, declares {list(declared)}"
            documented = declared[status]
            if "$ref" in documented:
                documented = schema.raw_schema["components"]["responses"][
                    documented["$ref"].rsplit("/", 1)[1]
                ]
            media = response.headers.get("content-type", "").split(";")[0]
            if documented.get("content"):
                assert media in documented["content"], f"{where} {status}: {media}"
            operation.validate_response(response)
            self.seen.add((request.method, operation.path, response.status_code))

        client.event_hooks["response"].append(check)


async def test_a_journey_answers_as_documented(platform: Platform) -> None:
    """The first certificate's journey and the reads around it, every answer checked against
    the document (the fuzzer seldom reaches a success: its ids name nothing)."""
    documented = Documented()
    for client in (platform.curriculum, platform.enrolment, platform.certification):
        await documented.watch(client)
    await first_certificate(platform)

    curriculum, enrolment, certification = (
        platform.curriculum,
        platform.enrolment,
        platform.certification,
    )
    profile = {
        "code": "UN-PKO-PREDEPLOY",
        "title": {"en": "UN peacekeeping pre-deployment"},
        "items": [{"kind": "module", "code": "WPS-101"}],
    }
    created = await curriculum.post("/v1/clearance-profiles", json=profile, headers=ADMIN)
    assert created.status_code == 201, created.text
    for path in (
        "/v1/modules",
        "/v1/modules/WPS-101",
        "/v1/modules/WPS-101/versions",
        "/v1/modules/WPS-101/versions/1",
        "/v1/modules/WPS-101/history",
        "/v1/tracks",
        "/v1/tracks/GHR-FOUND?lang=ru",
        "/v1/tracks/GHR-FOUND/versions/1",
        "/v1/requirements",
        "/v1/clearance-profiles",
        "/v1/clearance-profiles/UN-PKO-PREDEPLOY",
        "/v1/clearance-profiles/UN-PKO-PREDEPLOY/history",
    ):
        assert (await curriculum.get(path, headers=ADMIN)).status_code == 200, path

    [academy] = (await enrolment.get("/v1/academies", headers=ADMIN)).json()["items"]
    [trainee] = (await enrolment.get("/v1/trainees", headers=ADMIN)).json()["items"]
    [cohort] = (await enrolment.get("/v1/cohorts", headers=ADMIN)).json()["items"]
    for path in (
        f"/v1/academies/{academy['id']}",
        f"/v1/academies/{academy['id']}/trainees.csv",
        f"/v1/trainees/{trainee['id']}",
        f"/v1/trainees/{trainee['id']}/history",
        f"/v1/trainees/{trainee['id']}/enrolments",
        f"/v1/trainees/{trainee['id']}/compliance",
        f"/v1/cohorts/{cohort['id']}",
        f"/v1/cohorts/{cohort['id']}/enrolments",
        "/v1/compliance",
        "/v1/compliance/summary",
        "/v1/reports/completion?by=rank",
        "/v1/reports/participation?format=csv",
        "/v1/reports/compliance?by=gender&across=rank",
        "/v1/reports/compliance?by=gender&across=unit&from=2026-01-01&format=csv",
        "/v1/reports/compliance/monthly?from=2026-01-01&to=2026-03-31",
        "/v1/reports/compliance/monthly?from=2026-01-01&to=2026-03-31&format=csv",
        "/v1/compliance?changed_since=2026-01-01T00:00:00Z",
        "/v1/imports/trainees/template",
        "/v1/imports/trainees/template?format=xlsx",
    ):
        assert (await enrolment.get(path, headers=ADMIN)).status_code == 200, path
    clearance = (
        f"/v1/clearance?employee_number={trainee['employee_number']}&profile=UN-PKO-PREDEPLOY"
    )

    async def answered() -> bool:
        return (await enrolment.get(clearance, headers=ADMIN)).status_code == 200

    await wait_until(answered, what="clearance_profile.changed to reach enrolment")
    [enrolled] = (
        await enrolment.get(f"/v1/cohorts/{cohort['id']}/enrolments", headers=ADMIN)
    ).json()["items"]
    assert (
        await enrolment.get(f"/v1/enrolments/{enrolled['id']}/results", headers=ADMIN)
    ).status_code == 200

    [certificate] = (await certification.get("/v1/certificates", headers=ADMIN)).json()["items"]
    path = f"/v1/certificates/{certificate['id']}"
    assert (await certification.get(f"{path}/credential", headers=ADMIN)).status_code == 200
    jwt_accept = {**ADMIN, "Accept": "application/vc+jwt"}
    assert (await certification.get(f"{path}/credential", headers=jwt_accept)).status_code == 200
    pdf = await certification.get(f"{path}.pdf", headers=ADMIN)
    unchanged = {**ADMIN, "If-None-Match": pdf.headers["ETag"]}
    assert (await certification.get(f"{path}.pdf", headers=unchanged)).status_code == 304
    assert (await certification.get("/.well-known/jwks.json")).status_code == 200
    revoked = await certification.post(
        f"{path}/revoke", json={"reason": "Issued in error"}, headers=ADMIN
    )
    assert revoked.status_code == 200, revoked.text
    assert (await certification.get(f"{path}/credential", headers=ADMIN)).status_code == 409
    assert (
        await certification.post(f"{path}/revoke", json={"reason": "again"}, headers=ADMIN)
    ).status_code == 409
    assert len(documented.seen) > 40
