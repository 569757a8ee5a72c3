"""List endpoints as the data grows: the same requests at a small and a large number of rows,
through the real HTTP endpoint in process (httpx over ASGI), on SQLite and PostgreSQL (a
throwaway database on 127.0.0.1:5432, dropped afterwards).

Each service starts as in production (migrations, NATS on an embedded nats-server), then its
table is filled with Core bulk inserts (no events, no per-row ORM work). Timed, as the median
of `--repeat` requests after a warm-up:
- `certificates`: GET /v1/certificates (newest first) — first page, the middle and the last;
- `trainees`: GET /v1/trainees (by family name) — first page, middle, last; and searches
  (`q=`): an employee number and a fragment of a family name (one match each), a surname a
  seventh of the trainees share, and its first two letters (a word-start match).
The middle and last pages are reached the way a client walks a long list: with the cursor of
the page before (`next_cursor`); code without keyset pages is measured with `offset`.

The reference is the same request at the small size in the same run:
`ratio list-<endpoint>-<page> <database>: <t(large)/t(small)> (goal ≤ 2.0)`.

    .venv/bin/python bench/list_scaling.py [--sizes 10000,1000000] [--databases sqlite,postgresql]
        [--lists certificates,trainees] [--repeat 15] [--limit 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_certification.main import create_app as certification_app
from wps_certification.models import Certificate
from wps_certification.settings import CertificationSettings
from wps_common import paging
from wps_common.events.contracts import ModuleFacts, TrackFacts
from wps_common.natsserver import NatsServer
from wps_common.testing import bus_settings
from wps_common.testing.support import auth, running_app
from wps_enrolment.main import create_app as enrolment_app
from wps_enrolment.models import Trainee
from wps_enrolment.settings import EnrolmentSettings

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
ADMIN = auth("admin")
KEYSET = hasattr(paging, "keyset_page")
BATCH = 5_000
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
TRACK = TrackFacts(
    code="GHR-FOUND",
    version=1,
    content_hash="c" * 64,
    title={"en": "Gender and human rights foundation"},
    certificate_title={"en": "Gender and Human Rights Foundation"},
    validity_months=24,
    modules=[
        ModuleFacts(
            code="WPS-101",
            version=1,
            content_hash="a" * 64,
            title={"en": "The WPS agenda"},
            duration_hours=6,
            assessment="quiz",
            pass_mark=70,
            min_attendance_pct=80,
        )
    ],
).model_dump(mode="json")
FAMILY_NAMES = ["Petrova", "Kovalenko", "Suleimenova", "Beridze", "Nazarova", "Aliyeva", "Popa"]


@asynccontextmanager
async def database(kind: str, work: Path, name: str) -> AsyncIterator[str]:
    """A fresh database of `kind`; a PostgreSQL one is dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{work / f'{name}.db'}"
        return
    database = f"wps_bench_{name}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{database}"')
        try:
            yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await admin.close()


async def fill(db: Any, table: Any, n: int, row: Callable[[int], dict[str, Any]]) -> None:
    """`n` rows in batches of `BATCH`, one transaction each (Core executemany). On PostgreSQL
    the table is then vacuumed and analysed, as autovacuum does within a minute of such a load:
    timed before that, a request would meet a table a live database never stays in (no
    statistics, no visibility map) or autovacuum at work beside it. SQLite gets no ANALYZE:
    a deployment has none unless someone runs it, and the queries must not need it."""
    for start in range(0, n, BATCH):
        async with db.session() as session:
            await session.execute(
                insert(table), [row(i) for i in range(start, min(n, start + BATCH))]
            )
    if db.is_postgresql:
        async with db.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql(f"VACUUM ANALYZE {table.name}")


def trainee_row(academy_id: str) -> Callable[[int], dict[str, Any]]:
    def row(i: int) -> dict[str, Any]:
        at = EPOCH + timedelta(seconds=i)
        return {
            "id": str(uuid.uuid4()),
            "academy_id": academy_id,
            "employee_number": f"KZ-{i:07d}",
            "given_name": f"Aigerim{i % 997}",
            "family_name": f"{FAMILY_NAMES[i % len(FAMILY_NAMES)]}-{i * 7919 % 1_000_003:07d}",
            "preferred_language": "en",
            "gender": None,
            "rank": None,
            "role": None,
            "unit": None,
            "agency": None,
            "start_date": None,
            "active": True,
            "created_at": at,
            "updated_at": at,
        }

    return row


def certificate_row(i: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "enrolment_id": str(uuid.uuid4()),
        "awarded_for": "track",
        "edition": 1,
        "number": f"WPS-{i:09d}",
        "verification_code": f"{i:019d}",
        "trainee_id": str(uuid.uuid4()),
        "academy_id": "academy-1",
        "holder_name": f"Aigerim Petrova-{i}",
        "employee_number": f"KZ-{i:07d}",
        "academy_name": "Astana Police Academy",
        "track_code": "GHR-FOUND",
        "track_version": 1,
        "track": TRACK,
        "language": "en",
        "template_version": "1",
        "issued_on": date(2026, 1, 1),
        "expires_on": date(2099, 1, 1),
        "status": "valid",
        "previous_certificate_id": None,
        "supersedes_id": None,
        "superseded_by_id": None,
        "revoked_on": None,
        "revocation_reason": None,
        "revoked_by": None,
        "created_at": EPOCH + timedelta(seconds=i),
    }


async def timed(client: httpx.AsyncClient, url: str, params: dict[str, Any], repeat: int) -> float:
    """The median seconds of `repeat` requests (after one warm-up)."""
    times = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        response = await client.get(url, params=params, headers=ADMIN)
        times.append(time.perf_counter() - start)
        if response.status_code != 200:
            raise RuntimeError(f"{url} {params}: {response.status_code} {response.text[:300]}")
        if not response.json()["items"]:
            raise RuntimeError(f"{url} {params}: an empty page")
    return statistics.median(times[1:])


async def page_params(
    session: AsyncSession, stmt: Any, order: Any, n: int, position: int, limit: int
) -> dict[str, Any]:
    """How a client asks for the page that starts at `position`: the cursor of the page before
    (read here from the database, outside the timing), or the offset without keyset pages."""
    if position == 0:
        return {"limit": limit}
    if not KEYSET:
        return {"limit": limit, "offset": position}
    before = await session.scalar(stmt.order_by(*order).offset(position - 1).limit(1))
    return {"limit": limit, "cursor": paging.cursor_after(order, before)}


async def certificates(
    kind: str, n: int, args: argparse.Namespace, work: Path, server: NatsServer
) -> dict[str, float]:
    async with database(kind, work, f"cert{n}") as url:
        settings = CertificationSettings(
            database_url=url, **bus_settings(server.url), var_dir=work / f"var-{uuid.uuid4().hex}"
        )
        app = certification_app(settings)
        async with running_app(app) as client:
            db = app.state.runtime.db
            start = time.perf_counter()
            await fill(db, Certificate.__table__, n, certificate_row)
            print(f"  {kind}: {n:,} certificates filled in {time.perf_counter() - start:.1f} s")
            order = (Certificate.created_at.desc(), Certificate.id.desc())
            figures = {}
            for name, position in pages(n, args.limit):
                async with db.session() as session:
                    params = await page_params(
                        session, select(Certificate), order, n, position, args.limit
                    )
                figures[f"certificates-{name}"] = await timed(
                    client, "/v1/certificates", params, args.repeat
                )
            return figures


async def trainees(
    kind: str, n: int, args: argparse.Namespace, work: Path, server: NatsServer
) -> dict[str, float]:
    async with database(kind, work, f"enrol{n}") as url:
        app = enrolment_app(EnrolmentSettings(database_url=url, **bus_settings(server.url)))
        async with running_app(app) as client:
            response = await client.post(
                "/v1/academies",
                json={"code": "KZ-AST", "name": "Astana Police Academy", "country": "KZ"},
                headers=ADMIN,
            )
            response.raise_for_status()
            academy_id = response.json()["id"]
            db = app.state.runtime.db
            start = time.perf_counter()
            await fill(db, Trainee.__table__, n, trainee_row(academy_id))
            print(f"  {kind}: {n:,} trainees filled in {time.perf_counter() - start:.1f} s")
            order = (Trainee.family_name, Trainee.given_name, Trainee.id)
            figures = {}
            for name, position in pages(n, args.limit):
                async with db.session() as session:
                    params = await page_params(
                        session, select(Trainee), order, n, position, args.limit
                    )
                figures[f"trainees-{name}"] = await timed(
                    client, "/v1/trainees", params, args.repeat
                )
            one = trainee_row(academy_id)(n // 3)
            searches = {
                # One trainee: by employee number, by a fragment of the family name.
                "search": f"KZ-{n // 3:07d}",
                "search-name": one["family_name"][3:].lower(),
                # A seventh of the trainees: a whole surname, and its first two letters (a word
                # start: the short-query rule).
                "search-common": "petrova",
                "search-short": "po",
            }
            for name, q in searches.items():
                figures[f"trainees-{name}"] = await timed(
                    client, "/v1/trainees", {"q": q, "limit": args.limit}, args.repeat
                )
            return figures


def pages(n: int, limit: int) -> list[tuple[str, int]]:
    return [("first", 0), ("middle", n // 2), ("last", n - limit)]


async def main(args: argparse.Namespace) -> None:
    small, large = (int(s) for s in args.sizes.split(","))
    print(f"pages by {'cursor' if KEYSET else 'offset'}; {args.limit} items a page")
    with tempfile.TemporaryDirectory(prefix="wps-list-bench-") as tmp:
        work = Path(tmp)
        server = NatsServer(work / "nats").start()
        try:
            for kind in args.databases.split(","):
                figures: dict[int, dict[str, float]] = {}
                for n in (small, large):
                    figures[n] = {}
                    for measure in (certificates, trainees):
                        if measure.__name__ in args.lists.split(","):
                            figures[n] |= await measure(kind, n, args, work, server)
                for key in figures[small]:
                    a, b = figures[small][key], figures[large][key]
                    print(
                        f"  {kind} {key}: {a * 1000:.1f} ms at {small:,} rows, "
                        f"{b * 1000:.1f} ms at {large:,}"
                    )
                for key in figures[small]:
                    ratio = figures[large][key] / figures[small][key]
                    print(f"ratio list-{key} {kind}: {ratio:.2f} (goal ≤ 2.0)")
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,1000000", help="small,large row counts")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--lists", default="certificates,trainees")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--limit", type=int, default=50)
    asyncio.run(main(parser.parse_args()))
