"""`wps-curriculum`: serve, migrate, revision, replay, check-config, load-catalogue."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from wps_common.cli import service_cli
from wps_common.db import Database
from wps_common.migrations import migrate
from wps_common.settings import ServiceSettings
from wps_curriculum.catalogue import STARTER_CATALOGUE, CatalogueError, load_into
from wps_curriculum.main import MIGRATIONS, create_app
from wps_curriculum.models import outbox
from wps_curriculum.settings import CurriculumSettings


def _commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    load = commands.add_parser(
        "load-catalogue",
        help="publish a catalogue file (default: the starter catalogue); what exists is kept",
    )
    load.add_argument("path", nargs="?", type=Path, default=None)
    load.set_defaults(handler=_load_catalogue)


def _load_catalogue(settings: ServiceSettings, args: argparse.Namespace) -> int:
    assert isinstance(settings, CurriculumSettings)
    path: Path = args.path or settings.catalogue_path or STARTER_CATALOGUE

    async def run() -> str:
        db = Database(settings.database_url)
        try:
            if settings.auto_migrate:
                await migrate(db, MIGRATIONS, lock_name="wps-curriculum")
            return (await load_into(db, path)).summary()
        finally:
            await db.dispose()

    try:
        summary = asyncio.run(run())
    except CatalogueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    # The events are in the outbox; the running service's relay publishes them.
    print(f"{path}: {summary}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return service_cli(
        name="curriculum",
        settings_factory=CurriculumSettings,
        create_app=create_app,  # type: ignore[arg-type]
        migrations=MIGRATIONS,
        outbox=outbox,
        argv=argv,
        extra=_commands,
    )


if __name__ == "__main__":
    raise SystemExit(main())
