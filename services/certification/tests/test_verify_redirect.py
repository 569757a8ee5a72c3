"""A browser that opens a verification link (the QR code on a certificate) lands on the portal's
verification page when CERTIFICATION_PORTAL_URL is set; JSON clients get the answer as before."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from wps_certification.main import create_app
from wps_certification.settings import CertificationSettings
from wps_common.testing import running_app

from .conftest import issue

PORTAL = "https://portal.example.org/"
CHROME = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


def settings_for(
    bus: dict[str, Any], database_url: str, tmp_path: pathlib.Path, **changes: Any
) -> CertificationSettings:
    return CertificationSettings(
        database_url=database_url, render_workers=0, var_dir=tmp_path / "var", **bus, **changes
    )


async def test_browsers_are_sent_to_the_portal_and_json_clients_are_answered(
    bus: dict[str, Any], database_url: str, tmp_path: pathlib.Path
) -> None:
    # A burst of one: the redirects must not use up the client's lookups.
    settings = settings_for(bus, database_url, tmp_path, portal_url=PORTAL, verify_burst=1)
    async with running_app(create_app(settings)) as client:
        certificate = await issue(bus, database_url, "t-redirect")
        code = certificate.verification_code
        for accept in (CHROME, "text/html", "application/json;q=0.5, text/html"):
            browser = await client.get(f"/v1/verify/{code}", headers={"Accept": accept})
            assert browser.status_code == 303, accept
            assert browser.headers["location"] == f"https://portal.example.org/verify/{code}"
        # The portal shows unknown codes too: no lookup here, so no 404 either.
        unknown = await client.get("/v1/verify/AAAA-BBBB-CCCC-DDDD", headers={"Accept": CHROME})
        assert unknown.status_code == 303
        assert unknown.headers["location"].endswith("/verify/AAAA-BBBB-CCCC-DDDD")
        # Whatever is in the path stays a path segment of the portal's address.
        odd = await client.get("/v1/verify/a%3Fb%23c%20d", headers={"Accept": CHROME})
        assert odd.headers["location"] == "https://portal.example.org/verify/a%3Fb%23c%20d"

        # The QR code carries the certificate's language: so does the portal's address.
        qr = await client.get(f"/v1/verify/{code}?lang=kk", headers={"Accept": CHROME})
        assert qr.headers["location"] == f"https://portal.example.org/verify/{code}?lang=kk"
        for unknown_language in ("de", "k%26x%3Dy"):
            other = await client.get(
                f"/v1/verify/{code}?lang={unknown_language}", headers={"Accept": CHROME}
            )
            assert other.headers["location"] == f"https://portal.example.org/verify/{code}"

        answer = await client.get(f"/v1/verify/{code}", headers={"Accept": "application/json"})
        assert answer.status_code == 200
        assert answer.json()["status"] == "valid" and answer.json()["number"] == certificate.number


@pytest.mark.parametrize(
    "accept",
    [None, "*/*", "application/json", "application/json, text/html;q=0.5", "text/html;q=0"],
)
async def test_what_is_not_a_preference_for_html_gets_json(
    bus: dict[str, Any], database_url: str, tmp_path: pathlib.Path, accept: str | None
) -> None:
    settings = settings_for(bus, database_url, tmp_path, portal_url=PORTAL)
    async with running_app(create_app(settings), ready=False) as client:
        headers = {"Accept": accept} if accept is not None else {}
        answer = await client.get("/v1/verify/AAAA-BBBB-CCCC-DDDD", headers=headers)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


async def test_without_a_portal_browsers_get_the_services_own_page(
    bus: dict[str, Any], database_url: str, tmp_path: pathlib.Path
) -> None:
    settings = settings_for(bus, database_url, tmp_path)
    assert settings.portal_url == ""
    async with running_app(create_app(settings)) as client:
        certificate = await issue(bus, database_url, "t-no-portal")
        page = await client.get(
            f"/v1/verify/{certificate.verification_code}", headers={"Accept": CHROME}
        )
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert certificate.number in page.text


def test_the_portal_url_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTIFICATION_PORTAL_URL", "https://training.example.org")
    assert CertificationSettings().portal_url == "https://training.example.org"
