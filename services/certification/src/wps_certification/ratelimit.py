"""Per-client token buckets for the public verification lookups.

Verification codes carry 80 random bits (2^80 ≈ 1.2·10^24 codes). Even with ten million
certificates issued, one lookup hits some certificate with probability 10^7 / 2^80 ≈ 8·10^-18;
at 30 lookups a minute a client needs on the order of 10^17 lookups, ~6·10^9 years, for an even
chance of one hit. The limit makes bulk guessing useless and cheap for us to refuse.

Buckets live in the process: with N replicas behind a round-robin ingress a client gets at most
N times the rate, which changes none of the figures above.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from wps_common.errors import ProblemError


class TooManyRequests(ProblemError):
    status, title, slug = 429, "Too many requests", "too-many-requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`take(client)` spends one token or raises TooManyRequests with the seconds to wait."""

    def __init__(
        self,
        *,
        per_minute: float,
        burst: int,
        max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, client: str) -> None:
        now = self.clock()
        bucket = self._buckets.pop(client, None) or _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        # Most recently used last; the least recently used client is forgotten first (a
        # forgotten client starts with a full bucket, which is what idle time gives it anyway).
        self._buckets[client] = bucket
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        if bucket.tokens < 1.0:
            wait = math.ceil((1.0 - bucket.tokens) / self.rate)
            raise TooManyRequests(
                f"Too many verification lookups from your address; try again in {wait} s.",
                retry_after=wait,
            )
        bucket.tokens -= 1.0
