"""Settings problems as sentences an operator can act on, and the reachability checks of
`check-config`: the database, NATS with its credentials, the identity providers."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import nats
import nats.errors
from nats.aio.client import Client as NATS
from pydantic import AliasChoices, ValidationError
from pydantic_settings import BaseSettings, SettingsError
from sqlalchemy.engine import make_url

from wps_common.db import Database
from wps_common.natsauth import connect_options
from wps_common.settings import ServiceSettings

# A check returns the problems it found (empty: fine) and a short note for the summary.
Check = Callable[[Any], Awaitable[tuple[list[str], str]]]


class OperatorError(Exception):
    """Something the operator must fix, said in one line; `status` is the exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


class ConfigurationError(OperatorError):
    def __init__(self, message: str) -> None:
        super().__init__(message, status=2)


def variable_of(settings_class: Any, field: str) -> str:
    """The environment variable an operator sets for a settings field."""
    if not (isinstance(settings_class, type) and issubclass(settings_class, BaseSettings)):
        return field.upper()
    info = settings_class.model_fields.get(field)
    if info is None:  # pydantic reports an alias it read the value under
        return field.upper()
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    if isinstance(alias, str):
        return alias
    return (str(settings_class.model_config.get("env_prefix") or "") + field).upper()


def settings_problems(settings_class: Any, exc: Exception) -> list[str]:
    """One sentence per problem pydantic found, naming the variable."""
    if isinstance(exc, SettingsError):
        found = re.search(r'field "([^"]+)"', str(exc))
        if not found:
            return [str(exc)]
        name = variable_of(settings_class, found.group(1))
        cause = exc.__cause__
        if cause is not None and "Expecting value: line 1 column 1 (char 0)" in str(cause):
            return [f"{name} is empty or not JSON; leave it unset or give a JSON value"]
        return [f"{name} is not valid JSON ({cause})" if cause else f"{name}: {exc}"]
    assert isinstance(exc, ValidationError)
    problems = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if not loc:
            problems.append(message)
            continue
        name = variable_of(settings_class, loc[0])
        if message.startswith(name):  # the validator named it already
            problems.append(message)
            continue
        inside = f" (at {'.'.join(loc[1:])})" if loc[1:] else ""
        problems.append(f"{name}{inside}: {message}")
    return problems


def safe_database_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.partition("://")[0] + "://…"


def safe_nats_servers(servers: list[str]) -> str:
    return ",".join(re.sub(r"//[^@/]*@", "//", server) for server in servers)


def _reason(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{cause.__class__.__name__}: {text}" if text else cause.__class__.__name__


@contextlib.asynccontextmanager
async def database(settings: ServiceSettings) -> AsyncIterator[Database]:
    """The service's database, answering; or an OperatorError saying why not."""
    where = safe_database_url(settings.database_url)
    try:
        db = Database(settings.database_url)
    except Exception as exc:
        raise ConfigurationError(f"cannot use the database URL {where}: {_reason(exc)}") from None
    try:
        try:
            async with asyncio.timeout(10):
                await db.ping()
        except Exception as exc:
            raise OperatorError(f"the database {where} is not reachable: {_reason(exc)}") from None
        yield db
    finally:
        await db.dispose()


@contextlib.asynccontextmanager
async def nats_connection(settings: ServiceSettings) -> AsyncIterator[NATS]:
    """A NATS connection that gives up quickly: the operator is waiting at a prompt."""
    try:
        options = connect_options(settings)
    except (ValueError, RuntimeError) as exc:
        raise ConfigurationError(str(exc)) from None
    where = safe_nats_servers(options["servers"])
    seen: list[BaseException] = []

    async def remember(exc: Exception) -> None:
        seen.append(exc)

    try:
        async with asyncio.timeout(10):
            nc = await nats.connect(
                **options,
                connect_timeout=3,
                allow_reconnect=False,
                max_reconnect_attempts=1,
                error_cb=remember,
            )
    except Exception as exc:
        last = seen[-1] if seen else exc
        if "authorization violation" in str(last).lower():
            raise OperatorError(
                f"NATS at {where} refused the credentials (NATS_USER and NATS_PASSWORD, "
                "NATS_TOKEN, NATS_CREDS or NATS_NKEY_SEED)"
            ) from None
        raise OperatorError(f"NATS at {where} is not reachable: {_reason(last)}") from None
    try:
        yield nc
    finally:
        with contextlib.suppress(Exception):
            await nc.close()


async def check_database(settings: ServiceSettings) -> tuple[list[str], str]:
    try:
        async with database(settings):
            pass
    except OperatorError as exc:
        return [str(exc)], ""
    return [], f"database {safe_database_url(settings.database_url)} answers"


async def check_nats(settings: ServiceSettings) -> tuple[list[str], str]:
    try:
        async with nats_connection(settings) as nc:
            try:
                await nc.jetstream(timeout=5).account_info()
            except Exception as exc:
                return [f"NATS answers but JetStream does not: {_reason(exc)}"], ""
            return [], f"NATS {safe_nats_servers(connect_options(settings)['servers'])} answers"
    except OperatorError as exc:
        return [str(exc)], ""


async def check_identity_providers(settings: ServiceSettings) -> tuple[list[str], str]:
    """Each issuer's OpenID metadata and its signing keys can be fetched."""
    issuers = settings.issuers
    if not issuers:
        return [], "no identity provider (development tokens)"
    discovery = settings.discovery_urls
    problems: list[str] = []
    async with httpx.AsyncClient(timeout=5.0) as http:
        for index, issuer in enumerate(issuers):
            url = (
                discovery[index]
                if index < len(discovery)
                else issuer.rstrip("/") + "/.well-known/openid-configuration"
            )
            try:
                response = await http.get(url)
                response.raise_for_status()
                metadata = response.json()
                jwks_uri = metadata.get("jwks_uri") if isinstance(metadata, dict) else None
                if not jwks_uri:
                    problems.append(f"OIDC_ISSUERS: the metadata at {url} names no jwks_uri")
                    continue
                (await http.get(str(jwks_uri))).raise_for_status()
            except (httpx.HTTPError, ValueError) as exc:
                problems.append(
                    f"OIDC_ISSUERS: the OpenID metadata of {issuer} ({url}) or its keys cannot "
                    f"be fetched: {_reason(exc)}"
                )
    return problems, f"{len(issuers)} identity provider(s) answer"


SERVICE_CHECKS: tuple[Check, ...] = (check_database, check_nats, check_identity_providers)


async def run_checks(settings: Any, checks: tuple[Check, ...]) -> tuple[list[str], list[str]]:
    """Every check, at the same time: all problems and the notes of those that passed."""
    results = await asyncio.gather(*(check(settings) for check in checks))
    problems = [problem for found, _ in results for problem in found]
    notes = [note for found, note in results if not found and note]
    return problems, notes
