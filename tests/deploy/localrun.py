"""Runs what a deploy file describes as local processes: each container becomes a process with
the file's command (or the image's CMD from the Dockerfile) and the file's environment, with
hosts rewritten to loopback — PostgreSQL to the CI server (a throwaway database per database
the file names), NATS to local nats-servers started with the shipped configuration, the
identity provider to the development one, each container's port to a free local port."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from wps_common.natsserver import nats_server_binary

ROOT = Path(__file__).resolve().parents[2]
# The environment of the Python base image, before the Dockerfile's own ENV lines.
BASE_IMAGE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
# The image's virtual environment; this test environment holds the same packages.
IMAGE_VENV = "/opt/wps"
_URL = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<authority>[^/\s,\"']+)(?P<rest>[^\s,\"']*)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Image:
    """What the Dockerfile's final stage gives a container: environment and CMD."""

    env: dict[str, str]
    cmd: list[str]


def dockerfile_image(build_args: dict[str, str]) -> Image:
    """Reads the runtime (last) stage of the Dockerfile: its ARGs take the build arguments,
    its ENV lines are expanded as Docker does, and /opt/wps is this test's environment."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stage = text.split("\nFROM ")[-1].splitlines()[1:]
    known: dict[str, str] = dict(BASE_IMAGE_ENV)
    env: dict[str, str] = {}
    cmd: list[str] = []
    for line in stage:
        instruction, _, rest = line.strip().partition(" ")
        if instruction == "ARG":
            name, _, default = rest.partition("=")
            known[name] = build_args.get(name, default)
        elif instruction == "ENV":
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                env[name] = known[name] = _expand(value, known)
        elif instruction == "CMD":
            cmd = json.loads(rest)
    assert cmd, "the Dockerfile's last stage has no CMD"
    venv = str(Path(sys.prefix))
    return Image({k: v.replace(IMAGE_VENV, venv) for k, v in env.items()}, cmd)


def _expand(value: str, known: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: known.get(m.group(1) or m.group(2), ""), value)


@dataclass
class Loopback:
    """Rewrites the addresses a deploy file gives its containers to local ones."""

    postgres_base: str  # postgresql+asyncpg://user@127.0.0.1:5432 of the CI server
    databases: dict[str, str] = field(default_factory=dict)  # name in the file -> throwaway
    database_hosts: set[str] = field(default_factory=set)  # hosts that mean "the PostgreSQL"
    authorities: dict[str, str] = field(default_factory=dict)  # host[:port] -> 127.0.0.1:port
    prefixes: dict[str, str] = field(default_factory=dict)  # URL prefix -> URL (the provider)

    def url(self, match: re.Match[str]) -> str:
        scheme, authority, rest = match.group("scheme", "authority", "rest")
        whole = match.group(0)
        if scheme.startswith("postgresql"):
            host = authority.rpartition("@")[2]
            if host not in self.database_hosts:
                return whole
            name = rest.lstrip("/").split("?")[0]
            assert name in self.databases, f"{whole}: the database {name!r} is never created"
            return f"{self.postgres_base}/{self.databases[name]}"
        for old, new in sorted(self.prefixes.items(), key=lambda item: -len(item[0])):
            if whole == old or whole.startswith(old.rstrip("/") + "/"):
                return new + whole[len(old) :]
        if authority in self.authorities:
            return f"{scheme}://{self.authorities[authority]}{rest}"
        return whole

    def __call__(self, value: str) -> str:
        return _URL.sub(self.url, value)


@dataclass
class Process:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    url: str | None = None  # where its HTTP port answers

    def tail(self) -> str:
        return f"--- {self.name} ---\n" + self.log.read_text(errors="replace")[-4000:]

    def stop(self, timeout: float = 30.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@dataclass
class Container:
    """One container of a deploy file, as the file describes it."""

    name: str
    command: list[str]
    env: dict[str, str]
    port: int | None = None  # the container port its clients use (8000)
    local_port: int | None = None  # the free local port standing in for it


@dataclass
class Stack:
    """The local processes standing in for one deployment."""

    workdir: Path
    processes: list[Process] = field(default_factory=list)

    def spawn(self, container: Container, rewrite: Loopback) -> Process:
        """Starts `container` as a process: its command and environment with addresses
        rewritten; its container port is its local port (in the arguments too)."""
        local_port = container.local_port
        command = [
            self._local_argument(arg, container.port, local_port) for arg in container.command
        ]
        env = {name: rewrite(value) for name, value in container.env.items()}
        env.setdefault("HOME", str(self.workdir))
        executable = _which(command[0], env["PATH"])
        cwd = self.workdir / container.name
        cwd.mkdir(exist_ok=True)
        log = self.workdir / f"{container.name}.log"
        with log.open("ab") as output:
            process = subprocess.Popen(
                [executable, *command[1:]],
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{local_port}" if local_port else None
        started = Process(container.name, process, log, url)
        self.processes.append(started)
        return started

    @staticmethod
    def _local_argument(arg: str, port: int | None, local_port: int | None) -> str:
        arg = arg.replace("0.0.0.0", "127.0.0.1")
        if port and local_port:
            arg = re.sub(rf"(?<![\d.]){port}(?!\d)", str(local_port), arg)
        return arg

    def run_to_completion(self, jobs: list[Process], timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        for job in jobs:
            try:
                code = job.process.wait(max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired as exc:
                raise AssertionError(f"{job.name} still running:\n{job.tail()}") from exc
            assert code == 0, f"{job.name} exited {code}:\n{job.tail()}"

    def wait_ready(self, services: list[tuple[Process, str]], timeout: float = 240.0) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=3) as client:
            for process, path in services:
                while True:
                    if process.process.poll() is not None:
                        raise AssertionError(f"{process.name} exited:\n{process.tail()}")
                    try:
                        if client.get(f"{process.url}{path}").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{process.name}: {path} not 200:\n{process.tail()}")
                    time.sleep(0.2)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.process.poll() is None:
                process.process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            process.stop()


def _which(program: str, path: str) -> str:
    for directory in path.split(os.pathsep):
        candidate = Path(directory) / program
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise AssertionError(f"{program} is not on the container's PATH ({path})")


@dataclass
class NatsNode:
    process: Process
    client_port: int
    monitor_port: int


def start_nats(
    stack: Stack,
    name: str,
    args: list[str],
    env: dict[str, str],
    mounts: dict[str, Path],
    cluster: tuple[int, list[int]] | None = None,
) -> NatsNode:
    """A nats-server with the container's arguments and environment; files under a mount are
    read from the local directory standing in for it, and a configuration file's own mention
    of a mount path (store_dir) points there too. Ports: free ones (routes: `cluster`)."""
    directory = stack.workdir / name
    directory.mkdir(exist_ok=True)
    local_args: list[str] = []
    for arg in args:
        mount = next((m for m in mounts if arg == m or arg.startswith(m + "/")), None)
        if mount is None:
            local_args.append(arg)
            continue
        source = mounts[mount] / arg[len(mount) :].lstrip("/")
        text = source.read_text()
        for target, local in mounts.items():
            text = re.sub(rf"(?<=[\s:]){re.escape(target)}(?=[\s/]|$)", str(local), text)
        copy = directory / Path(arg).name
        copy.write_text(text)
        local_args.append(str(copy))
    log = directory / "nats-server.log"
    command = [*local_args, "-a", "127.0.0.1", "-p", "-1", "-m", "-1", "-l", str(log)]
    if cluster is not None:
        own, everyone = cluster
        command += ["--cluster", f"nats://127.0.0.1:{own}"]
        command += ["--routes", ",".join(f"nats://127.0.0.1:{port}" for port in everyone)]
    with (directory / "stderr.log").open("ab") as stderr:
        process = subprocess.Popen(
            [nats_server_binary(), *command],
            env={"PATH": BASE_IMAGE_ENV["PATH"], **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    started = Process(name, process, log)
    stack.processes.append(started)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        client = re.search(r"Listening for client connections on [^\s]*:(\d+)", text)
        monitor = re.search(r"Starting http monitor on [^\s]*:(\d+)", text)
        if client and monitor:
            return NatsNode(started, int(client.group(1)), int(monitor.group(1)))
        if process.poll() is not None:
            break
        time.sleep(0.05)
    complaint = (directory / "stderr.log").read_text(errors="replace")
    raise AssertionError(f"{name} did not start:\n{complaint}\n{started.tail()}")


def wait_until(probe: Callable[[], Any], *, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


@contextmanager
def throwaway_databases(admin_url: str, names: list[str]) -> Iterator[dict[str, str]]:
    """A fresh database on the CI server per name; dropped afterwards."""
    run = uuid.uuid4().hex[:10]
    created = {name: f"wps_deploy_{run}_{name}" for name in names}
    asyncio.run(_admin(admin_url, [f'CREATE DATABASE "{db}"' for db in created.values()]))
    try:
        yield created
    finally:
        drops = [f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)' for db in created.values()]
        asyncio.run(_admin(admin_url, drops))


async def _admin(url: str, statements: list[str]) -> None:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def server_base(admin_url: str) -> str:
    """postgresql+asyncpg://user[:password]@host:port of the admin URL, without database."""
    parts = urlsplit(admin_url)
    return f"{parts.scheme}://{parts.netloc}"
