"""Verified bearer tokens are remembered per token, bounded in number and in time: never past the
token's own expiry, never longer than a minute (a withdrawn signing key stops being honoured),
and a refused token is checked again every time."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from wps_common.auth import Role, mint_token
from wps_common.errors import Unauthorized
from wps_common.oidc import VERIFIED_FOR_SECONDS, VERIFIED_TOKENS, TokenVerifier
from wps_common.settings import ServiceSettings


class Clocks:
    """A monotonic clock and a wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.monotonic = 1000.0
        self.wall = time.time()

    def advance(self, seconds: float) -> None:
        self.monotonic += seconds
        self.wall += seconds


@pytest.fixture
def settings() -> ServiceSettings:
    return ServiceSettings(environment="development")


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
async def verifier(settings: ServiceSettings, clocks: Clocks) -> AsyncIterator[TokenVerifier]:
    verifier = TokenVerifier(
        settings, clock=lambda: clocks.monotonic, wall_clock=lambda: clocks.wall
    )
    yield verifier
    await verifier.aclose()


def token(settings: ServiceSettings, subject: str = "u-1", ttl: int = 3600) -> str:
    return mint_token(
        settings.jwt_secret,
        subject=subject,
        roles=["admin"],
        ttl_seconds=ttl,
        issuer=settings.jwt_issuer,
    )


async def test_a_token_is_verified_once_and_then_remembered(
    verifier: TokenVerifier, settings: ServiceSettings, clocks: Clocks
) -> None:
    bearer = token(settings)
    first = await verifier.verify(bearer)
    clocks.advance(VERIFIED_FOR_SECONDS - 1)
    assert await verifier.verify(bearer) == first
    assert first.roles == {Role.ADMIN} and verifier.verifications == 1
    # No longer than the cap: then the signature is checked again.
    clocks.advance(2)
    assert await verifier.verify(bearer) == first
    assert verifier.verifications == 2


async def test_a_token_is_never_remembered_past_its_expiry(
    verifier: TokenVerifier, settings: ServiceSettings, clocks: Clocks
) -> None:
    bearer = token(settings, ttl=5)
    await verifier.verify(bearer)
    clocks.advance(4)
    await verifier.verify(bearer)
    assert verifier.verifications == 1
    clocks.advance(2)  # past its expiry by our clock: checked again (the real one still accepts)
    await verifier.verify(bearer)
    assert verifier.verifications == 2


async def test_refused_tokens_are_checked_every_time(
    verifier: TokenVerifier, settings: ServiceSettings
) -> None:
    expired = token(settings, ttl=-60)
    forged = token(settings)[:-4] + "AAAA"
    for bad, words in ((expired, "has expired"), (forged, "not valid")):
        for _ in range(2):
            with pytest.raises(Unauthorized, match=words):
                await verifier.verify(bad)
    assert verifier.verifications == 4


async def test_the_memory_is_bounded_and_forgets_the_oldest_first(
    verifier: TokenVerifier, settings: ServiceSettings
) -> None:
    bearers = [token(settings, subject=f"u-{n}") for n in range(VERIFIED_TOKENS + 1)]
    for bearer in bearers:
        await verifier.verify(bearer)
    assert verifier.verifications == VERIFIED_TOKENS + 1
    await verifier.verify(bearers[-1])  # the newest is remembered
    assert verifier.verifications == VERIFIED_TOKENS + 1
    await verifier.verify(bearers[0])  # the oldest was forgotten
    assert verifier.verifications == VERIFIED_TOKENS + 2
