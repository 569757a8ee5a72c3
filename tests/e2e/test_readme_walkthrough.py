"""The README's "Try it with curl" walk-through, run as written against `wps-platform run` (what
`make run` starts: the demo academies exist), on free ports instead of 8001–8006; then the
README's line that takes the signed credential out of the PDF. Run again, it stops at the first
refusal and shows the service's sentence, not a Python traceback."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# The README's ports (`make run`'s defaults) and the services behind them.
PORTS = {
    8001: "curriculum",
    8002: "enrolment",
    8003: "certification",
    8004: "webhooks",
    8005: "portal",
    8006: "idp",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _walkthrough() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Try it with curl") :]
    found = re.search(r"```bash\n(.*?)\n```", section, re.S)
    assert found is not None, "the README has no walk-through block"
    return found.group(1) + "\n"


def _extraction() -> str:
    found = re.search(
        r"`(\.venv/bin/python -c 'import pikepdf.*? certificate\.pdf)`", README.read_text()
    )
    assert found is not None, "the README has no credential extraction line"
    return found.group(1)


@pytest.fixture(scope="module")
def ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, int]]:
    """`wps-platform run` with a fresh var directory: the README's port → the port used."""
    if shutil.which("bash") is None or shutil.which("curl") is None:
        pytest.skip("the walk-through needs bash and curl")
    var = tmp_path_factory.mktemp("walkthrough-platform")
    used = {readme: _free_port() for readme in PORTS}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC_", "PORTAL_", "WPS_"))}
    for readme, name in PORTS.items():
        env[f"WPS_{name.upper()}_PORT"] = str(used[readme])
    env["WPS_VAR_DIR"] = str(var)
    env.pop("NATS_URL", None)
    log = var / "platform.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "wps_platform.launcher", "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    while "Press Ctrl-C to stop." not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the platform did not start:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)
    try:
        yield used
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _run(script: str, ports: dict[int, int], where: Path) -> subprocess.CompletedProcess[str]:
    for readme, used in ports.items():
        script = script.replace(f"localhost:{readme}", f"localhost:{used}")
    if not (where / ".venv").exists():  # the commands name .venv/bin/…, from the repository
        (where / ".venv").symlink_to(ROOT / ".venv")
    return subprocess.run(
        ["bash", "-c", script],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("WPS_")},
    )


def test_the_walkthrough_runs_as_written(ports: dict[int, int], tmp_path: Path) -> None:
    # As a person pastes it into their shell: afterwards the later examples' variables are set.
    first = _run(_walkthrough() + 'echo "CERT_ID=$CERT_ID"\n', ports, tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "saved certificate.pdf" in first.stdout
    assert '"status":"valid"' in first.stdout and "KZ-DEMO-" in first.stdout
    assert re.search(r"^CERT_ID=[0-9a-f-]{36}$", first.stdout, re.M), first.stdout
    assert (tmp_path / "certificate.pdf").read_bytes().startswith(b"%PDF")

    # The README's line that takes the credential out of the PDF (it crashed: the opened PDF
    # was freed while its attachment was read).
    credential = _run(_extraction(), ports, tmp_path)
    assert credential.returncode == 0, credential.stderr
    assert credential.stdout.strip().count(".") == 2  # a compact JWS

    # Run again: the module's code is taken. It stops there and says so, in the service's words.
    again = _run(_walkthrough(), ports, tmp_path)
    assert again.returncode != 0
    assert "A module with code DEMO-101 already exists." in again.stderr
    assert "Traceback" not in again.stderr + again.stdout
    assert "in_review" not in again.stdout  # nothing after the refusal ran
