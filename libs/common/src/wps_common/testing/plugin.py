"""pytest plugin (entry point `wps`): a real nats-server per session and a fresh database per
test — an SQLite file always, and PostgreSQL when one is reachable (else skipped, with why)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from wps_common.natsserver import NatsServer

T = TypeVar("T")
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def _postgres_admin_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES)


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _probe_postgres(url: str) -> str | None:
    import asyncpg

    try:
        connection = await asyncpg.connect(_asyncpg_dsn(url), timeout=3)
    except Exception as exc:
        return f"{exc.__class__.__name__}: {exc}"
    await connection.close()
    return None


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even when an event loop is running here
    (async fixtures call the database factory): it gets a thread and a loop of its own."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(_asyncpg_dsn(url), timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One real nats-server with JetStream for the session, on a free port."""
    server = NatsServer(tmp_path_factory.mktemp("nats")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The PostgreSQL server to create throwaway databases on; skips when none answers."""
    url = _postgres_admin_url()
    problem = _run(_probe_postgres(url))
    if problem:
        pytest.skip(f"PostgreSQL not reachable at {url} ({problem}); set TEST_DATABASE_URL")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_backend(request: pytest.FixtureRequest) -> str:
    """Parametrises a test over both databases."""
    backend: str = request.param
    return backend


@pytest.fixture
def database_factory(
    db_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[str], str]]:
    """Makes fresh, empty databases of the test's backend: `database_factory("enrolment")`."""
    created: list[str] = []
    admin_url = request.getfixturevalue("postgres_admin_url") if db_backend == "postgresql" else ""

    def make(name: str = "db") -> str:
        if db_backend == "sqlite":
            return f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}"
        database = f"wps_test_{name}_{uuid.uuid4().hex[:12]}"
        _run(_admin(admin_url, f'CREATE DATABASE "{database}"'))
        created.append(database)
        return admin_url.rsplit("/", 1)[0] + f"/{database}"

    yield make
    for database in created:
        _run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


@pytest.fixture
def database_url(database_factory: Callable[[str], str]) -> str:
    """A fresh database for this test (run once per backend)."""
    return database_factory("db")
