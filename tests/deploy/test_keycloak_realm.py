"""deploy/keycloak/wps-realm.json keeps the sign-in contract of docs/sign-in.md: the roles the
services' OIDC_ROLE_MAP names, the claims they read (academy, employee_number, aud wps-api), the
portal's authorization code + PKCE client and the HR machine clients. Keycloak itself is not run
here (no container engine); these checks read the file as Keycloak's importer would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
REALM_FILE = ROOT / "deploy" / "keycloak" / "wps-realm.json"
ROLES = {
    "wps-admin",
    "wps-academy-admin",
    "wps-instructor",
    "wps-reviewer",
    "wps-trainee",
    "wps-hr",
}


@pytest.fixture(scope="module")
def realm() -> dict[str, Any]:
    return dict(json.loads(REALM_FILE.read_text()))


def client(realm: dict[str, Any], client_id: str) -> dict[str, Any]:
    [found] = [c for c in realm["clients"] if c["clientId"] == client_id]
    return dict(found)


def user(realm: dict[str, Any], username: str) -> dict[str, Any]:
    [found] = [u for u in realm["users"] if u["username"] == username]
    return dict(found)


def mappers(client: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [m for m in client.get("protocolMappers", []) if m["protocolMapper"] == kind]


def test_realm_and_its_six_roles(realm: dict[str, Any]) -> None:
    assert realm["realm"] == "wps" and realm["enabled"] is True
    assert {role["name"] for role in realm["roles"]["realm"]} == ROLES
    assert REALM_FILE.name == f"{realm['realm']}-realm.json"  # the importer's naming convention


def test_keycloak_creates_its_default_client_scopes(realm: dict[str, Any]) -> None:
    """Declaring any `clientScopes` makes Keycloak skip its built-in ones — among them `roles`
    (realm_access.roles) and `basic` (sub) that every access token needs — so the WPS claims
    come from per-client protocol mappers instead."""
    assert "clientScopes" not in realm
    for entry in realm["clients"]:
        assert "defaultClientScopes" not in entry, entry["clientId"]


def test_import_file_has_no_placeholders(realm: dict[str, Any]) -> None:
    """Keycloak replaces `${…}` in imported files with environment values; keep none by accident."""
    assert "${" not in REALM_FILE.read_text()


def test_portal_is_a_confidential_code_flow_client_with_pkce(realm: dict[str, Any]) -> None:
    portal = client(realm, "wps-portal")
    assert portal["enabled"] is True
    assert portal["publicClient"] is False and portal["secret"]
    assert portal["standardFlowEnabled"] is True
    assert portal["implicitFlowEnabled"] is False
    assert portal["directAccessGrantsEnabled"] is False
    assert portal["attributes"]["pkce.code.challenge.method"] == "S256"
    assert portal["redirectUris"] == ["http://localhost:8005/auth/callback"]
    post_logout = portal["attributes"]["post.logout.redirect.uris"].split("##")
    assert "http://localhost:8005/*" in post_logout


@pytest.mark.parametrize("attribute", ["academy", "employee_number"])
def test_portal_tokens_carry_the_user_attributes(realm: dict[str, Any], attribute: str) -> None:
    portal = client(realm, "wps-portal")
    [mapper] = [
        m
        for m in mappers(portal, "oidc-usermodel-attribute-mapper")
        if m["config"]["user.attribute"] == attribute
    ]
    assert mapper["config"]["claim.name"] == attribute
    assert mapper["config"]["access.token.claim"] == "true"
    assert mapper["config"]["jsonType.label"] == "String"


@pytest.mark.parametrize("client_id", ["wps-portal", "wps-hr-demo", "wps-hr-other"])
def test_every_client_puts_wps_api_into_aud(realm: dict[str, Any], client_id: str) -> None:
    [audience] = mappers(client(realm, client_id), "oidc-audience-mapper")
    assert audience["config"]["included.custom.audience"] == "wps-api"
    assert audience["config"]["access.token.claim"] == "true"


@pytest.mark.parametrize("client_id", ["wps-hr-demo", "wps-hr-other"])
def test_hr_clients_use_client_credentials_as_hr(realm: dict[str, Any], client_id: str) -> None:
    hr = client(realm, client_id)
    assert hr["serviceAccountsEnabled"] is True
    assert hr["publicClient"] is False and hr["secret"]
    assert hr["standardFlowEnabled"] is False and hr["directAccessGrantsEnabled"] is False
    [account] = [u for u in realm["users"] if u.get("serviceAccountClientId") == client_id]
    assert account["username"] == f"service-account-{client_id}"
    assert account["enabled"] is True
    assert "wps-hr" in account["realmRoles"]


def test_user_profile_declares_the_wps_attributes(realm: dict[str, Any]) -> None:
    """Keycloak 24+ drops user attributes its user profile does not declare (unmanaged
    attributes are disabled by default), so `academy` and `employee_number` are declared —
    editable by administrators only — next to the attributes Keycloak itself requires."""
    [provider] = realm["components"]["org.keycloak.userprofile.UserProfileProvider"]
    assert provider["providerId"] == "declarative-user-profile"
    [config] = provider["config"]["kc.user.profile.config"]
    profile = json.loads(config)
    attributes = {a["name"]: a for a in profile["attributes"]}
    assert {"username", "email", "firstName", "lastName"} <= set(attributes)
    groups = {g["name"] for g in profile.get("groups", [])}
    for name in ("academy", "employee_number"):
        assert attributes[name]["permissions"]["edit"] == ["admin"]
        assert attributes[name].get("group") in groups | {None}
        assert not attributes[name].get("multivalued", False)


def test_demo_users_cover_every_role(realm: dict[str, Any]) -> None:
    people = [u for u in realm["users"] if "serviceAccountClientId" not in u]
    for person in people:
        assert person["enabled"] is True, person["username"]
        [password] = person["credentials"]
        assert password["type"] == "password" and password["temporary"] is True
        assert set(person["realmRoles"]) - {"default-roles-wps"} <= ROLES

    def holders(role: str, academy: str | None = None) -> list[dict[str, Any]]:
        expected = [academy] if academy else None
        return [
            p
            for p in people
            if role in p["realmRoles"] and p.get("attributes", {}).get("academy") == expected
        ]

    assert holders("wps-admin")
    assert holders("wps-reviewer")
    assert holders("wps-academy-admin", "KZ-ALA")
    assert holders("wps-instructor", "KZ-ALA")
    [trainee] = holders("wps-trainee", "KZ-ALA")
    assert trainee["attributes"]["employee_number"] == ["ALA-1001"]
    assert holders("wps-academy-admin", "KZ-AST")  # a second tenant, to see isolation
    usernames = [u["username"] for u in realm["users"]]
    assert len(usernames) == len(set(usernames))
