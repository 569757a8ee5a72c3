"""NATS ships locked (docs/adr/0003): compose and Kubernetes carry the users and permissions of
wps_common.natsauth, the files nats-server itself accepts, and every service signs in."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from wps_common.natsauth import BEGIN, drift
from wps_common.natsserver import nats_server_binary

from .test_deploy_files import K8S, ROOT, _containers, render, resolved_compose

COMPOSE_CONF = ROOT / "deploy" / "nats" / "nats.conf"
K8S_NATS = K8S / "base" / "nats.yaml"
SERVICES = ("curriculum", "enrolment", "certification", "webhooks")


def k8s_nats_conf() -> str:
    [config] = [
        doc
        for doc in yaml.safe_load_all(K8S_NATS.read_text())
        if doc and doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "nats-config"
    ]
    text: str = config["data"]["nats.conf"]
    return text


@pytest.mark.parametrize("path", [COMPOSE_CONF, K8S_NATS], ids=["compose", "k8s"])
def test_shipped_permissions_are_the_ones_tested(path: Path) -> None:
    problem = drift(path)
    assert problem is None, (
        f"{problem}: .venv/bin/python -m wps_common.natsauth --write {path.relative_to(ROOT)}"
    )


@pytest.mark.parametrize("which", ["compose", "k8s"])
def test_nats_server_accepts_the_shipped_configuration(which: str, tmp_path: Path) -> None:
    config = COMPOSE_CONF if which == "compose" else tmp_path / "nats.conf"
    if which == "k8s":
        config.write_text(k8s_nats_conf())
    assert BEGIN in config.read_text()
    env = {"PATH": os.environ.get("PATH", ""), "POD_NAME": "nats-0"}
    passwords = {"NATS_SERVICES_PASSWORD": "pServices", "NATS_HR_PASSWORD": "pHr"}
    checked = subprocess.run(
        [nats_server_binary(), "-c", str(config), "-t"],
        env={**env, **passwords},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Without its passwords the server does not start (it never falls back to anonymous).
    unset = subprocess.run(
        [nats_server_binary(), "-c", str(config), "-t"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert unset.returncode != 0 and "NATS_SERVICES_PASSWORD" in unset.stderr
    assert "no_auth_user" not in config.read_text()


def test_compose_hands_the_services_password_to_nats_and_the_services() -> None:
    stack = resolved_compose()
    nats_env = stack["nats"]["environment"]
    assert set(nats_env) == {"NATS_SERVICES_PASSWORD", "NATS_HR_PASSWORD"}
    assert nats_env["NATS_SERVICES_PASSWORD"] != nats_env["NATS_HR_PASSWORD"]
    for name in SERVICES:
        env = stack[name]["environment"]
        assert env["NATS_USER"] == "services", name
        assert env["NATS_PASSWORD"] == nats_env["NATS_SERVICES_PASSWORD"], name
    assert "dev-only" in (ROOT / "docker-compose.yml").read_text()  # defaults say what they are


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {variable["name"]: variable for variable in container.get("env", [])}


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_k8s_takes_the_nats_passwords_from_the_secret(overlay: str) -> None:
    objects = render(K8S / "overlays" / overlay)
    [settings] = [
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "wps-settings"
    ]
    assert settings["data"]["NATS_USER"] == "services"
    [secret] = [o for o in render(K8S / "base") if o["kind"] == "Secret"]
    assert {"NATS_SERVICES_PASSWORD", "NATS_HR_PASSWORD"} <= set(secret["stringData"])
    [nats] = [o for o in objects if o["kind"] == "StatefulSet"]
    [container] = _containers(nats)
    for key in ("NATS_SERVICES_PASSWORD", "NATS_HR_PASSWORD"):
        ref = _env(container)[key]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "wps-secrets", "key": key}
    deployments = [
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] != "portal"
    ]
    assert {d["metadata"]["name"] for d in deployments} == set(SERVICES)  # the portal: no NATS
    for deployment in deployments:
        [container] = _containers(deployment)
        ref = _env(container)["NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "wps-secrets", "key": "NATS_SERVICES_PASSWORD"}
