"""Sign-in through a real OpenID provider over HTTP (the development one `make run` starts):
authorization code + PKCE for each demo role, client credentials for HR systems, key rotation
at the provider, and who-did-what in the audit trails — against all four services."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from wps_certification.main import create_app as certification_app
from wps_certification.settings import CertificationSettings
from wps_common.natsserver import NatsServer
from wps_common.testing import bus_settings, running_app, wait_until
from wps_curriculum.main import create_app as curriculum_app
from wps_curriculum.settings import CurriculumSettings
from wps_enrolment.main import create_app as enrolment_app
from wps_enrolment.settings import EnrolmentSettings
from wps_platform.demo import seed_demo_records
from wps_platform.idp import DevIdentityProvider
from wps_platform.launcher import KEYCLOAK_CLAIMS
from wps_webhooks.main import create_app as webhooks_app
from wps_webhooks.settings import WebhooksSettings

from .test_first_certificate import publish_curriculum

CLI_REDIRECT = "http://127.0.0.1/callback"


@pytest.fixture
def idp() -> Iterator[DevIdentityProvider]:
    provider = DevIdentityProvider(port=0).start()
    yield provider
    provider.stop()


@dataclass
class SignedInPlatform:
    curriculum: httpx.AsyncClient
    enrolment: httpx.AsyncClient
    certification: httpx.AsyncClient
    webhooks: httpx.AsyncClient
    idp: DevIdentityProvider

    def all(self) -> dict[str, httpx.AsyncClient]:
        return {
            "curriculum": self.curriculum,
            "enrolment": self.enrolment,
            "certification": self.certification,
            "webhooks": self.webhooks,
        }


@pytest.fixture
async def platform(
    idp: DevIdentityProvider, nats_server: NatsServer, database_factory: Callable[[str], str]
) -> AsyncIterator[SignedInPlatform]:
    """The four services trusting the provider, with exactly the settings `make run` gives
    them (the Keycloak-shaped claim mapping)."""
    common: dict[str, Any] = {
        **bus_settings(nats_server.url),
        **{key.lower(): value for key, value in KEYCLOAK_CLAIMS.items()},
        "oidc_role_map": json.loads(KEYCLOAK_CLAIMS["OIDC_ROLE_MAP"]),
        "oidc_issuers": idp.url,
        "oidc_jwks_min_refresh_seconds": 0.2,
    }
    async with AsyncExitStack() as stack:
        apps = [
            curriculum_app(CurriculumSettings(database_url=database_factory("cur"), **common)),
            enrolment_app(EnrolmentSettings(database_url=database_factory("enr"), **common)),
            certification_app(
                CertificationSettings(
                    database_url=database_factory("cert"), render_workers=0, **common
                )
            ),
            webhooks_app(
                WebhooksSettings(
                    database_url=database_factory("hooks"),
                    allowed_private_networks="127.0.0.0/8",  # the receiver below is local
                    **common,
                )
            ),
        ]
        clients = [await stack.enter_async_context(running_app(app)) for app in apps]
        yield SignedInPlatform(*clients, idp=idp)


async def sign_in(idp: DevIdentityProvider, username: str) -> str:
    """A person's sign-in as a browser does it: authorize, the provider's form, the redirect
    back with a code, and the code exchanged with the PKCE verifier."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "response_type": "code",
        "client_id": "wps-cli",
        "redirect_uri": CLI_REDIRECT,
        "scope": "openid profile email",
        "state": secrets.token_urlsafe(12),
        "nonce": secrets.token_urlsafe(12),
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    async with httpx.AsyncClient(base_url=idp.url, follow_redirects=False) as browser:
        form = await browser.get("/authorize", params=params)
        assert form.status_code == 200 and 'name="password"' in form.text
        back = await browser.post(
            "/authorize", params=params, data={"username": username, "password": "demo"}
        )
        assert back.status_code == 302, back.text
        query = parse_qs(urlsplit(back.headers["location"]).query)
        assert query["state"] == [params["state"]]
        tokens = await browser.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": query["code"][0],
                "redirect_uri": CLI_REDIRECT,
                "client_id": "wps-cli",
                "code_verifier": verifier,
            },
        )
    assert tokens.status_code == 200, tokens.text
    access_token: str = tokens.json()["access_token"]
    return access_token


async def client_credentials(idp: DevIdentityProvider, client_id: str, secret: str) -> str:
    async with httpx.AsyncClient(base_url=idp.url) as machine:
        response = await machine.post(
            "/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
    assert response.status_code == 200, response.text
    access_token: str = response.json()["access_token"]
    return access_token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# What each demo role may read in each service: 200, or 403 (signed in, but not allowed).
# A 401 anywhere would mean the token itself was refused.
READS = {
    "curriculum": "/v1/modules",
    "enrolment": "/v1/academies",
    "certification": "/v1/certificates",
    "webhooks": "/v1/webhooks",
}
EXPECTED = {
    "admin": {"curriculum": 200, "enrolment": 200, "certification": 200, "webhooks": 200},
    "academy.ala": {"curriculum": 200, "enrolment": 200, "certification": 200, "webhooks": 403},
    "instructor.ast": {"curriculum": 200, "enrolment": 200, "certification": 200, "webhooks": 403},
    "reviewer": {"curriculum": 200, "enrolment": 200, "certification": 403, "webhooks": 403},
    "trainee.ala": {"curriculum": 200, "enrolment": 200, "certification": 200, "webhooks": 403},
    "hr": {"curriculum": 200, "enrolment": 200, "certification": 200, "webhooks": 200},
}
# Academy-scoped roles see their own academy; reviewers (national curriculum experts) none.
ACADEMY_OF = {
    "academy.ala": ["KZ-ALA"],
    "instructor.ast": ["KZ-AST"],
    "trainee.ala": ["KZ-ALA"],
    "reviewer": [],
}


async def test_each_demo_role_signs_in_with_code_and_pkce_and_reaches_every_service(
    platform: SignedInPlatform,
) -> None:
    admin = await sign_in(platform.idp, "admin")
    created = await seed_demo_records(platform.enrolment, platform.idp.directory, admin)
    assert len(created) == 4  # two academies, two trainees
    for username, expected in EXPECTED.items():
        token = await sign_in(platform.idp, username)
        for service, client in platform.all().items():
            response = await client.get(READS[service], headers=bearer(token))
            assert response.status_code == expected[service], (username, service, response.text)
            if response.status_code == 403:
                assert "needs one of the roles" in response.json()["detail"]
        academies = (await platform.enrolment.get("/v1/academies", headers=bearer(token))).json()
        codes = sorted(a["code"] for a in academies["items"])
        # The token names the academy by its code; enrolment resolves it to its own id.
        assert codes == ACADEMY_OF.get(username, ["KZ-ALA", "KZ-AST"]), username

    # A trainee's token carries the employee number: enrolment resolves it to their record.
    trainee = bearer(await sign_in(platform.idp, "trainee.ala"))
    me = (await platform.enrolment.get("/v1/trainees/me", headers=trainee)).json()
    assert (me["employee_number"], me["family_name"]) == ("ALA-1001", "Serikova")
    ast = bearer(await sign_in(platform.idp, "trainee.ast"))
    other = (await platform.enrolment.get("/v1/trainees/me", headers=ast)).json()
    assert other["employee_number"] == "AST-2001"
    assert (
        await platform.enrolment.get(f"/v1/trainees/{other['id']}", headers=trainee)
    ).status_code == 404
    assert (
        await platform.enrolment.get(f"/v1/trainees/{me['id']}", headers=trainee)
    ).status_code == 200
    staff = bearer(await sign_in(platform.idp, "academy.ala"))
    assert (
        await platform.enrolment.get(f"/v1/trainees/{other['id']}", headers=staff)
    ).status_code == 404
    not_linked = await platform.enrolment.get("/v1/trainees/me", headers=staff)
    assert not_linked.status_code == 404
    assert "not linked to a trainee record" in not_linked.json()["detail"]


async def test_certification_finds_the_trainee_from_what_it_learned_by_events(
    platform: SignedInPlatform,
) -> None:
    await seed_demo_records(
        platform.enrolment, platform.idp.directory, await sign_in(platform.idp, "admin")
    )
    await publish_curriculum(platform.curriculum)
    staff = bearer(await sign_in(platform.idp, "academy.ala"))
    me = (
        await platform.enrolment.get(
            "/v1/trainees/me", headers=bearer(await sign_in(platform.idp, "trainee.ala"))
        )
    ).json()

    async def cohort() -> Any:
        response = await platform.enrolment.post(
            "/v1/cohorts",
            json={
                "academy_id": me["academy_id"],
                "track_code": "GHR-FOUND",
                "title": "Foundation",
                "starts_on": "2026-11-02",
                "ends_on": "2026-11-06",
                "capacity": 20,
            },
            headers=staff,
        )
        return response.json() if response.status_code == 201 else None

    opened = await wait_until(cohort, what="track.published to reach enrolment")
    enrolled = await platform.enrolment.post(
        f"/v1/cohorts/{opened['id']}/enrolments", json={"trainee_id": me["id"]}, headers=staff
    )
    assert enrolled.status_code == 201, enrolled.text
    instructor = bearer(await sign_in(platform.idp, "instructor.ala"))
    passed = await platform.enrolment.post(
        f"/v1/enrolments/{enrolled.json()['id']}/results",
        json={"module_code": "WPS-101", "attendance_pct": 100, "score": 90},
        headers=instructor,
    )
    assert passed.status_code == 201, passed.text

    trainee = bearer(await sign_in(platform.idp, "trainee.ala"))

    async def mine() -> list[dict[str, Any]]:
        response = await platform.certification.get("/v1/certificates", headers=trainee)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    [certificate] = await wait_until(mine, what="the certificate to be issued")
    assert certificate["trainee_id"] == me["id"]
    pdf = await platform.certification.get(
        f"/v1/certificates/{certificate['id']}.pdf", headers=trainee
    )
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # The other academy's trainee and its staff do not see it.
    for username in ("trainee.ast", "academy.ast"):
        other = bearer(await sign_in(platform.idp, username))
        listed = (await platform.certification.get("/v1/certificates", headers=other)).json()
        assert listed["items"] == [], username
        one = await platform.certification.get(
            f"/v1/certificates/{certificate['id']}", headers=other
        )
        assert one.status_code == 404, username


async def test_keys_rotated_at_the_provider_are_accepted_without_a_restart(
    platform: SignedInPlatform,
) -> None:
    before = bearer(await sign_in(platform.idp, "hr"))
    assert (await platform.webhooks.get("/v1/webhooks", headers=before)).status_code == 200
    for alg in ("ES256", "EdDSA"):
        platform.idp.rotate(alg=alg)
        after = bearer(await sign_in(platform.idp, "hr"))

        async def accepted(headers: dict[str, str] = after) -> bool:
            codes = [
                (await client.get(READS[name], headers=headers)).status_code
                for name, client in platform.all().items()
            ]
            return codes == [200, 200, 200, 200]

        await wait_until(accepted, timeout=10, what=f"every service to take the new {alg} key")
    # The old key stays published until retired: tokens signed before still work...
    assert (await platform.webhooks.get("/v1/webhooks", headers=before)).status_code == 200
    # ...and once the provider retires it, they are refused as soon as the keys are refetched.
    platform.idp.rotate(alg="RS256", retire_previous=True)
    fresh = bearer(await sign_in(platform.idp, "hr"))
    await wait_until(
        lambda: _status(platform.webhooks, fresh, 200), timeout=10, what="the new RS256 key"
    )
    refused = await platform.webhooks.get("/v1/webhooks", headers=before)
    assert refused.status_code == 401
    assert "does not publish" in refused.json()["detail"]


async def _status(client: httpx.AsyncClient, headers: dict[str, str], status: int) -> bool:
    return (await client.get("/v1/webhooks", headers=headers)).status_code == status


async def test_hr_systems_use_client_credentials_and_own_their_subscriptions(
    platform: SignedInPlatform,
) -> None:
    demo = bearer(await client_credentials(platform.idp, "wps-hr-demo", "demo-hr-secret"))
    other = bearer(await client_credentials(platform.idp, "wps-hr-other", "demo-hr-other-secret"))
    created = await platform.webhooks.post(
        "/v1/webhooks",
        json={
            "url": "http://127.0.0.1:9/hooks",
            "event_types": ["*"],
            "secret": "a-long-shared-secret-for-hmac",
        },
        headers=demo,
    )
    assert created.status_code == 201, created.text
    subscription = created.json()
    assert subscription["owner"] == "wps-hr-demo"
    assert (await platform.webhooks.get("/v1/webhooks", headers=demo)).json()["total"] == 1
    assert (await platform.webhooks.get("/v1/webhooks", headers=other)).json()["total"] == 0
    theirs = await platform.webhooks.get(f"/v1/webhooks/{subscription['id']}", headers=other)
    assert theirs.status_code == 404


async def test_audit_trails_name_the_person_behind_the_provider_subject(
    platform: SignedInPlatform,
) -> None:
    token = await sign_in(platform.idp, "admin")
    await seed_demo_records(platform.enrolment, platform.idp.directory, token)
    admin = bearer(token)
    staff = bearer(await sign_in(platform.idp, "academy.ala"))
    trainee = (
        await platform.enrolment.get(
            "/v1/trainees/me", headers=bearer(await sign_in(platform.idp, "trainee.ala"))
        )
    ).json()
    changed = await platform.enrolment.patch(
        f"/v1/trainees/{trainee['id']}", json={"rank": "Captain"}, headers=staff
    )
    assert changed.status_code == 200, changed.text
    history = (
        await platform.enrolment.get(f"/v1/trainees/{trainee['id']}/history", headers=staff)
    ).json()
    assert [(e["action"], e["actor"], e["actor_name"]) for e in history["items"]] == [
        ("created", "demo-admin", "Saule Nurpeisova"),
        ("updated", "demo-academy-ala", "Aigerim Bekova"),
    ]

    module = {
        "code": "WPS-201",
        "title": {"en": "Gender-based violence: first response"},
        "duration_hours": 4,
        "assessment": {"kind": "quiz", "pass_mark": 70},
        "min_attendance_pct": 80,
    }
    assert (await platform.curriculum.post("/v1/modules", json=module, headers=admin)).is_success
    reviewer = bearer(await sign_in(platform.idp, "reviewer"))
    path = "/v1/modules/WPS-201/versions/1"
    assert (await platform.curriculum.post(f"{path}/submit", headers=admin)).is_success
    assert (await platform.curriculum.post(f"{path}/approve", headers=reviewer)).is_success
    trail = (await platform.curriculum.get("/v1/modules/WPS-201/history", headers=reviewer)).json()
    assert [(e["action"], e["actor_name"]) for e in trail["items"]] == [
        ("created", "Saule Nurpeisova"),
        ("submitted", "Saule Nurpeisova"),
        ("approved", "Amina Sultanova"),
    ]
