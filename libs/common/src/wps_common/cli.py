"""The command line every service shares: `wps-<service> serve | migrate | revision`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import nats
from fastapi import FastAPI
from pydantic import ValidationError
from pydantic_settings import SettingsError

from wps_common.access_log import log_config
from wps_common.db import Database
from wps_common.events.outbox import Outbox
from wps_common.events.replay import ReplayReport, replay_outbox
from wps_common.logs import configure_logging, log_format_for
from wps_common.migrations import make_revision, migrate
from wps_common.natsauth import connect_options
from wps_common.settings import ServiceSettings
from wps_common.tracing import configure_tracing

T = TypeVar("T")


def service_cli(
    *,
    name: str,
    settings_factory: Callable[[], ServiceSettings],
    create_app: Callable[[ServiceSettings], FastAPI],
    migrations: Path,
    outbox: Outbox | None = None,
    argv: Sequence[str] | None = None,
    extra: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] | None = None,
) -> int:
    parser = argparse.ArgumentParser(prog=f"wps-{name}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP API with its relay and consumers")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--fd", type=int, help="serve on an inherited, already bound socket")
    commands.add_parser("migrate", help="apply database migrations up to head")
    revision = commands.add_parser("revision", help="developer: autogenerate a migration")
    revision.add_argument("-m", "--message", required=True)
    replay = commands.add_parser(
        "replay", help="re-publish this service's events from a point in time (heals a stream)"
    )
    replay.add_argument("--since", required=True, type=_utc, help="ISO date or datetime (UTC)")
    replay.add_argument("--until", type=_utc, help="ISO date or datetime (UTC), exclusive")
    if extra:
        extra(commands)
    args = parser.parse_args(argv)
    settings = load_settings(f"wps-{name}", settings_factory)
    configure_logging(name, log_format_for(settings))

    if args.command == "serve":
        from wps_common.serving import run_server

        configure_tracing(name)
        app = create_app(settings)
        # Proxy headers are read by the app itself, from WPS_TRUSTED_PROXIES only: uvicorn's own
        # default would believe X-Forwarded-For from any local peer.
        where = {"fd": args.fd} if args.fd is not None else {"host": args.host, "port": args.port}
        run_server(
            app,
            log_level="info",
            log_config=log_config(name, log_format_for(settings)),
            proxy_headers=False,
            **where,
        )
        return 0
    if args.command in {"migrate", "revision"}:

        async def run() -> None:
            db = Database(settings.database_url)
            try:
                if args.command == "migrate":
                    await migrate(db, migrations, lock_name=f"wps-{name}")
                else:
                    await make_revision(db, migrations, args.message)
            finally:
                await db.dispose()

        asyncio.run(run())
        return 0
    if args.command == "replay":
        if outbox is None:
            parser.error("this service publishes no events to replay")
        report = asyncio.run(_replay(settings, outbox, args.since, args.until))
        print(
            f"replayed {report.considered} events since {args.since.isoformat()}: "
            f"{report.stored} stored again, {report.duplicates} already in the stream"
        )
        return 0
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.error(f"unknown command {args.command}")
    result: int = handler(settings, args)
    return result


def load_settings(program: str, factory: Callable[[], T]) -> T:
    """Settings, or one readable line per problem and exit status 2: an operator who mistyped a
    variable needs the variable's name, not a traceback."""
    try:
        return factory()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ())) or "settings"
            message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
            if where == "settings":
                print(f"{program}: configuration error: {message}", file=sys.stderr)
            else:
                print(
                    f"{program}: configuration error in {where.upper()}: {message}", file=sys.stderr
                )
    except SettingsError as exc:
        print(f"{program}: configuration error: {exc}", file=sys.stderr)
    raise SystemExit(2)


def _utc(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _replay(
    settings: ServiceSettings, outbox: Outbox, since: datetime, until: datetime | None
) -> ReplayReport:
    db = Database(settings.database_url)
    nc = await nats.connect(**connect_options(settings))
    try:
        return await replay_outbox(
            db=db, outbox=outbox, js=nc.jetstream(), settings=settings, since=since, until=until
        )
    finally:
        await nc.close()
        await db.dispose()
