"""Inputs that used to crash or mislead: integers past the database's types, NUL and other
control characters, and direction overrides in names that print a name reversed."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from wps_common.errors import PROBLEM_JSON
from wps_common.testing import auth

from .conftest import ACADEMY_ID, issue

ADMIN = auth("admin")
STAFF = auth("academy_admin", academy_id=ACADEMY_ID, sub="staff-1")
RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: "Ana \u202eavorteP" displays as "Ana Petrova"


def assert_invalid(response: httpx.Response, field: str, *words: str) -> None:
    """A 422 problem that names the field (and says why, in `words`)."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    problem = response.json()
    assert field in [error["field"] for error in problem["errors"]], problem
    for word in words:
        assert word in problem["detail"], problem["detail"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("offset=9223372036854775808", "offset"),  # 2**63: SQLite's int64 overflowed (500)
        ("offset=18446744073709551616", "offset"),
        ("offset=1000001", "offset"),
        ("limit=501", "limit"),
        ("limit=0", "limit"),
        ("trainee_id=a%00b", "trainee_id"),  # NUL: PostgreSQL refused the query (500)
        ("academy_id=%00", "academy_id"),
        ("track_code=X%00", "track_code"),
    ],
)
async def test_list_parameters_are_bounded(
    client: httpx.AsyncClient, query: str, field: str
) -> None:
    assert_invalid(await client.get(f"/v1/certificates?{query}", headers=ADMIN), field)


async def test_a_nul_in_a_certificate_id_is_refused_not_looked_up(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/v1/certificates/a%00b", "/v1/certificates/a%00b.pdf"):
        assert_invalid(await client.get(path, headers=ADMIN), "certificate_id", "NUL")
    response = await client.post(
        "/v1/certificates/a%00b/revoke", json={"reason": "a good reason"}, headers=STAFF
    )
    assert_invalid(response, "certificate_id")


async def test_a_revocation_reason_is_text_of_lines_without_other_controls(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    certificate = await issue(bus, database_url, "t-hostile-1")
    path = f"/v1/certificates/{certificate.id}/revoke"
    for reason in ("Fraud\x00established", "Fraud \x1b[31mestablished", "Fraud\restablished"):
        assert_invalid(await client.post(path, json={"reason": reason}, headers=STAFF), "reason")
    reason = "Assessment fraud.\r\nEstablished by the board:\n\t- on 3 March"
    revoked = await client.post(path, json={"reason": reason}, headers=STAFF)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revocation_reason"] == reason.replace("\r\n", "\n")


async def test_a_stored_name_with_a_direction_override_prints_without_it(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    # Enrolment refuses such names now, but older records reach certification by events.
    certificate = await issue(
        bus,
        database_url,
        "t-hostile-2",
        given_name="Ana",
        family_name=f"{RLO}avorteP",
        academy_name=f"Kyiv {RLO}ymedacA",
    )
    assert RLO in certificate.holder_name  # stored as it came

    own = auth("trainee", academy_id=ACADEMY_ID, sub="t-hostile-2")
    pdf = await client.get(f"/v1/certificates/{certificate.id}.pdf?lang=en", headers=own)
    assert pdf.status_code == 200, pdf.text
    text = " ".join(PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text().split())
    assert RLO not in text
    assert "Ana avorteP" in text and "KYIV YMEDACA" in text  # the heading is in capitals

    verified = await client.get(f"/v1/verify/{certificate.verification_code}")
    assert verified.json()["holder_name"] == "Ana avorteP"
    assert verified.json()["academy_name"] == "Kyiv ymedacA"
    page = await client.get(
        f"/v1/verify/{certificate.verification_code}", headers={"Accept": "text/html"}
    )
    assert RLO not in page.text and "Ana avorteP" in page.text


async def test_a_localised_academy_name_with_a_direction_override_prints_without_it(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    certificate = await issue(
        bus,
        database_url,
        "t-hostile-3",
        academy_names={"ru": f"Академия {RLO}веиК"},
        academy_languages=["ru"],
    )
    staff = auth("academy_admin", academy_id=ACADEMY_ID)
    pdf = await client.get(f"/v1/certificates/{certificate.id}.pdf", headers=staff)
    assert pdf.status_code == 200, pdf.text
    text = " ".join(PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text().split())
    assert RLO not in text and "АКАДЕМИЯ ВЕИК" in text
    verified = await client.get(f"/v1/verify/{certificate.verification_code}")
    assert verified.json()["academy_name"] == "Академия веиК"
    page = await client.get(
        f"/v1/verify/{certificate.verification_code}", headers={"Accept": "text/html"}
    )
    assert RLO not in page.text and "Академия веиК" in page.text
