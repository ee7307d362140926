"""Brand API keys seen recently, checked in memory so a request need not read the store.

A hit costs one SHA-256 and a dict look-up. Revoking a key in this process drops it at
once, and a store read that raced the revocation is not kept (a generation counter);
another replica's revocation is seen when the entry expires, `ttl` seconds after it was
read from the store, so a revoked key works there for at most `ttl` seconds more.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from shared.security import verify_api_key


@dataclass(frozen=True)
class KnownKey:
    """An active key as the store had it: its brand, its hash, when it was read."""

    brand_id: str
    key_hash: str
    read_at: float


class ApiKeyCache:
    """Active API keys by key id, each trusted for `ttl` seconds after its store read."""

    def __init__(
        self, ttl: float, maxsize: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.maxsize = maxsize
        self._clock = clock
        self._keys: dict[str, KnownKey] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def brand_of(self, key_id: str, api_key: str) -> str | None:
        """The brand of a fresh known key that matches; None means: ask the store."""
        known = self._keys.get(key_id)
        if known is None or self._clock() - known.read_at >= self.ttl:
            return None
        return known.brand_id if verify_api_key(api_key, known.key_hash) else None

    @property
    def generation(self) -> int:
        """Read before a store read, then given to `remember` with what was read."""
        return self._generation

    def remember(self, key_id: str, brand_id: str, key_hash: str, generation: int) -> None:
        """Keep an active key read from the store, unless a key was revoked meanwhile."""
        with self._lock:
            if generation != self._generation or self.ttl <= 0:
                return
            if len(self._keys) >= self.maxsize and key_id not in self._keys:
                self._keys.pop(next(iter(self._keys)))
            self._keys[key_id] = KnownKey(brand_id, key_hash, self._clock())

    def forget(self, key_id: str) -> None:
        """Drop a key (revoked), and make any store read still in flight not be kept."""
        with self._lock:
            self._generation += 1
            self._keys.pop(key_id, None)
