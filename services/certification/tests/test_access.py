"""Who sees and changes which certificate; verification limits; module certificates."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from wps_certification.main import create_app
from wps_certification.ratelimit import RateLimiter, TooManyRequests
from wps_certification.settings import CertificationSettings
from wps_common.events.contracts import ModuleCompleted
from wps_common.testing import auth, publish_event, running_app, wait_until

from .conftest import ACADEMY_ID, TRACK, completion, issue, stored_certificates, tap_for

OTHER_ACADEMY = "academy-2"


async def test_access_matrix(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    mine = await issue(bus, database_url, "t-a1")
    theirs = await issue(
        bus,
        database_url,
        "t-a2",
        completion("t-a2", academy_id=OTHER_ACADEMY),
        academy_id=OTHER_ACADEMY,
        academy_code="GE-TBS",
    )
    assert theirs.academy_id == OTHER_ACADEMY and theirs.number == "GE-TBS-2026-000001"
    readers: dict[str, tuple[dict[str, str], set[str]]] = {
        "admin": (auth("admin"), {"mine", "other"}),
        "hr": (auth("hr"), {"mine", "other"}),
        "academy_admin": (auth("academy_admin", academy_id=ACADEMY_ID), {"mine"}),
        "instructor": (auth("instructor", academy_id=ACADEMY_ID), {"mine"}),
        "own trainee": (auth("trainee", academy_id=ACADEMY_ID, sub="t-a1"), {"mine"}),
        "another trainee": (auth("trainee", academy_id=ACADEMY_ID, sub="t-zz"), set()),
        "other academy's staff": (auth("academy_admin", academy_id=OTHER_ACADEMY), {"other"}),
        # The same trainee after a transfer: their certificates follow them.
        "own trainee, moved": (auth("trainee", academy_id=OTHER_ACADEMY, sub="t-a1"), {"mine"}),
        "other academy's trainee": (auth("trainee", academy_id=OTHER_ACADEMY, sub="t-b"), set()),
    }
    ids = {"mine": mine.id, "other": theirs.id}
    for who, (headers, visible) in readers.items():
        listing = await client.get("/v1/certificates", headers=headers)
        assert listing.status_code == 200, who
        assert {c["id"] for c in listing.json()["items"]} == {ids[name] for name in visible}, who
        for name, certificate_id in ids.items():
            for suffix in ("", ".pdf", "/credential"):
                response = await client.get(
                    f"/v1/certificates/{certificate_id}{suffix}", headers=headers
                )
                expected = 200 if name in visible else 404
                assert response.status_code == expected, (who, name, suffix)
                if expected == 404:
                    assert response.headers["content-type"] == "application/problem+json"
    for headers, status in ((auth("reviewer"), 403), ({}, 401)):
        assert (await client.get("/v1/certificates", headers=headers)).status_code == status
        assert (
            await client.get(f"/v1/certificates/{mine.id}.pdf", headers=headers)
        ).status_code == status
    unknown = await client.get("/v1/certificates/does-not-exist", headers=auth("admin"))
    assert unknown.status_code == 404
    # Changes: only the academy's own admins (or admin); others' ids do not exist for them.
    staff = auth("academy_admin", academy_id=ACADEMY_ID)
    for action, body in (("revoke", {"reason": "Wrong track"}), ("reissue", None)):
        response = await client.post(
            f"/v1/certificates/{theirs.id}/{action}", json=body, headers=staff
        )
        assert response.status_code == 404, action
    # The reason of a revocation is for staff; trainees never get it.
    await client.post(
        f"/v1/certificates/{mine.id}/revoke", json={"reason": "Wrong track"}, headers=staff
    )
    for headers, reason in (
        (auth("hr"), "Wrong track"),
        (auth("trainee", academy_id=ACADEMY_ID, sub="t-a1"), None),
        (auth("instructor", academy_id=ACADEMY_ID), None),
    ):
        body = (await client.get(f"/v1/certificates/{mine.id}", headers=headers)).json()
        assert body["revocation_reason"] == reason
    # Filters.
    admin = auth("admin")
    revoked = (await client.get("/v1/certificates?status=revoked", headers=admin)).json()
    assert [c["id"] for c in revoked["items"]] == [mine.id]
    by_trainee = (await client.get("/v1/certificates?trainee_id=t-a2", headers=admin)).json()
    assert [c["id"] for c in by_trainee["items"]] == [theirs.id]
    bad = await client.get("/v1/certificates?status=lost", headers=admin)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


async def test_verification_lookups_are_rate_limited_per_client(
    bus: dict[str, Any], database_url: str, tmp_path: Any
) -> None:
    settings = CertificationSettings(
        database_url=database_url,
        render_workers=0,
        var_dir=tmp_path,
        verify_burst=3,
        verify_rate_per_minute=6,
        trusted_proxies="127.0.0.1",  # the test client's address: it plays the ingress
        **bus,
    )
    async with running_app(create_app(settings)) as client:
        certificate = await issue(bus, database_url, "t-v1")
        guesser = {"X-Forwarded-For": "203.0.113.7"}
        answers = [
            (await client.get(f"/v1/verify/AAAA-BBBB-CCCC-DDD{i}", headers=guesser)).status_code
            for i in range(4)
        ]
        assert answers == [404, 404, 404, 429]
        limited = await client.get(f"/v1/verify/{certificate.verification_code}", headers=guesser)
        assert limited.status_code == 429  # even a right code: the bucket is empty
        assert limited.headers["content-type"] == "application/problem+json"
        assert 1 <= int(limited.headers["retry-after"]) <= 10
        assert limited.json()["status"] == 429
        # Another client is not affected; a spoofed leftmost address does not help the guesser.
        other = await client.get(
            f"/v1/verify/{certificate.verification_code}",
            headers={"X-Forwarded-For": "198.51.100.1"},
        )
        assert other.status_code == 200
        spoofed = await client.get(
            "/v1/verify/AAAA-BBBB-CCCC-DDDD", headers={"X-Forwarded-For": "1.2.3.4, 203.0.113.7"}
        )
        assert spoofed.status_code == 429


async def test_a_client_cannot_choose_its_rate_limit_bucket_without_a_trusted_proxy(
    bus: dict[str, Any], database_url: str, tmp_path: Any
) -> None:
    """Without WPS_TRUSTED_PROXIES, X-Forwarded-For is ignored: rotating it does not help."""
    settings = CertificationSettings(
        database_url=database_url,
        var_dir=tmp_path,
        verify_burst=3,
        verify_rate_per_minute=6,
        render_workers=0,
        **bus,
    )
    async with running_app(create_app(settings), ready=False) as client:
        answers = [
            (
                await client.get(
                    f"/v1/verify/AAAA-BBBB-CCCC-DDD{i}",
                    headers={"X-Forwarded-For": f"203.0.113.{i}"},
                )
            ).status_code
            for i in range(5)
        ]
    assert answers == [404, 404, 404, 429, 429]


def test_token_bucket_refills_and_forgets_idle_clients() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, max_clients=2, clock=lambda: now[0])
    limiter.take("a")
    limiter.take("a")
    with pytest.raises(TooManyRequests) as refused:
        limiter.take("a")
    assert refused.value.retry_after == 1
    now[0] += 1.0
    limiter.take("a")  # one token back after a second
    limiter.take("b")
    limiter.take("c")  # "a" is the least recently used and is forgotten
    assert len(limiter._buckets) == 2 and "a" not in limiter._buckets


async def test_a_module_that_grants_a_certificate_gets_one_per_enrolment(
    client: httpx.AsyncClient, bus: dict[str, Any], database_url: str
) -> None:
    track_certificate = await issue(bus, database_url, "t-m1")
    granting = TRACK.modules[0].model_copy(update={"grants_certificate": True})
    plain = TRACK.modules[0].model_copy(update={"code": "WPS-102", "grants_certificate": False})

    def completed(module: Any) -> ModuleCompleted:
        return ModuleCompleted(
            enrolment_id=track_certificate.enrolment_id,
            trainee_id="t-m1",
            employee_number="UA-5521",
            academy_id=ACADEMY_ID,
            module_code=module.code,
            module_version=module.version,
            attendance_pct=100,
            score=90,
            completed_on=track_certificate.issued_on,
            module=module,
        )

    async with tap_for(bus) as tap:
        await publish_event(bus, completed(plain))
        first = await publish_event(bus, completed(granting))
        await publish_event(bus, completed(granting))  # the same fact again, a new event id
        await publish_event(bus, completed(granting), event_id=first.id, msg_id="dup")
        await tap.wait_for("certificate.issued", count=2)  # the track's and the module's

        async def module_certificates() -> list[Any]:
            rows = await stored_certificates(database_url, awarded_for="module:WPS-101")
            return rows

        [module_certificate] = await wait_until(module_certificates, what="module certificate")
        # A later marker: when its certificate exists, the duplicates before it were handled.
        await issue(bus, database_url, "t-m2")
        issued = tap.of_type("certificate.issued")
    rows = await stored_certificates(database_url, enrolment_id=track_certificate.enrolment_id)
    assert sorted(r.awarded_for for r in rows) == ["module:WPS-101", "track"]
    assert module_certificate.track_code == "WPS-101" and module_certificate.expires_on is None
    [event] = [e for e in issued if e.data["certificate_id"] == module_certificate.id]
    assert event.data["award"] == "module" and event.data["track_code"] == "WPS-101"
    record = await client.get(f"/v1/certificates/{module_certificate.id}", headers=auth("hr"))
    assert record.json()["award"] == "module"
