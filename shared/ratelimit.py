"""Rate limits per caller: a token bucket per API key, regulator and ops token, in memory.

Each process counts its own callers, so a limit holds per replica: with N replicas
behind a balancer a caller may reach N times the rate. Over the limit a request gets 429
problem+json with `Retry-After`. Checking costs a dict lookup and some arithmetic, no
I/O, so it sits on the hot path (`POST /v1/complaints`) unnoticed. A limit of 0 is off.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from weakref import WeakKeyDictionary

from starlette.requests import HTTPConnection

from shared.errors import TooManyRequests
from shared.settings import Settings

log = logging.getLogger("aftersales.ratelimit")
CallerKind = Literal["api_key", "regulator", "ops"]
MAX_CALLERS = 100_000  # buckets kept per limiter before idle (full) ones are dropped


class TokenBucketLimiter:
    """`rate` requests per second per caller, `burst` at once; buckets start full."""

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_callers: int = MAX_CALLERS,
    ) -> None:
        self.rate = rate
        self.burst = float(max(burst, 1))
        self.clock = clock
        self.max_callers = max_callers
        self.buckets: dict[str, list[float]] = {}  # caller -> [tokens, when counted]

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, caller: str) -> float:
        """Take one token for `caller`: 0.0 if the request may go, else seconds to wait."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        bucket = self.buckets.get(caller)
        if bucket is None:
            if len(self.buckets) >= self.max_callers:
                self._forget_idle(now)
            self.buckets[caller] = [self.burst - 1.0, now]
            return 0.0
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        """Drop buckets that have refilled (a full bucket is the same as none)."""
        rate, burst = self.rate, self.burst
        full = [c for c, (n, at) in self.buckets.items() if n + (now - at) * rate >= burst]
        for caller in full:
            del self.buckets[caller]
        if len(self.buckets) >= self.max_callers:  # that many active callers: start afresh
            log.warning("rate limiter holds %d active callers: buckets reset", len(self.buckets))
            self.buckets.clear()


@dataclass(frozen=True)
class RateLimits:
    """One limiter per kind of caller, built from settings (`AFTERSALES_RATE_LIMIT_*`)."""

    api_key: TokenBucketLimiter
    regulator: TokenBucketLimiter
    ops: TokenBucketLimiter

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        return cls(
            TokenBucketLimiter(
                settings.rate_limit_api_key_per_s, settings.rate_limit_api_key_burst
            ),
            TokenBucketLimiter(
                settings.rate_limit_regulator_per_s, settings.rate_limit_regulator_burst
            ),
            TokenBucketLimiter(settings.rate_limit_ops_per_s, settings.rate_limit_ops_burst),
        )

    def of(self, kind: CallerKind) -> TokenBucketLimiter:
        return self.api_key if kind == "api_key" else self.ops if kind == "ops" else self.regulator


_INSTALLED: WeakKeyDictionary[Any, RateLimits] = WeakKeyDictionary()


def install_rate_limits(app: Any, limits: RateLimits) -> None:
    """Make `limits` the ones `throttle` counts against in `app` (not `app.state`: its
    attribute lookup alone costs more than the count)."""
    _INSTALLED[app] = limits


def throttle(connection: HTTPConnection, kind: CallerKind, caller: str) -> None:
    """Count one request of `caller`; raise `TooManyRequests` (429) when over its limit.

    Call it once the caller is authenticated, so that forged credentials neither create
    buckets nor spend a real caller's budget.
    """
    limits = _INSTALLED.get(connection.app)
    if limits is None:
        return
    limiter = limits.of(kind)
    wait = limiter.take(f"{kind}:{caller}")
    if wait:
        raise too_many(limiter, wait)


def too_many(limiter: TokenBucketLimiter, wait: float) -> TooManyRequests:
    retry_after = max(1, math.ceil(wait))
    return TooManyRequests(
        f"Over {limiter.rate:g} requests per second (burst {limiter.burst:g}): "
        f"retry after {retry_after} s.",
        headers={
            "Retry-After": str(retry_after),
            "RateLimit-Limit": f"{limiter.burst:g}",
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(retry_after),
        },
    )
