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

from typing import Any

from eventsourcing.application import ProcessingEvent

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

    def _record(self, processing_event: ProcessingEvent[Any]) -> list[Any]:
        recordings: list[Any] = super()._record(processing_event)
        cache = self.repository.cache
        if cache is not None:
            for aggregate_id, aggregate in processing_event.aggregates.items():
                cache.put(aggregate_id, aggregate)
        return recordings
