"""Every service's real console script with a bad setting: exactly one line on stderr that names
the variable, and a non-zero exit — for serve, migrate and the other commands; an unreachable
database or NATS is one line too; `check-config` reports every problem on its own line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wps_common.natsauth import SERVICES_USER, ServerAuth
from wps_common.natsserver import NatsServer

BIN = Path(sys.executable).parent
PEM_THAT_IS_NOT = '[{"kid": "k1", "private_key": "-----BEGIN PRIVATE KEY-----\\nnope\\n"}]'
PRODUCTION = {"WPS_ENVIRONMENT": "production", "OIDC_ISSUERS": "https://idp.example.org/realm"}
UNREACHABLE_DB = "postgresql+asyncpg://wps:secret-password@127.0.0.1:1/nothing"


def run(program: str, args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, list[str]]:
    result = subprocess.run(
        [str(BIN / f"wps-{program}"), *args],
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode, result.stderr.splitlines()


SIGNING_KEYS = "CERTIFICATION_SIGNING_KEYS"
BAD_SETTINGS = [
    # (program, command, the variable, its bad value, the rest of the environment)
    ("curriculum", ["serve"], "CURRICULUM_DATABASE_URL", "mysql://u:p@db/x", {}),
    ("curriculum", ["migrate"], "NATS_URL", "http://nats.example.org", {}),
    ("curriculum", ["load-catalogue"], "CURRICULUM_AUTO_MIGRATE", "maybe", {}),
    ("enrolment", ["serve"], "OIDC_ROLE_MAP", "admin=admin", {}),
    ("enrolment", ["dead-letters", "list"], "OIDC_ISSUERS", "", {"WPS_ENVIRONMENT": "production"}),
    ("enrolment", ["replay", "--since", "2026-11-01"], "WPS_STREAM_REPLICAS", "three", {}),
    ("certification", ["serve"], SIGNING_KEYS, "", PRODUCTION),
    ("certification", ["migrate"], SIGNING_KEYS, "", PRODUCTION),
    ("certification", ["serve"], SIGNING_KEYS, "{not json", {}),
    ("certification", ["serve"], SIGNING_KEYS, PEM_THAT_IS_NOT, PRODUCTION),
    ("certification", ["dead-letters", "redrive", "--all"], SIGNING_KEYS, PEM_THAT_IS_NOT, {}),
    ("webhooks", ["serve"], "WEBHOOKS_ALLOWED_PRIVATE_NETWORKS", "10.0.0.0/33", {}),
    ("webhooks", ["migrate"], "WEBHOOKS_MAX_ATTEMPTS", "0", {}),
    ("portal", ["serve"], "PORTAL_CLIENT_SECRET", "demo-portal-secret", PRODUCTION),
    ("portal", ["check-config"], "PORTAL_DATABASE_URL", "postgres://db/portal", {}),
]


@pytest.mark.parametrize(
    ("program", "args", "variable", "value", "context"),
    BAD_SETTINGS,
    ids=[f"{p}-{a[0]}-{v}" for p, a, v, _, _ in BAD_SETTINGS],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    program: str,
    args: list[str],
    variable: str,
    value: str,
    context: dict[str, str],
    tmp_path: Path,
) -> None:
    status, lines = run(program, args, {**context, variable: value}, tmp_path)
    assert status == 2, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"wps-{program}: ") and variable in lines[0]
    assert "Traceback" not in lines[0]


@pytest.mark.parametrize(
    ("program", "args", "env", "says"),
    [
        ("curriculum", ["serve"], {"CURRICULUM_DATABASE_URL": UNREACHABLE_DB}, "the database"),
        ("curriculum", ["migrate"], {"CURRICULUM_DATABASE_URL": UNREACHABLE_DB}, "the database"),
        ("enrolment", ["dead-letters", "list"], {"NATS_URL": "nats://127.0.0.1:1"}, "NATS at"),
        (
            "webhooks",
            ["replay", "--since", "2026-11-01"],
            {"NATS_URL": "nats://127.0.0.1:1"},
            "NATS at",
        ),
    ],
    ids=["serve-database", "migrate-database", "dead-letters-nats", "replay-nats"],
)
def test_what_cannot_be_reached_is_one_line(
    program: str, args: list[str], env: dict[str, str], says: str, tmp_path: Path
) -> None:
    prefix = program.upper()
    database = {f"{prefix}_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"}
    status, lines = run(program, args, {**database, **env}, tmp_path)
    assert status == 1, lines
    assert len(lines) == 1, lines
    assert says in lines[0] and "is not reachable" in lines[0]
    assert "secret-password" not in lines[0]  # the URL is shown without its password


def test_check_config_reports_every_problem_on_its_own_line(tmp_path: Path) -> None:
    status, lines = run(
        "enrolment",
        ["check-config"],
        {
            "ENROLMENT_DATABASE_URL": UNREACHABLE_DB,
            "NATS_URL": "nats://127.0.0.1:1",
            "OIDC_ISSUERS": "http://127.0.0.1:1/realms/wps",
        },
        tmp_path,
    )
    assert status == 1
    assert len(lines) == 3, lines
    assert "the database postgresql+asyncpg://wps:***@127.0.0.1:1/nothing is not" in lines[0]
    assert "NATS at nats://127.0.0.1:1 is not reachable" in lines[1]
    assert lines[2].startswith("wps-enrolment: OIDC_ISSUERS: the OpenID metadata of")

    # Settings that cannot be read are all reported before anything is tried.
    status, lines = run(
        "webhooks",
        ["check-config"],
        {"WEBHOOKS_MAX_ATTEMPTS": "0", "WEBHOOKS_POLL_SECONDS": "-1", "WPS_STREAM_REPLICAS": "x"},
        tmp_path,
    )
    assert status == 2
    assert sorted(line.split(":")[1].strip() for line in lines) == [
        "WEBHOOKS_MAX_ATTEMPTS",
        "WEBHOOKS_POLL_SECONDS",
        "WPS_STREAM_REPLICAS",
    ]


def test_check_config_passes_and_catches_wrong_nats_credentials(tmp_path: Path) -> None:
    auth = ServerAuth.generate()
    server = NatsServer(tmp_path / "nats", auth=auth).start()
    try:
        env = {
            "CERTIFICATION_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
            "NATS_URL": server.url,
            "NATS_USER": SERVICES_USER,
            "NATS_PASSWORD": auth.passwords[SERVICES_USER],
        }
        status, lines = run("certification", ["check-config"], env, tmp_path)
        assert (status, lines) == (0, []), lines
        result = subprocess.run(
            [str(BIN / "wps-certification"), "check-config"],
            env={"PATH": os.environ.get("PATH", ""), **env},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "configuration OK (development)" in result.stdout
        assert f"NATS {server.url} answers" in result.stdout

        wrong = {**env, "NATS_PASSWORD": "not-the-password"}
        status, lines = run("certification", ["check-config"], wrong, tmp_path)
        assert status == 1 and len(lines) == 1, lines
        assert f"NATS at {server.url} refused the credentials" in lines[0]
    finally:
        server.stop()
