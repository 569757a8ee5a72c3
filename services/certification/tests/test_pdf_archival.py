"""The certificate PDF is PDF/A-3b, approved by pikepdf's PDF/A validator, and carries its
signed credential as an embedded file that verifies with nothing but the JWKS."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pikepdf
import pikepdf.pdfa as pdfa
import pytest

from wps_certification.pdf import (
    CREDENTIAL_FILE,
    PDFA,
    CertificateModule,
    CertificateSignatory,
    render_certificate,
)
from wps_common.testing import auth

from .conftest import ACADEMY_ID, issue
from .test_credential import verify_with_jwks
from .test_pdf import make_doc
from .test_pdf_layout import ACADEMY_200, ACADEMY_KK_200, NAME_200, NAME_KK_200
from .test_signatures import png

STAFF = auth("academy_admin", academy_id=ACADEMY_ID, sub="staff-1")
TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJ2YyI6e319.c2lnbmF0dXJl"


def approved(data: bytes) -> None:
    report = pdfa.validate_written(
        io.BytesIO(data), PDFA, pdfa.resolve_save_kwargs(PDFA, deterministic_id=True)
    )
    assert report.passed, "\n".join(str(finding) for finding in report.findings)


def embedded(data: bytes) -> bytes | None:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        if CREDENTIAL_FILE not in pdf.attachments:
            assert "/AF" not in pdf.Root
            return None
        spec = pdf.attachments[CREDENTIAL_FILE]
        assert spec.relationship == pikepdf.Name.Alternative
        assert spec.get_file().mime_type == "application/vc+jwt"
        assert [entry.objgen for entry in pdf.Root.AF] == [spec.obj.objgen]
        return bytes(spec.get_file().read_bytes())


@pytest.mark.parametrize(
    "changes",
    [
        {"language": "en"},
        {"language": "ru", "status": "revoked"},
        {"language": "en", "academy_name": ACADEMY_200, "holder_name": NAME_200},
        {"language": "kk", "academy_name": ACADEMY_KK_200, "holder_name": NAME_KK_200},
        {"language": "kk", "status": "expired"},
        {
            "language": "ru",
            "modules": tuple(CertificateModule(f"M-{i}", f"Модуль {i}", 2) for i in range(30)),
            "signatories": (
                CertificateSignatory("Нурлан Абдыкаримов", "Начальник академии", png()),
                CertificateSignatory("Айгуль Сейткалиева", "Заместитель", None),
            ),
            "seal": png(400, 400),
        },
    ],
    ids=[
        "en",
        "ru-revoked",
        "long-names",
        "kk-long-names",
        "kk-expired",
        "signatories-and-many-modules",
    ],
)
def test_every_layout_is_approved_as_pdf_a_3b(changes: dict[str, Any]) -> None:
    language = changes.pop("language")
    data = render_certificate(make_doc(language, credential_jwt=TOKEN, **changes))
    approved(data)
    assert embedded(data) == TOKEN.encode()


def test_without_a_credential_nothing_is_embedded_and_it_is_still_pdf_a() -> None:
    data = render_certificate(make_doc("en", status="revoked"))
    approved(data)
    assert embedded(data) is None


async def test_the_served_pdf_carries_a_credential_that_verifies(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    certificate = await issue(bus, database_url, "t-a1")
    path = f"/v1/certificates/{certificate.id}"
    served = await client.get(f"{path}.pdf", headers=STAFF)
    assert served.status_code == 200, served.text
    approved(served.content)
    token = embedded(served.content)
    assert token is not None
    claims = await verify_with_jwks(client, token.decode())
    assert claims["jti"] == f"urn:uuid:{certificate.id}"
    credential = (await client.get(f"{path}/credential", headers=STAFF)).json()
    assert token.decode() == credential["jwt"]  # the same credential the API hands out

    revoke = await client.post(
        f"{path}/revoke", json={"reason": "Issued to the wrong person by mistake"}, headers=STAFF
    )
    assert revoke.status_code == 200, revoke.text
    after = await client.get(f"{path}.pdf", headers=STAFF)
    assert after.status_code == 200 and embedded(after.content) is None
