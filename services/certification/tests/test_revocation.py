"""Revocation with a reason that never leaves the API, and correction by re-issue."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import httpx
from pypdf import PdfReader

from wps_certification.main import create_app
from wps_certification.settings import CertificationSettings
from wps_common.testing import auth, publish_event, running_app, wait_until

from .conftest import (
    ACADEMY_ID,
    FakeClock,
    completion,
    issue,
    profile,
    stored_certificates,
    tap_for,
)

STAFF = auth("academy_admin", academy_id=ACADEMY_ID, sub="staff-1")
REASON = "Assessment fraud established by the academy's disciplinary board"


def pdf_text(data: bytes) -> str:
    return " ".join(PdfReader(io.BytesIO(data)).pages[0].extract_text().split())


async def test_revocation_is_an_event_without_the_reason_and_verifies_as_revoked(
    settings: CertificationSettings, bus: dict[str, Any], database_url: str
) -> None:
    app = create_app(settings)
    app.state.runtime.clock = FakeClock(datetime(2027, 3, 1, 10, tzinfo=UTC))
    async with running_app(app) as client, tap_for(bus) as tap:
        certificate = await issue(bus, database_url, "t-r1")
        path = f"/v1/certificates/{certificate.id}"

        # Bad input and the wrong people change nothing.
        assert (await client.post(f"{path}/revoke", json={}, headers=STAFF)).status_code == 422
        short = await client.post(f"{path}/revoke", json={"reason": "x"}, headers=STAFF)
        assert short.status_code == 422 and short.json()["errors"][0]["field"] == "reason"
        refused = {
            "instructor": (auth("instructor", academy_id=ACADEMY_ID), 403),
            "hr": (auth("hr"), 403),
            "trainee": (auth("trainee", academy_id=ACADEMY_ID, sub="t-r1"), 403),
            "other academy's admin": (auth("academy_admin", academy_id="academy-2"), 404),
        }
        for who, (headers, status) in refused.items():
            response = await client.post(f"{path}/revoke", json={"reason": REASON}, headers=headers)
            assert response.status_code == status, who
        [unchanged] = await stored_certificates(database_url, id=certificate.id)
        assert unchanged.status == "valid" and unchanged.revocation_reason is None

        revoked = await client.post(f"{path}/revoke", json={"reason": REASON}, headers=STAFF)
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["status"] == "revoked"
        assert revoked.json()["revoked_on"] == "2027-03-01"
        assert revoked.json()["revocation_reason"] == REASON
        again = await client.post(f"{path}/revoke", json={"reason": REASON}, headers=STAFF)
        assert again.status_code == 409

        [event] = await tap.wait_for("certificate.revoked")
        assert event.data["certificate_id"] == certificate.id
        assert event.data["revoked_on"] == "2027-03-01"
        assert event.data["superseded_by"] is None
        assert all("fraud" not in raw.decode() for raw in tap.raw)

        # The trainee sees that it was revoked, not why; verification says so, with the date.
        own = auth("trainee", academy_id=ACADEMY_ID, sub="t-r1")
        mine = (await client.get(path, headers=own)).json()
        assert mine["status"] == "revoked" and mine["revocation_reason"] is None
        verified = await client.get(f"/v1/verify/{certificate.verification_code}")
        assert verified.json()["status"] == "revoked"
        assert verified.json()["revoked_on"] == "2027-03-01"
        assert "fraud" not in verified.text
        page = await client.get(
            f"/v1/verify/{certificate.verification_code}", headers={"Accept": "text/html"}
        )
        assert '<p class="status" data-status="revoked">отозван</p>' in page.text
        assert "2027-03-01" in page.text
        assert "fraud" not in page.text

        pdf = await client.get(f"{path}.pdf?lang=en", headers=own)
        assert "REVOKED" in pdf_text(pdf.content)
        credential = await client.get(f"{path}/credential", headers=own)
        assert credential.status_code == 409


async def test_reissue_after_a_name_fix_supersedes_the_old_certificate(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    done = completion("t-r2")
    old = await issue(bus, database_url, "t-r2", done, given_name="Olena", family_name="Kovalenk")
    path = f"/v1/certificates/{old.id}/reissue"
    unchanged = await client.post(path, headers=STAFF)
    assert unchanged.status_code == 409 and "unchanged" in unchanged.json()["detail"]

    # Enrolment fixes the name; the newer profile reaches certification.
    await publish_event(
        bus,
        profile("t-r2", given_name="Olena", family_name="Kovalenko", changed_at=datetime.now(UTC)),
    )

    async def corrected() -> httpx.Response | None:
        response = await client.post(path, headers=STAFF)
        return response if response.status_code == 201 else None

    async with tap_for(bus) as tap:
        response = await wait_until(corrected, what="the corrected profile to arrive")
        assert response is not None
        new = response.json()
        revoked, issued = (
            await tap.wait_for("certificate.revoked"),
            await tap.wait_for("certificate.issued", count=2),
        )
    assert new["holder_name"] == "Olena Kovalenko" and new["edition"] == 2
    assert new["supersedes_id"] == old.id and new["number"] != old.number
    assert new["issued_on"] == old.issued_on.isoformat()
    assert old.expires_on is not None and new["expires_on"] == old.expires_on.isoformat()
    assert new["verification_code"] != old.verification_code
    [event] = revoked
    assert event.data["certificate_id"] == old.id and event.data["superseded_by"] == new["id"]
    [reissued] = [e for e in issued if e.data["certificate_id"] == new["id"]]
    assert reissued.data["supersedes"] == old.id

    # The old one verifies as superseded, naming nobody and pointing nowhere.
    stale = (await client.get(f"/v1/verify/{old.verification_code}")).json()
    assert stale["status"] == "superseded" and stale["holder_name"] is None
    assert stale["superseded_on"] is not None
    assert new["id"] not in str(stale) and new["verification_code"] not in str(stale)
    assert new["number"] not in str(stale)
    page = await client.get(f"/v1/verify/{old.verification_code}", headers={"Accept": "text/html"})
    assert "Kovalenk" not in page.text and "superseded" in page.text
    current = (await client.get(f"/v1/verify/{new['verification_code']}")).json()
    assert current["status"] == "valid" and current["holder_name"] == "Olena Kovalenko"

    # Only a current certificate can be corrected; the redelivered completion issues nothing.
    assert (await client.post(path, headers=STAFF)).status_code == 409
    await publish_event(bus, done)  # as if replayed by an operator, under a new event id
    await issue(bus, database_url, "t-r3")  # a later fact: once it is in, the replay was handled
    assert len(await stored_certificates(database_url, enrolment_id=old.enrolment_id)) == 2
    old_pdf = await client.get(f"/v1/certificates/{old.id}.pdf?lang=en", headers=STAFF)
    assert "SUPERSEDED" in pdf_text(old_pdf.content)
