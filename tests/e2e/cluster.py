"""Runs the platform as separate OS processes — several replicas per service on PostgreSQL and
one nats-server — for the tests that prove replicas and faults."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from wps_common.natsserver import NatsServer


@dataclass
class Replica:
    service: str
    index: int
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def kill(self) -> None:
        """kill -9: no shutdown hooks, no drain, in-flight work abandoned."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def terminate(self, timeout: float) -> tuple[int, float]:
        """SIGTERM, as Kubernetes stops a pod; the exit status and the seconds it took (the
        process is killed, and the status is the kill's, if it takes longer than `timeout`)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            status = self.process.returncode
        return status, time.monotonic() - started


@dataclass
class Cluster:
    workdir: Path
    nats: NatsServer
    env: dict[str, str]
    replicas: dict[str, list[Replica]] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)  # before any replica starts

    def start(self, service: str, count: int) -> list[Replica]:
        started = []
        for _ in range(count):
            started.append(self._spawn(service))
            self.replicas.setdefault(service, []).append(started[-1])
        return started

    def _spawn(self, service: str) -> Replica:
        index = len(self.replicas.get(service, []))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))  # bound here and inherited: no race for a free port
        sock.set_inheritable(True)
        port = sock.getsockname()[1]
        log = self.workdir / f"{service}-{index}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", f"wps_{service}.cli", "serve", "--fd", str(sock.fileno())],
            env={**os.environ, **self.env},
            pass_fds=[sock.fileno()],
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        sock.close()
        return Replica(service, index, f"http://127.0.0.1:{port}", process, log)

    def wait_ready(self, timeout: float = 90.0, replicas: list[Replica] | None = None) -> None:
        """Until every replica (or those given) answers /readyz with 200."""
        deadline = time.monotonic() + timeout
        every = [replica for group in self.replicas.values() for replica in group]
        waiting = replicas if replicas is not None else every
        with httpx.Client(timeout=2) as client:
            for replica in waiting:
                while True:
                    if replica.process.poll() is not None:
                        raise AssertionError(f"{replica.name} exited:\n{replica.tail()}")
                    try:
                        if client.get(f"{replica.url}/readyz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{replica.name} not ready:\n{replica.tail()}")
                    time.sleep(0.1)

    def live(self, service: str) -> list[str]:
        return [r.url for r in self.replicas[service] if r.process.poll() is None]

    def stop(self) -> None:
        for replicas in self.replicas.values():
            for replica in replicas:
                if replica.process.poll() is None:
                    replica.process.terminate()
        for replicas in self.replicas.values():
            for replica in replicas:
                try:
                    replica.process.wait(20)
                except subprocess.TimeoutExpired:
                    replica.kill()
        self.nats.stop()
