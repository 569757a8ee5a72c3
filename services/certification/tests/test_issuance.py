"""Issuance exactly once from track.completed, whatever NATS redelivers; PDF and verification."""

from __future__ import annotations

import io
from typing import Any

import httpx
from pypdf import PdfReader
from sqlalchemy import func, select

from wps_certification.handlers import subscriptions
from wps_certification.main import MIGRATIONS, create_app
from wps_certification.models import Certificate
from wps_certification.settings import CertificationSettings
from wps_common.db import Database
from wps_common.events.contracts import TrackCompleted
from wps_common.migrations import migrate
from wps_common.testing import EventTap, auth, publish_event, running_app, wait_until

from .conftest import ACADEMY_ID, completion, profile

ADMIN = auth("admin")


async def certificates(database_url: str, enrolment_id: str | None = None) -> list[Certificate]:
    db = Database(database_url)
    try:
        async with db.session() as session:
            stmt = select(Certificate)
            if enrolment_id:
                stmt = stmt.where(Certificate.enrolment_id == enrolment_id)
            return list((await session.scalars(stmt)).all())
    finally:
        await db.dispose()


def tap_for(bus: dict[str, Any]) -> EventTap:
    return EventTap(bus["nats_url"], bus["stream_name"], [f"{bus['subject_root']}.>"])


async def test_duplicates_and_redeliveries_issue_one_certificate(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    await publish_event(bus, profile("t-1"))
    done = completion("t-1")
    async with tap_for(bus) as tap:
        first = await publish_event(bus, done)
        # The same event again under another message id (JetStream's dedupe cannot catch it),
        # and the same fact under a new event id (e.g. replayed by an operator).
        await publish_event(bus, done, event_id=first.id, msg_id="again")
        await publish_event(bus, done)
        marker = await publish_event(bus, completion("t-1"))  # a different enrolment, after them
        issued = await tap.wait_for("certificate.issued", count=2)
    by_enrolment = [e.data["enrolment_id"] for e in issued]
    assert sorted(by_enrolment) == sorted([done.enrolment_id, marker.data["enrolment_id"]])
    assert len(await certificates(database_url, done.enrolment_id)) == 1
    numbers = sorted(c.number for c in await certificates(database_url))
    assert numbers == ["UA-KYIV-2026-000001", "UA-KYIV-2026-000002"]


async def test_a_completion_that_arrives_before_the_profile_is_retried_until_it_can_issue(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    done = completion("t-2")
    await publish_event(bus, done)
    await publish_event(bus, profile("t-2", given_name="Nino", family_name="Beridze"))

    async def issued() -> list[Certificate]:
        return await certificates(database_url, done.enrolment_id)

    [certificate] = await wait_until(issued, what="the certificate after the retry")
    assert certificate.holder_name == "Nino Beridze"
    assert certificate.expires_on is not None and certificate.expires_on.isoformat() == "2028-11-20"


async def test_a_handler_crash_mid_way_leaves_no_trace_and_the_retry_issues_once(
    bus: dict[str, Any], database_url: str
) -> None:
    settings = CertificationSettings(database_url=database_url, render_workers=0, **bus)
    app = create_app(settings)
    subscription = app.state.runtime.subscriptions[0]
    real_handler = subscription.handlers[TrackCompleted]
    crashes = 0

    async def crash_after_writing(session: Any, payload: Any, event: Any) -> None:
        nonlocal crashes
        await real_handler(session, payload, event)  # certificate row + outbox row written…
        if crashes == 0:
            crashes += 1
            raise ConnectionError("…and the process lost its database mid-transaction")

    handlers = dict(subscription.handlers)
    handlers[TrackCompleted] = crash_after_writing
    # The runtime's own list: the module's `subscriptions` stay as they are for later tests.
    assert app.state.runtime.subscriptions is not subscriptions
    app.state.runtime.subscriptions[0] = type(subscription)(handlers=handlers)
    async with running_app(app), tap_for(bus) as tap:
        await publish_event(bus, profile("t-3"))
        done = completion("t-3")
        await publish_event(bus, done)
        [event] = await tap.wait_for("certificate.issued")
    assert crashes == 1
    assert event.data["enrolment_id"] == done.enrolment_id
    [certificate] = await certificates(database_url)
    assert certificate.number.endswith("-000001")  # the rolled-back attempt used no number


async def issue_one(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str, trainee: str
) -> Certificate:
    await publish_event(bus, profile(trainee))
    done = completion(trainee)
    await publish_event(bus, done)

    async def issued() -> list[Certificate]:
        return await certificates(database_url, done.enrolment_id)

    [certificate] = await wait_until(issued, what="the certificate")
    return certificate


async def test_pdf_language_etag_and_access(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    certificate = await issue_one(client, bus, database_url, "t-4")
    path = f"/v1/certificates/{certificate.id}.pdf"
    own = auth("trainee", academy_id=ACADEMY_ID, sub="t-4")
    russian = await client.get(path, headers=own)
    assert russian.status_code == 200 and russian.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(russian.content)).pages[0].extract_text()
    assert "Олена Коваленко" in text and certificate.verification_code in text
    assert "Гендер и права человека" in text
    english = await client.get(path + "?lang=en", headers=own)
    assert (
        "Gender and Human Rights Foundation"
        in PdfReader(io.BytesIO(english.content)).pages[0].extract_text()
    )
    assert english.headers["etag"] != russian.headers["etag"]
    again = await client.get(path, headers={**own, "If-None-Match": russian.headers["etag"]})
    assert again.status_code == 304
    assert (await client.get(path + "?lang=english", headers=own)).status_code == 422

    matrix = {
        "admin": (auth("admin"), 200),
        "hr": (auth("hr"), 200),
        "academy staff": (auth("academy_admin", academy_id=ACADEMY_ID), 200),
        "instructor": (auth("instructor", academy_id=ACADEMY_ID), 200),
        "other trainee": (auth("trainee", academy_id=ACADEMY_ID, sub="t-99"), 404),
        "other academy": (auth("academy_admin", academy_id="academy-2"), 404),
        "reviewer": (auth("reviewer"), 403),
        "nobody": ({}, 401),
    }
    for who, (headers, status) in matrix.items():
        response = await client.get(f"/v1/certificates/{certificate.id}", headers=headers)
        assert response.status_code == status, who
    listing = await client.get("/v1/certificates", headers=own)
    assert [c["id"] for c in listing.json()["items"]] == [certificate.id]
    assert (
        await client.get(
            "/v1/certificates", headers=auth("trainee", academy_id=ACADEMY_ID, sub="x")
        )
    ).json()["total"] == 0


async def test_verification_is_public_minimal_and_forgiving_about_typing(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    certificate = await issue_one(client, bus, database_url, "t-5")
    typed = certificate.verification_code.replace("-", " ").lower()
    response = await client.get(f"/v1/verify/{typed}")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "valid" and body["holder_name"] == "Олена Коваленко"
    assert set(body) == {
        "status",
        "holder_name",
        "track_title",
        "track_code",
        "academy_name",
        # the academy's own names (public, about the academy, not the holder), so that a page
        # in another language can name it in that one
        "academy_names",
        "academy_languages",
        "language",
        "title",
        "number",
        "issued_on",
        "expires_on",
        "revoked_on",
        "superseded_on",
    }
    assert body["revoked_on"] is None and body["superseded_on"] is None
    for bad in ("nonsense", "AAAA-BBBB-CCCC-DDDD", "<script>"):
        missing = await client.get(f"/v1/verify/{bad}")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
    html = await client.get(
        f"/v1/verify/{certificate.verification_code}", headers={"Accept": "text/html"}
    )
    # in the certificate's language (the holder's: Russian)
    assert '<p class="status" data-status="valid">действителен</p>' in html.text
    assert '<html lang="ru">' in html.text and "Гендер и права человека" in html.text
    assert "UA-5521" not in html.text


async def test_rendering_in_the_process_pool(bus: dict[str, Any], database_url: str) -> None:
    settings = CertificationSettings(database_url=database_url, render_workers=1, **bus)
    async with running_app(create_app(settings)) as client:
        certificate = await issue_one(client, bus, database_url, "t-6")
        response = await client.get(f"/v1/certificates/{certificate.id}.pdf", headers=ADMIN)
        assert response.status_code == 200 and response.content.startswith(b"%PDF")
        again = await client.get(f"/v1/certificates/{certificate.id}.pdf", headers=ADMIN)
        assert again.content == response.content  # deterministic (and served from the cache)


async def test_migrations_build_the_schema_on_an_empty_database(database_url: str) -> None:
    db = Database(database_url)
    try:
        await migrate(db, MIGRATIONS, lock_name="wps-certification")
        await migrate(db, MIGRATIONS, lock_name="wps-certification")  # idempotent at every start
        async with db.session() as session:
            assert await session.scalar(select(func.count()).select_from(Certificate)) == 0
    finally:
        await db.dispose()
