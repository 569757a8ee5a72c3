"""The whole platform as `make run` starts it — nats-server, the development OpenID provider,
the four services and the portal, each a real process on a free port — and a real browser
(Playwright driving the system's Chromium) to use it as people do."""

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = os.environ.get("WPS_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("WPS_SCREENSHOTS", "var/screenshots"))
NAMES = ("curriculum", "enrolment", "certification", "webhooks", "portal", "idp")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Platform:
    urls: dict[str, str]
    log: Path

    @property
    def portal(self) -> str:
        return self.urls["portal"]


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """`wps-platform run` on free ports with a fresh var directory, for the whole session."""
    var = tmp_path_factory.mktemp("platform")
    ports = {name: _free_port() for name in NAMES}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC_", "PORTAL_", "WPS_"))}
    for name in NAMES:
        env[f"WPS_{name.upper()}_PORT"] = str(ports[name])
    env["WPS_VAR_DIR"] = str(var)
    # A webhook delivery parks after two quick attempts (not eight over four minutes), so the
    # HR pages' parking and redelivery can be watched within a test.
    env.update(WEBHOOKS_MAX_ATTEMPTS="2", WEBHOOKS_FIRST_RETRY_SECONDS="0.3")
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
    urls = {name: f"http://localhost:{port}" for name, port in ports.items()}
    try:
        yield Platform(urls=urls, log=log)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium from the system packages (Playwright's own download is not used). One per
    module: sync Playwright holds the thread's event loop while it runs, which asyncio tests
    in other modules need."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium (CI does) to run")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, platform: Platform) -> Iterator[Any]:
    """A fresh browser profile (no cookies) per test, English unless a test switches."""
    context = browser.new_context(base_url=platform.portal, locale="en-GB")
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def phone(browser: Any, platform: Platform) -> Iterator[Any]:
    context = browser.new_context(
        base_url=platform.portal,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="ru-RU",
    )
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(page: Any, username: str, *, next_path: str = "/") -> None:
    """Through the provider's real form, as a person does."""
    page.goto(f"/auth/sign-in?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"^http://localhost:\d+/"), wait_until="load")
    assert "/authorize" not in page.url, page.content()[:2000]


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical accessibility violations on the page as it is now (axe-core)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        violation
        for violation in results.response["violations"]
        if violation.get("impact") in ("serious", "critical")
    ]


def assert_accessible(page: Any) -> None:
    problems = axe_violations(page)
    assert not problems, "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(n["target"][0] for n in v["nodes"][:5])
        for v in problems
    )


def screenshot(page: Any, name: str) -> Path:
    """Kept as a test artefact (var/screenshots, or WPS_SCREENSHOTS)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def api_token(platform: Platform, username: str) -> str:
    """A person's access token straight from the provider (for arranging data by API)."""
    import base64
    import hashlib
    import secrets
    from urllib.parse import parse_qs, urlsplit

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "response_type": "code",
        "client_id": "wps-cli",
        "redirect_uri": "http://127.0.0.1/callback",
        "scope": "openid",
        "state": "s",
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    with httpx.Client(base_url=platform.urls["idp"], follow_redirects=False) as idp:
        back = idp.post(
            "/authorize", params=params, data={"username": username, "password": "demo"}
        )
        code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
        tokens = idp.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": "http://127.0.0.1/callback",
                "client_id": "wps-cli",
                "code_verifier": verifier,
            },
        ).json()
    token: str = tokens["access_token"]
    return token


def use_language(page: Any, language: str) -> None:
    """The switch in the header, as a person uses it (it outranks the profile's language)."""
    page.select_option("#lang-select", language)
    page.click("form.lang button")
    page.wait_for_load_state("load")
