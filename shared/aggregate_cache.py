"""The aggregate cache: aggregates kept as the store had them, brought up to date on read.

Aggregates that grow with traffic (a merchant's group, a consumer's file, a complaint's
case in every service) would otherwise be rebuilt from their events on every input. A `get`
reads only the events recorded after the cached version (another replica's included)
and hands out a deep copy, so what a command changes reaches the cache only through
the store, once committed. Fast-forward and copy happen under one lock per aggregate:
the library copies after releasing it, and a copy taken while another thread applies
new events to the cached object could mix two versions.
"""

from __future__ import annotations

from collections.abc import Iterable
from copy import deepcopy
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    ProjectorFunction,
    Repository,
    project_aggregate,
)
from eventsourcing.domain import DomainEventProtocol


class FastForwardRepository(Repository[UUID]):
    """A repository whose cache is fast-forwarded and copied under the aggregate's lock."""

    def get(
        self,
        aggregate_id: UUID,
        *,
        version: int | None = None,
        projector_func: ProjectorFunction[Any, Any] = project_aggregate,
        fastforward_skipping: bool = False,
        deepcopy_from_cache: bool = True,
    ) -> Any:
        if not self.cache or version is not None:
            return super().get(aggregate_id, version=version, projector_func=projector_func)
        lock = self._use_fastforward_lock(aggregate_id)
        try:
            with lock:
                aggregate = self._current(aggregate_id, projector_func)
                return deepcopy(aggregate) if deepcopy_from_cache else aggregate
        finally:
            self._disuse_fastforward_lock(aggregate_id)

    def _current(self, aggregate_id: UUID, projector_func: ProjectorFunction[Any, Any]) -> Any:
        cache = self.cache
        assert cache is not None
        try:
            aggregate = cache.get(aggregate_id)
        except KeyError:
            aggregate = self._reconstruct_aggregate(aggregate_id, None, projector_func)
            cache.put(aggregate_id, aggregate)
            return aggregate
        new_events = self.event_store.get(originator_id=aggregate_id, gt=aggregate.version)
        current = projector_func(aggregate, cast(Iterable[DomainEventProtocol[UUID]], new_events))
        if current is None:
            raise AggregateNotFoundError(aggregate_id)
        return current
