"""Performance settings of the downstream services' applications, with their reasons.

Aggregate cache (`CachedCases`): each upstream event a service acts on loads its case
(`get_or_none`), which rebuilt it from every stored event of the complaint: a SELECT and
the decoding of all its events (each InputRecorded holds a whole contract). Now a case
is kept in memory once recorded, and every load fast-forwards it: only events stored
after the cached version are read and applied, so events written by another process
sharing the store are never missed (a load costs one indexed SELECT that usually finds
nothing). A copy is handed out (DEEPCOPY_FROM_AGGREGATE_CACHE stays on), so a handler
that fails half-way cannot leave a half-changed case in the cache; a case is cached only
after its events were recorded. The bound keeps memory flat: the events of one complaint
arrive within seconds of each other, so a few thousand recent cases cover the hits (at
200 complaints/s, 2,000 cases are the last 10 s).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent, Repository

from shared.aggregate_cache import FastForwardRepository
from shared.store import ServiceApplication

AGGREGATE_CACHE_MAXSIZE = 2000
AGGREGATE_CACHE: dict[str, str] = {
    "AGGREGATE_CACHE_MAXSIZE": str(AGGREGATE_CACHE_MAXSIZE),
    "AGGREGATE_CACHE_FASTFORWARD": "y",
}


class CachedCases(ServiceApplication):
    """A service application whose recorded aggregates go to its (fast-forwarding) cache.

    eventsourcing caches an aggregate on its first load only when fast-forwarding, so a
    case created by one input was rebuilt in full by the next; caching it as soon as its
    events are recorded makes that next load a fast-forward from the cached version.
    """

    env = AGGREGATE_CACHE

    def construct_repository(self) -> Repository[UUID]:
        """Fast-forwarding, copying under the aggregate's lock (shared/aggregate_cache.py);
        eventsourcing's own repository when the cache does not fast-forward (a replay)."""
        maxsize = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        fastforward = (self.env.get(self.AGGREGATE_CACHE_FASTFORWARD) or "y").lower()
        if not maxsize or fastforward not in ("y", "yes", "t", "true", "on", "1"):
            return super().construct_repository()
        return FastForwardRepository(
            event_store=self.events,
            snapshot_store=self.snapshots,
            cache_maxsize=int(maxsize),
            fastforward=True,
        )

    def forget_cached(self, aggregate_ids: Iterable[UUID] | None = None) -> None:
        """Drop aggregates from the cache (all when None): the next load reads the store.

        The same eviction group commit applies to a rolled-back step (`_evict`)."""
        self._evict(None if aggregate_ids is None else set(aggregate_ids))

    def _record(self, processing_event: ProcessingEvent[Any]) -> list[Any]:
        recordings: list[Any] = super()._record(processing_event)
        cache = self.repository.cache
        if cache is not None:
            for aggregate_id, aggregate in processing_event.aggregates.items():
                cache.put(aggregate_id, aggregate)
        return recordings
