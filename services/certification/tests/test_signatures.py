"""An academy's signatories and seal: images made harmless on upload, versioned sets, and each
certificate printed with the set it was issued under."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import httpx
from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo
from pypdf import PdfReader

from wps_common.testing import auth

from .conftest import ACADEMY_ID, issue

ADMIN = auth("academy_admin", academy_id=ACADEMY_ID, sub="admin-1")
IMAGES = f"/v1/certificate-images/{ACADEMY_ID}"
SIGNATURES = f"/v1/certificate-signatures/{ACADEMY_ID}"


def png(width: int = 600, height: int = 200, secret: str | None = None) -> bytes:
    image = Image.new("RGBA", (width, height), (255, 255, 255, 0))
    ImageDraw.Draw(image).line(
        [(10, height - 10), (width // 2, 10), (width - 10, height - 20)],
        fill=(20, 40, 120, 255),
        width=6,
    )
    info = PngInfo()
    if secret:
        info.add_text("secret", secret)
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    return out.getvalue()


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 300), (30, 60, 160)).save(out, "JPEG")
    return out.getvalue()


async def upload(
    client: httpx.AsyncClient, data: bytes, media: str = "image/png"
) -> httpx.Response:
    return await client.post(IMAGES, content=data, headers={**ADMIN, "Content-Type": media})


def images_in(pdf: bytes) -> int:
    return sum(len(page.images) for page in PdfReader(io.BytesIO(pdf)).pages)


def text_of(pdf: bytes) -> str:
    return " ".join(PdfReader(io.BytesIO(pdf)).pages[0].extract_text().split())


async def test_uploads_are_re_encoded_and_bad_files_are_refused(
    client: httpx.AsyncClient,
) -> None:
    marker = "MARKER-3c9e-hidden-payload"
    response = await upload(client, png(secret=marker))
    assert response.status_code == 201, response.text
    stored = response.json()
    assert (stored["width"], stored["height"], stored["media_type"]) == (600, 200, "image/png")
    got = await client.get(f"{IMAGES}/{stored['id']}", headers=ADMIN)
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    assert marker.encode() not in got.content  # only the pixels survive
    assert hashlib.sha256(got.content).hexdigest() == stored["id"]
    again = await upload(client, png(secret=marker))
    assert again.json()["id"] == stored["id"]  # stored once
    assert (await upload(client, jpeg(), "image/jpeg")).status_code == 201

    refusals = {
        "not an image": (b"just text, named .png", "image/png", 422, "not a readable"),
        "too many pixels": (png(2500, 20), "image/png", 422, "at most 2000"),
        "too large": (b"\x89PNG" + b"0" * (600 * 1024), "image/png", 413, "at most 524288"),
        "another type": (png(), "image/gif", 422, "image/png or image/jpeg"),
    }
    for what, (data, media, status, sentence) in refusals.items():
        response = await upload(client, data, media)
        assert response.status_code == status, what
        assert sentence in response.json()["detail"], what
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    response = await upload(client, gif.getvalue())
    assert response.status_code == 422 and "GIF" in response.json()["detail"]


async def test_only_the_academys_admins_set_its_signatories(client: httpx.AsyncClient) -> None:
    path = SIGNATURES
    expected = {
        "academy admin": (ADMIN, 200),
        "admin": (auth("admin"), 200),
        "other academy's admin": (auth("academy_admin", academy_id="academy-2"), 404),
        "instructor": (auth("instructor", academy_id=ACADEMY_ID), 403),
        "trainee": (auth("trainee", academy_id=ACADEMY_ID, sub="t-1"), 403),
        "nobody": ({}, 401),
    }
    for who, (headers, status) in expected.items():
        assert (await client.get(path, headers=headers)).status_code == status, who
    other = auth("academy_admin", academy_id="academy-2")
    response = await client.put(path, json={"signatories": []}, headers=other)
    assert response.status_code == 404


async def test_certificates_print_the_signatories_they_were_issued_under(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    path = SIGNATURES
    before = await issue(bus, database_url, "t-g1")
    empty = (await client.get(path, headers=ADMIN)).json()
    assert empty["version"] == 0 and empty["signatories"] == []

    unknown = await client.put(
        path,
        json={"signatories": [{"name": "A", "signature_image_id": "0" * 64}]},
        headers=ADMIN,
    )
    assert unknown.status_code == 422 and "upload it" in unknown.json()["detail"]

    signature = (await upload(client, png())).json()["id"]
    seal = (await upload(client, jpeg(), "image/jpeg")).json()["id"]
    first = {
        "signatories": [
            {
                "name": "Нурлан Абдыкаримов",
                "title": "Начальник академии",
                "signature_image_id": signature,
            },
            {"name": "Айгуль Сейткалиева", "title": "Заместитель по учебной работе"},
        ],
        "seal_image_id": seal,
    }
    response = await client.put(path, json=first, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 1 and response.json()["updated_by"] == "admin-1"
    assert (await client.get(path, headers=ADMIN)).json()["signatories"][0]["name"] == (
        "Нурлан Абдыкаримов"
    )
    under_first = await issue(bus, database_url, "t-g2")

    second = {"signatories": [{"name": "Ерлан Тулегенов", "title": "Начальник академии"}]}
    assert (await client.put(path, json=second, headers=ADMIN)).json()["version"] == 2

    async def pdf(certificate_id: str) -> bytes:
        response = await client.get(f"/v1/certificates/{certificate_id}.pdf", headers=ADMIN)
        assert response.status_code == 200, response.text
        return response.content

    old, signed = await pdf(before.id), await pdf(under_first.id)
    assert images_in(old) == 1  # the QR code only: issued before any signatories were set
    assert "Абдыкаримов" not in text_of(old)
    assert images_in(signed) == 3  # the QR code, the signature and the seal
    text = text_of(signed)
    assert "Нурлан Абдыкаримов" in text and "Заместитель по учебной работе" in text
    assert "Тулегенов" not in text  # set after it was issued
    assert "Тулегенов" in text_of(await pdf((await issue(bus, database_url, "t-g3")).id))
