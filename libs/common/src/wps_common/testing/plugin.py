"""pytest plugin (entry point `wps`): a real nats-server per session and a fresh database per
test — an SQLite file always, and PostgreSQL when one is reachable (else skipped, with why) —
and, for tests of service functions, a session rolled back after each test."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.natsserver import NatsServer
from wps_common.testing.support import create_tables, rolled_back_session

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


class ServiceDatabases:
    """Databases holding a service's tables, created once per test session and backend and
    shared by every rolled-back session (nothing a test writes outlives it)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.urls: dict[tuple[str, int], tuple[MetaData, str]] = {}
        self.created: list[tuple[str, str]] = []

    async def url(self, backend: str, metadata: MetaData, admin_url: str) -> str:
        key = (backend, id(metadata))
        if key not in self.urls:
            if backend == "sqlite":
                url = f"sqlite+aiosqlite:///{self.root / f'service_{len(self.urls)}.db'}"
            else:
                database = f"wps_test_service_{uuid.uuid4().hex[:12]}"
                await _admin(admin_url, f'CREATE DATABASE "{database}"')
                self.created.append((admin_url, database))
                url = admin_url.rsplit("/", 1)[0] + f"/{database}"
            await create_tables(url, metadata)
            self.urls[key] = (metadata, url)
        return self.urls[key][1]

    def drop(self) -> None:
        for admin_url, database in self.created:
            _run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def service_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceDatabases]:
    databases = ServiceDatabases(tmp_path_factory.mktemp("service-db"))
    yield databases
    databases.drop()


@pytest.fixture
def service_metadata() -> MetaData:
    """The tables `service_session` needs: override in the service's conftest or test module
    (`return Base.metadata`)."""
    pytest.fail("define a `service_metadata` fixture returning the service's MetaData")


@pytest.fixture
async def service_session(
    db_backend: str,
    service_metadata: MetaData,
    service_databases: ServiceDatabases,
    request: pytest.FixtureRequest,
) -> AsyncIterator[AsyncSession]:
    """An AsyncSession for calling service functions directly, on each backend, inside a
    transaction rolled back after the test; the service's tables are created once."""
    admin_url = request.getfixturevalue("postgres_admin_url") if db_backend == "postgresql" else ""
    url = await service_databases.url(db_backend, service_metadata, admin_url)
    async with rolled_back_session(url) as session:
        yield session
