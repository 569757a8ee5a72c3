"""The deploy files run: docker-compose.yml (as `docker compose config` resolves it) and each
Kubernetes overlay (as `kubectl kustomize` renders it) are started as local processes — every
migration step and Job first, each must exit 0; then every service and the portal, each must
answer /readyz; then one certificate is issued end to end through the APIs, with tokens of the
identity provider the files configure (the development provider standing in for Keycloak or
the institution's, at the issuer, audience and claim mapping the files name)."""

from __future__ import annotations

import json
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Generator, Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt

from wps_platform.idp import DevIdentityProvider

from .conftest import kustomize
from .localrun import (
    Container,
    Loopback,
    NatsNode,
    Process,
    Stack,
    dockerfile_image,
    free_port,
    server_base,
    start_nats,
    throwaway_databases,
    wait_until,
)
from .test_deploy_files import compose_config

pytestmark = pytest.mark.postgres


def openssl(*args: str) -> str:
    try:
        made = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        pytest.skip("openssl is not installed: the README makes the operator's secrets with it")
    assert made.returncode == 0, made.stderr
    return made.stdout


def operator_secret(name: str) -> str:
    """A secret made the way the README and deploy/k8s/README.md tell an operator to."""
    if name == "CERTIFICATION_SIGNING_KEYS":
        pem = openssl("genpkey", "-algorithm", "ed25519")
        return json.dumps([{"kid": "deploy-test-1", "private_key": pem}])
    if re.fullmatch(r"NATS_\w+_PASSWORD", name):
        return "p" + openssl("rand", "-hex", "24").strip()
    if name in {"PORTAL_CLIENT_SECRET", "POSTGRES_PASSWORD"}:
        return openssl("rand", "-hex", "24").strip()
    raise AssertionError(f"nothing tells an operator how to make {name}")


@dataclass
class Running:
    """A deployment running locally: where each service answers and what it was given."""

    services: dict[str, Process]
    env: dict[str, dict[str, str]]
    idp: DevIdentityProvider
    signing_kid: str
    # How long a service may take on SIGTERM before the platform kills it: compose's
    # stop_grace_period, or Kubernetes' termination grace period less the preStop hook's sleep.
    grace_seconds: dict[str, float]

    @property
    def urls(self) -> dict[str, str]:
        return {name: process.url or "" for name, process in self.services.items()}


# ---------------------------------------------------------------------------- docker compose


def run_compose(admin_url: str, workdir: Path) -> Generator[Running, None, None]:
    variables = {
        name: operator_secret(name)
        for name in (
            "CERTIFICATION_SIGNING_KEYS",
            "PORTAL_CLIENT_SECRET",
            "NATS_SERVICES_PASSWORD",
            "NATS_HR_PASSWORD",
            "POSTGRES_PASSWORD",
        )
    }
    rendered = compose_config(variables, "--format", "json")
    assert rendered.returncode == 0, rendered.stderr
    services: dict[str, Any] = json.loads(rendered.stdout)["services"]
    by_image = {
        spec.get("image", "").split(":")[0].rsplit("/", 1)[-1]: n for n, spec in services.items()
    }
    postgres, nats, keycloak = by_image["postgres"], by_image["nats"], by_image["keycloak"]
    init_scripts = [
        Path(mount["source"])
        for mount in services[postgres]["volumes"]
        if mount["target"].startswith("/docker-entrypoint-initdb.d/")
    ]
    names = [n for script in init_scripts for n in _created_databases(script.read_text())]
    apps = {name: spec for name, spec in services.items() if "build" in spec}
    jobs = {
        dependency
        for spec in services.values()
        for dependency, condition in spec.get("depends_on", {}).items()
        if condition["condition"] == "service_completed_successfully"
    }
    assert jobs and jobs <= set(apps), jobs
    assert keycloak not in apps

    with ExitStack() as cleanup:
        databases = cleanup.enter_context(throwaway_databases(admin_url, names))
        idp = cleanup.enter_context(DevIdentityProvider())
        stack = Stack(workdir)
        cleanup.callback(stack.stop)
        rewrite = Loopback(server_base(admin_url), databases, database_hosts={postgres})

        node, client_port = _start_compose_nats(stack, nats, services[nats], workdir)
        rewrite.authorities[f"{nats}:{client_port}"] = f"127.0.0.1:{node.client_port}"
        _wait_nats_healthy([node], _healthcheck_path(services[nats]))

        containers: dict[str, Container] = {}
        for name, spec in apps.items():
            image = dockerfile_image(spec["build"].get("args", {}))
            env = {**image.env, **spec.get("environment", {})}
            ports = spec.get("ports", [])
            container = Container(name, spec.get("command") or image.cmd, env)
            if ports:
                container.port = int(ports[0]["target"])
                container.local_port = free_port()
                local = f"127.0.0.1:{container.local_port}"
                rewrite.authorities[f"{name}:{container.port}"] = local
                rewrite.authorities[f"localhost:{ports[0]['published']}"] = local
            containers[name] = container
        _provider_prefixes(rewrite, containers.values(), idp)

        started_jobs = [stack.spawn(containers[name], rewrite) for name in sorted(jobs)]
        stack.run_to_completion(started_jobs)
        started = {n: stack.spawn(c, rewrite) for n, c in containers.items() if n not in jobs}
        stack.wait_ready([(p, _healthcheck_path(apps[n])) for n, p in started.items()])
        yield Running(
            services=started,
            env={name: {k: rewrite(v) for k, v in c.env.items()} for name, c in containers.items()},
            idp=idp,
            signing_kid=json.loads(variables["CERTIFICATION_SIGNING_KEYS"])[0]["kid"],
            grace_seconds={n: _seconds(apps[n].get("stop_grace_period", "10s")) for n in started},
        )


def _seconds(duration: str) -> float:
    """A compose duration such as `30s`, `1m30s`."""
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", duration)
    assert parts, duration
    return sum(float(amount) * units[unit] for amount, unit in parts)


def _created_databases(sql: str) -> list[str]:
    return re.findall(r"CREATE DATABASE (\w+)", sql, flags=re.IGNORECASE)


def _healthcheck_path(spec: dict[str, Any]) -> str:
    """The path the compose healthcheck asks for (its URL on the container itself)."""
    found = re.search(r"http://127\.0\.0\.1:\d+(/[^'\"\s]*)", " ".join(spec["healthcheck"]["test"]))
    assert found, spec["healthcheck"]
    return found.group(1)


def _start_compose_nats(
    stack: Stack, name: str, spec: dict[str, Any], workdir: Path
) -> tuple[NatsNode, int]:
    """The NATS service started, and the client port its configuration file names."""
    mounts: dict[str, Path] = {}
    for mount in spec["volumes"]:
        if mount["type"] == "bind":
            mounts[mount["target"]] = Path(mount["source"])
        else:
            mounts[mount["target"]] = workdir / f"volume-{mount['source']}"
            mounts[mount["target"]].mkdir(exist_ok=True)
    [config] = [mounts[arg] for arg in spec["command"] if arg in mounts]
    port = re.search(r"^port:\s*(\d+)", config.read_text(), flags=re.MULTILINE)
    assert port, f"{config} names no client port"
    node = start_nats(stack, name, spec["command"], spec.get("environment", {}), mounts)
    return node, int(port.group(1))


def _wait_nats_healthy(nodes: list[NatsNode], path: str) -> None:
    def healthy() -> bool:
        try:
            return all(
                httpx.get(f"http://127.0.0.1:{n.monitor_port}{path}", timeout=2).status_code == 200
                for n in nodes
            )
        except httpx.HTTPError:
            return False

    wait_until(healthy, what=f"NATS {path}", timeout=60)


def _provider_prefixes(
    rewrite: Loopback, containers: Iterable[Container], idp: DevIdentityProvider
) -> None:
    """The issuers and discovery URLs the files name are the development provider's."""
    for container in containers:
        env = container.env
        for issuer in filter(None, env.get("OIDC_ISSUERS", "").split(",")):
            rewrite.prefixes[issuer.strip()] = idp.url
        for url in filter(None, env.get("OIDC_DISCOVERY_URLS", "").split(",")):
            base = url.strip().removesuffix("/.well-known/openid-configuration")
            rewrite.prefixes[base] = idp.url


# ---------------------------------------------------------------------------------- kubernetes


def run_kubernetes(overlay: str, admin_url: str, workdir: Path) -> Generator[Running, None, None]:
    objects = kustomize(overlay)
    kinds: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        kinds.setdefault(obj["kind"], []).append(obj)
    config_maps = {o["metadata"]["name"]: o.get("data", {}) for o in kinds["ConfigMap"]}
    # The operator makes the Secret (deploy/k8s/README.md): every key the pods read, a database
    # per *_DATABASE_URL, named after its service. It stands in for the dev overlay's too.
    references = {
        (
            variable["valueFrom"]["secretKeyRef"]["name"],
            variable["valueFrom"]["secretKeyRef"]["key"],
        )
        for workload in kinds["Deployment"] + kinds["Job"] + kinds["StatefulSet"]
        for container in workload["spec"]["template"]["spec"]["containers"]
        for variable in container.get("env", [])
        if "secretKeyRef" in variable.get("valueFrom", {})
    }
    [secret_name] = {name for name, _ in references}
    keys = sorted(key for _, key in references)
    names = [k.removesuffix("_DATABASE_URL").lower() for k in keys if k.endswith("_DATABASE_URL")]

    with ExitStack() as cleanup:
        databases = cleanup.enter_context(throwaway_databases(admin_url, names))
        base = server_base(admin_url)
        secret = {
            key: f"{base}/{databases[key.removesuffix('_DATABASE_URL').lower()]}"
            if key.endswith("_DATABASE_URL")
            else operator_secret(key)
            for key in keys
        }
        sources = {"secret": {secret_name: secret}, "configMap": config_maps}
        idp = cleanup.enter_context(DevIdentityProvider())
        stack = Stack(workdir)
        cleanup.callback(stack.stop)
        rewrite = Loopback(base)

        [nats] = kinds["StatefulSet"]
        nodes = _start_statefulset(stack, nats, sources, workdir)
        client_port = _port(nats["spec"]["template"]["spec"]["containers"][0], "client")
        for index, node in enumerate(nodes):
            host = f"{nats['metadata']['name']}-{index}.{nats['spec']['serviceName']}"
            rewrite.authorities[f"{host}:{client_port}"] = f"127.0.0.1:{node.client_port}"
        probe = nats["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
        _wait_nats_healthy(nodes, probe["httpGet"]["path"])

        containers: dict[str, Container] = {}
        ready_paths: dict[str, str] = {}
        for workload in kinds["Job"] + kinds["Deployment"]:
            name = workload["metadata"]["name"]
            [spec] = workload["spec"]["template"]["spec"]["containers"]
            service = spec["image"].split(":")[0].rsplit("/", 1)[-1]
            image = dockerfile_image({"SERVICE": service})
            env = {**image.env, **_pod_env(spec, sources, pod_name=name)}
            command = (spec.get("command") or []) + (spec.get("args") or []) or image.cmd
            container = Container(name, command, env)
            if workload["kind"] == "Deployment":
                container.port = _port(spec, "http")
                container.local_port = free_port()
                ready_paths[name] = spec["readinessProbe"]["httpGet"]["path"]
            containers[name] = container
        for service in kinds["Service"]:
            selector = service["spec"]["selector"]
            owner = next(
                (
                    d["metadata"]["name"]
                    for d in kinds["Deployment"]
                    if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
                ),
                None,
            )
            if owner is None:
                continue
            local = f"127.0.0.1:{containers[owner].local_port}"
            rewrite.authorities[service["metadata"]["name"]] = local
            for port in service["spec"]["ports"]:
                rewrite.authorities[f"{service['metadata']['name']}:{port['port']}"] = local
        _provider_prefixes(rewrite, containers.values(), idp)

        jobs = [stack.spawn(containers[j["metadata"]["name"]], rewrite) for j in kinds["Job"]]
        stack.run_to_completion(jobs)
        started = {
            d["metadata"]["name"]: stack.spawn(containers[d["metadata"]["name"]], rewrite)
            for d in kinds["Deployment"]
        }
        stack.wait_ready([(p, ready_paths[n]) for n, p in started.items()])
        yield Running(
            services=started,
            env={name: {k: rewrite(v) for k, v in c.env.items()} for name, c in containers.items()},
            idp=idp,
            signing_kid=json.loads(secret["CERTIFICATION_SIGNING_KEYS"])[0]["kid"],
            grace_seconds={d["metadata"]["name"]: _drain_seconds(d) for d in kinds["Deployment"]},
        )


def _drain_seconds(deployment: dict[str, Any]) -> float:
    """What is left of the termination grace period once the preStop hook has slept."""
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    hook = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    slept = float(hook[1]) if hook[:1] == ["sleep"] else 0.0
    return float(pod.get("terminationGracePeriodSeconds", 30)) - slept


def _port(container: dict[str, Any], name: str) -> int:
    [port] = [p["containerPort"] for p in container["ports"] if p["name"] == name]
    return int(port)


def _pod_env(
    container: dict[str, Any], sources: dict[str, dict[str, dict[str, str]]], pod_name: str
) -> dict[str, str]:
    """A container's environment as the kubelet builds it: envFrom first, then env."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        [(kind, reference)] = [(k.removesuffix("Ref"), v) for k, v in source.items()]
        env.update(sources[kind][reference["name"]])
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = variable["value"]
            continue
        [(kind, reference)] = variable["valueFrom"].items()
        if kind == "fieldRef":
            assert reference["fieldPath"] == "metadata.name", reference
            env[variable["name"]] = pod_name
        else:
            values = sources[kind.removesuffix("KeyRef")][reference["name"]]
            assert reference["key"] in values, f"{reference} is not in {reference['name']}"
            env[variable["name"]] = values[reference["key"]]
    return env


def _start_statefulset(
    stack: Stack,
    statefulset: dict[str, Any],
    sources: dict[str, dict[str, dict[str, str]]],
    workdir: Path,
) -> list[NatsNode]:
    """Every replica of the NATS StatefulSet, clustered on loopback through its routes."""
    pod = statefulset["spec"]["template"]["spec"]
    [container] = pod["containers"]
    replicas = int(statefulset["spec"]["replicas"])
    cluster_ports = [free_port() for _ in range(replicas)]
    nodes = []
    for index in range(replicas):
        name = f"{statefulset['metadata']['name']}-{index}"
        mounts: dict[str, Path] = {}
        for mount in container["volumeMounts"]:
            local = workdir / name / mount["name"]
            local.mkdir(parents=True, exist_ok=True)
            volume = next((v for v in pod["volumes"] if v["name"] == mount["name"]), None)
            if volume is not None and "configMap" in volume:
                for key, text in sources["configMap"][volume["configMap"]["name"]].items():
                    (local / key).write_text(text)
            mounts[mount["mountPath"]] = local
        env = _pod_env(container, sources, pod_name=name)
        args = (container.get("command") or []) + container["args"]
        nodes.append(
            start_nats(stack, name, args, env, mounts, (cluster_ports[index], cluster_ports))
        )
    return nodes


# --------------------------------------------------------------------- one certificate, end to end


def access_token(
    running: Running,
    role: str,
    *,
    sub: str,
    academy: str | None = None,
    employee_number: str | None = None,
) -> dict[str, str]:
    """An access token from the provider the files configure, shaped by their claim settings
    (the provider's role names from OIDC_ROLE_MAP, the claims OIDC_*_CLAIM name)."""
    settings = running.env["enrolment"]
    provider_role = {ours: theirs for theirs, ours in json.loads(settings["OIDC_ROLE_MAP"]).items()}
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": running.idp.url,
        "aud": settings["OIDC_AUDIENCE"],
        "sub": sub,
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "jti": secrets.token_hex(8),
        "name": sub,
    }
    _set_claim(claims, settings["OIDC_ROLES_CLAIM"], [provider_role.get(role, role)])
    if academy:
        _set_claim(claims, settings["OIDC_ACADEMY_CLAIM"], academy)
    if employee_number:
        _set_claim(claims, settings["OIDC_EMPLOYEE_NUMBER_CLAIM"], employee_number)
    key = running.idp.keys.signing_key()
    header = {"alg": key.alg, "typ": "at+jwt", "kid": key.kid}
    token = jwt.encode(header, claims, key.private, algorithms=[key.alg])
    return {"Authorization": f"Bearer {token}"}


def _set_claim(claims: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        claims = claims.setdefault(part, {})
    claims[last] = value


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json()


def issue_one_certificate(running: Running) -> None:
    urls = running.urls
    admin = access_token(running, "admin", sub="deploy-admin")
    reviewer = access_token(running, "reviewer", sub="deploy-reviewer")
    with httpx.Client(timeout=30) as http:

        def review_and_publish(path: str) -> None:
            for action, headers in (("submit", admin), ("approve", reviewer), ("publish", admin)):
                ok(http.post(f"{urls['curriculum']}{path}/{action}", headers=headers))

        module = {
            "code": "DEPLOY-101",
            "title": {"en": "Women, Peace and Security", "ru": "Женщины, мир и безопасность"},
            "duration_hours": 6,
            "assessment": {"kind": "quiz", "pass_mark": 70},
            "min_attendance_pct": 80,
        }
        ok(http.post(f"{urls['curriculum']}/v1/modules", json=module, headers=admin), 201)
        review_and_publish("/v1/modules/DEPLOY-101/versions/1")
        track = {
            "code": "DEPLOY-TRACK",
            "title": {"en": "Deployment check", "ru": "Проверка развёртывания"},
            "certificate_title": {"en": "Deployment check", "ru": "Проверка развёртывания"},
            "modules": [{"code": "DEPLOY-101", "version": 1}],
            "validity_months": 24,
        }
        ok(http.post(f"{urls['curriculum']}/v1/tracks", json=track, headers=admin), 201)
        review_and_publish("/v1/tracks/DEPLOY-TRACK/versions/1")

        academy = {"code": "KZ-DEP", "name": "Deployment Academy", "country": "KZ"}
        academy_id = ok(
            http.post(f"{urls['enrolment']}/v1/academies", json=academy, headers=admin), 201
        )["id"]
        staff = access_token(running, "academy_admin", sub="deploy-staff", academy="KZ-DEP")
        trainee = {
            "academy_id": academy_id,
            "employee_number": "DEP-0001",
            "given_name": "Айгерим",
            "family_name": "Сулейменова",
            "preferred_language": "ru",
        }
        trainee_id = ok(
            http.post(f"{urls['enrolment']}/v1/trainees", json=trainee, headers=staff), 201
        )["id"]
        cohort = {
            "academy_id": academy_id,
            "track_code": "DEPLOY-TRACK",
            "title": "Deployment check",
            "starts_on": "2026-11-02",
            "ends_on": "2026-11-06",
            "language": "ru",
            "capacity": 5,
        }

        def cohort_opened() -> Any:  # once track.published has reached enrolment over NATS
            response = http.post(f"{urls['enrolment']}/v1/cohorts", json=cohort, headers=staff)
            return response.json() if response.status_code == 201 else None

        cohort_id = wait_until(cohort_opened, what="track.published to reach enrolment")["id"]
        enrolment_id = ok(
            http.post(
                f"{urls['enrolment']}/v1/cohorts/{cohort_id}/enrolments",
                json={"trainee_id": trainee_id},
                headers=staff,
            ),
            201,
        )["id"]
        instructor = access_token(running, "instructor", sub="deploy-teacher", academy="KZ-DEP")
        recorded = ok(
            http.post(
                f"{urls['enrolment']}/v1/enrolments/{enrolment_id}/results",
                json={"module_code": "DEPLOY-101", "attendance_pct": 100, "score": 90},
                headers=instructor,
            ),
            201,
        )
        assert recorded["enrolment"]["status"] == "completed"

        def issued() -> Any:  # once track.completed has reached certification over NATS
            page = ok(
                http.get(
                    f"{urls['certification']}/v1/certificates",
                    params={"trainee_id": trainee_id},
                    headers=admin,
                )
            )
            return page["items"][0] if page["items"] else None

        certificate = wait_until(issued, what="a certificate to be issued")
        as_trainee = access_token(
            running, "trainee", sub="deploy-trainee", academy="KZ-DEP", employee_number="DEP-0001"
        )
        pdf = http.get(
            f"{urls['certification']}/v1/certificates/{certificate['id']}.pdf", headers=as_trainee
        )
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), pdf.text
        code = certificate["verification_code"]
        verified = ok(http.get(f"{urls['certification']}/v1/verify/{code}"))
        assert verified["status"] == "valid"
        # Signed with the operator's key, which the JWKS publishes.
        jwks = ok(http.get(f"{urls['certification']}/.well-known/jwks.json"))
        assert running.signing_kid in {key["kid"] for key in jwks["keys"]}

        # The portal reaches certification (its verification page) and sends people to sign in
        # at the provider the files configure, as the `wps-portal` client.
        page = http.get(f"{urls['portal']}/verify/{code}")
        assert page.status_code == 200 and "Сулейменова" in page.text, page.text[:500]
        sign_in = http.get(f"{urls['portal']}/auth/sign-in")
        assert sign_in.status_code in {302, 303}, sign_in.text[:500]
        location = sign_in.headers["location"]
        assert location.startswith(f"{running.idp.url}/authorize?"), location
        assert "client_id=wps-portal" in location


@pytest.mark.parametrize("deployment", ["compose", "k8s-prod", "k8s-dev"])
def test_the_deploy_file_starts_and_issues_a_certificate(
    deployment: str, postgres_admin_url: str, tmp_path: Path
) -> None:
    if deployment == "compose":
        runs = run_compose(postgres_admin_url, tmp_path)
    else:
        runs = run_kubernetes(deployment.removeprefix("k8s-"), postgres_admin_url, tmp_path)
    running = next(runs)
    try:
        issue_one_certificate(running)
        # Stopped as the platform stops them: each exits cleanly within its grace period.
        stopped = time.monotonic()
        for process in running.services.values():
            process.process.send_signal(signal.SIGTERM)
        for name, process in running.services.items():
            left = stopped + running.grace_seconds[name] - time.monotonic()
            try:
                code = process.process.wait(max(left, 0.1))
            except subprocess.TimeoutExpired as exc:
                raise AssertionError(f"{name} still running at the end of its grace") from exc
            assert code == 0, f"{name} exited {code} on SIGTERM"
    except AssertionError as failure:
        logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in tmp_path.glob("*.log"))
        raise AssertionError(f"{failure}\n{logs}") from failure
    finally:
        runs.close()
