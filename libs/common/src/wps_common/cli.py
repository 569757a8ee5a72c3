"""The command line every service shares: `wps-<service> serve | migrate | revision | replay |
check-config | dead-letters`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI
from pydantic import ValidationError
from pydantic_settings import SettingsError

from wps_common.access_log import log_config
from wps_common.configcheck import (
    SERVICE_CHECKS,
    Check,
    ConfigurationError,
    OperatorError,
    database,
    nats_connection,
    run_checks,
    settings_problems,
)
from wps_common.deadletters import DeadLetter, DeadLetterError, DeadLetters
from wps_common.events.outbox import EventRouting, Outbox
from wps_common.events.replay import ReplayReport, replay_outbox
from wps_common.logs import configure_logging, log_format_for
from wps_common.migrations import make_revision, migrate
from wps_common.natsauth import connect_options
from wps_common.runtime import Subscription
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
    subscriptions: Callable[[], Sequence[Subscription]] | None = None,
    checks: Sequence[Check] = (),
) -> int:
    """`subscriptions` (the handlers of the service's consumers) enables `dead-letters`;
    `checks` are the service's own additions to `check-config`."""
    program = f"wps-{name}"
    parser = argparse.ArgumentParser(prog=program)
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
    commands.add_parser(
        "check-config",
        help="report every problem with the settings and what they point at, one per line",
    )
    if subscriptions is not None:
        _dead_letter_commands(commands)
    if extra:
        extra(commands)
    args = parser.parse_args(argv)
    if args.command == "check-config":
        return check_config(program, settings_factory, (*SERVICE_CHECKS, *checks))
    settings = load_settings(program, settings_factory)
    configure_logging(name, log_format_for(settings))
    try:
        return _run(args, parser, name, settings, create_app, migrations, outbox, subscriptions)
    except OperatorError as exc:
        print(f"{program}: {exc}", file=sys.stderr)
        return exc.status


def _run(
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
    name: str,
    settings: ServiceSettings,
    create_app: Callable[[ServiceSettings], FastAPI],
    migrations: Path,
    outbox: Outbox | None,
    subscriptions: Callable[[], Sequence[Subscription]] | None,
) -> int:

    if args.command == "serve":
        from wps_common.serving import run_server

        configure_tracing(name)
        try:
            connect_options(settings)  # credentials that cannot work should stop us here
            app = create_app(settings)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ConfigurationError(f"cannot start: {exc}") from None
        if settings.auto_migrate:  # start-up migrates: a database it cannot reach is fatal
            asyncio.run(_database_answers(settings))
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
            async with database(settings) as db:
                if args.command == "migrate":
                    await migrate(db, migrations, lock_name=f"wps-{name}")
                else:
                    await make_revision(db, migrations, args.message)

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
    if args.command == "dead-letters":
        assert subscriptions is not None and outbox is not None
        return asyncio.run(_dead_letters(args, settings, outbox, subscriptions()))
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
    except (ValidationError, SettingsError) as exc:
        for problem in settings_problems(factory, exc):
            print(f"{program}: configuration error: {problem}", file=sys.stderr)
    raise SystemExit(2)


def check_config(program: str, factory: Callable[[], Any], checks: Sequence[Check]) -> int:
    """Every problem on its own line (exit 1, or 2 when the settings themselves are wrong);
    a short summary when there is none."""
    try:
        settings = factory()
    except (ValidationError, SettingsError) as exc:
        for problem in settings_problems(factory, exc):
            print(f"{program}: {problem}", file=sys.stderr)
        return 2
    problems, notes = asyncio.run(run_checks(settings, tuple(checks)))
    for problem in problems:
        print(f"{program}: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"{program}: configuration OK ({settings.environment}): " + "; ".join(notes))
    return 0


def _utc(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _replay(
    settings: ServiceSettings, outbox: Outbox, since: datetime, until: datetime | None
) -> ReplayReport:
    async with database(settings) as db, nats_connection(settings) as nc:
        return await replay_outbox(
            db=db, outbox=outbox, js=nc.jetstream(), settings=settings, since=since, until=until
        )


async def _database_answers(settings: ServiceSettings) -> None:
    async with database(settings):
        pass


def _dead_letter_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    letters = commands.add_parser(
        "dead-letters", help="events this service's consumers gave up on: list, show, redrive"
    )
    actions = letters.add_subparsers(dest="action", required=True)

    def filters(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--since", type=_utc, help="recorded at or after (ISO, UTC)")
        parser.add_argument(
            "--consumer", help="another durable's dead letters (`*`: all); default: this service"
        )
        parser.add_argument("--type", dest="event_type", help="original event type")
        parser.add_argument("--limit", type=int, default=50, help="at most this many (50)")

    listing = actions.add_parser("list", help="newest first, one per line")
    filters(listing)
    listing.add_argument("--open", action="store_true", help="only those not handled since")
    listing.add_argument("--json", action="store_true", help="a JSON list, for machines")
    show = actions.add_parser("show", help="one dead letter and its original event")
    show.add_argument("id", help="the id from `list` (its first characters will do)")
    show.add_argument("--json", action="store_true")
    redrive = actions.add_parser(
        "redrive",
        help="hand original events to this service's handlers again, once the cause is fixed",
    )
    redrive.add_argument("ids", nargs="*", help="ids from `list`")
    redrive.add_argument("--all", action="store_true", help="every open one the filters match")
    filters(redrive)


async def _dead_letters(
    args: argparse.Namespace,
    settings: ServiceSettings,
    outbox: Outbox,
    subscriptions: Sequence[Subscription],
) -> int:
    if args.action == "redrive" and bool(args.ids) == bool(args.all):
        raise ConfigurationError("redrive: give the ids of dead letters, or --all (not both)")
    if getattr(args, "limit", 1) < 1:
        raise ConfigurationError("--limit must be at least 1")
    routing = EventRouting(settings.subject_root, settings.restricted_subject_root)
    async with database(settings) as db, nats_connection(settings) as nc:
        letters = DeadLetters(
            js=nc.jetstream(timeout=settings.publish_timeout_seconds),
            db=db,
            outbox=outbox,
            routing=routing,
            dead_letter_stream=settings.restricted_stream_name,
            consumer=settings.service_name,
            subscriptions=subscriptions,
        )
        try:
            if args.action == "list":
                return await _list(letters, args)
            if args.action == "show":
                return await _show(letters, args)
            return await _redrive(letters, args)
        except DeadLetterError as exc:
            raise OperatorError(str(exc)) from None


async def _list(letters: DeadLetters, args: argparse.Namespace) -> int:
    found = await letters.recorded(
        since=args.since, consumer=args.consumer, event_type=args.event_type, open_only=args.open
    )
    found = found[: args.limit]
    if args.json:
        print(json.dumps([d.as_json() for d in found], indent=2))
        return 0
    if not found:
        print(f"no dead letters of {args.consumer or letters.consumer}")
    for dead in found:
        print(_line(dead))
    return 0


def _line(dead: DeadLetter) -> str:
    letter = dead.letter
    state = f"handled {_when(dead.handled_at)}" if dead.handled_at else "open"
    return "  ".join(
        (
            dead.short_id,
            _when(dead.recorded_at),
            letter.consumer,
            letter.original_type or "(not an event)",
            letter.original_event_id or "-",
            f"deliveries={letter.deliveries}",
            state,
            dead.reason_line[:160],
        )
    )


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if moment else "-"


async def _show(letters: DeadLetters, args: argparse.Namespace) -> int:
    dead = await letters.find(args.id)
    original = await letters.original(dead)
    if args.json:
        print(
            json.dumps(
                {
                    "dead_letter": dead.as_json(),
                    "original": original.event.model_dump(mode="json") if original.event else None,
                    "original_problem": original.problem,
                },
                indent=2,
            )
        )
        return 0
    letter = dead.letter
    rows = [
        ("dead letter", dead.id),
        ("recorded", _when(dead.recorded_at)),
        ("consumer", letter.consumer),
        ("stream", f"{letter.stream} sequence {letter.stream_sequence}"),
        ("subject", letter.original_subject),
        ("event", f"{letter.original_type or '(not an event)'} {letter.original_event_id or ''}"),
        ("deliveries", str(letter.deliveries)),
        ("state", f"handled {_when(dead.handled_at)}" if dead.handled_at else "open"),
    ]
    for label, value in rows:
        print(f"{label:<12} {value}")
    print("reason")
    for line in letter.reason.splitlines() or [""]:
        print(f"  {line}")
    if original.event is not None:
        print(f"original event ({letter.stream} #{letter.stream_sequence})")
        print(json.dumps(original.event.model_dump(mode="json"), indent=2, ensure_ascii=False))
    else:
        print(f"original event: {original.problem}")
    return 0


async def _redrive(letters: DeadLetters, args: argparse.Namespace) -> int:
    if args.all:
        chosen = await letters.recorded(
            since=args.since, consumer=args.consumer, event_type=args.event_type, open_only=True
        )
        chosen = list(reversed(chosen))[: args.limit]  # oldest first, as they were published
        if not chosen:
            print("no open dead letters to redrive")
    else:
        chosen = [await letters.find(id_) for id_ in args.ids]
    counts = {"redriven": 0, "already handled": 0, "failed": 0}
    for dead in chosen:
        result = await letters.redrive(dead)
        counts[result.outcome] += 1
        what = f"{dead.short_id} {dead.letter.original_type or '-'} {dead.letter.original_event_id}"
        detail = f": {result.detail}" if result.outcome == "failed" else ""
        print(f"{what}: {result.outcome}{detail}")
    if chosen:
        print(", ".join(f"{count} {outcome}" for outcome, count in counts.items()))
    return 1 if counts["failed"] else 0
