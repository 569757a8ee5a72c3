"""The command line every service shares: `wps-<service> serve | migrate | revision`."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from fastapi import FastAPI

from wps_common.db import Database
from wps_common.migrations import make_revision, migrate
from wps_common.settings import ServiceSettings


def service_cli(
    *,
    name: str,
    settings_factory: Callable[[], ServiceSettings],
    create_app: Callable[[ServiceSettings], FastAPI],
    migrations: Path,
    argv: Sequence[str] | None = None,
    extra: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] | None = None,
) -> int:
    parser = argparse.ArgumentParser(prog=f"wps-{name}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP API with its relay and consumers")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    commands.add_parser("migrate", help="apply database migrations up to head")
    revision = commands.add_parser("revision", help="developer: autogenerate a migration")
    revision.add_argument("-m", "--message", required=True)
    if extra:
        extra(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = settings_factory()

    if args.command == "serve":
        import uvicorn

        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
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
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.error(f"unknown command {args.command}")
    result: int = handler(settings, args)
    return result
