"""A complaint's history: every published event from all four streams, in causal order.

Read straight from the streams (what was actually published), filtered by subject, so
a brand only ever reads subjects under its own brand id.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from nats.errors import Error as NatsError

from shared.bus import Bus, DirectGetFailed
from shared.contracts import STREAMS, ContractEvent, parse_contract
from shared.errors import Unavailable


@dataclass(frozen=True)
class HistoryEntry:
    """One event of a complaint's history with where it sits in its stream."""

    event: ContractEvent
    stream: str
    sequence: int

    def as_dict(self) -> dict[str, Any]:
        e = self.event
        return {
            "event_id": str(e.event_id),
            "service": e.service,
            "type": e.type,
            "occurred_at": e.occurred_at.isoformat(),
            "trace_id": e.trace_id,
            "causation_id": e.causation_id,
            "stream": self.stream,
            "sequence": self.sequence,
            "payload": e.payload,
        }


def causal_order(entries: list[HistoryEntry]) -> list[HistoryEntry]:
    """Order so every event follows its cause and its predecessors in the same stream.

    Among events whose causes are all placed, the earliest `occurred_at` goes first.
    """
    by_id = {str(e.event.event_id): e for e in entries}
    after: dict[str, list[str]] = defaultdict(list)
    waiting: dict[str, int] = {key: 0 for key in by_id}
    per_stream: dict[str, list[HistoryEntry]] = defaultdict(list)
    for entry in entries:
        per_stream[entry.stream].append(entry)
    for stream_entries in per_stream.values():
        stream_entries.sort(key=lambda e: e.sequence)
        for earlier, later in itertools.pairwise(stream_entries):
            _edge(after, waiting, str(earlier.event.event_id), str(later.event.event_id))
    for key, entry in by_id.items():
        cause = entry.event.causation_id
        if cause in by_id and cause != key:
            _edge(after, waiting, cause, key)
    ready = [_rank(by_id[k]) for k, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    ordered: list[HistoryEntry] = []
    while ready:
        *_, key = heapq.heappop(ready)
        ordered.append(by_id[key])
        for nxt in after[key]:
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                heapq.heappush(ready, _rank(by_id[nxt]))
    placed = {str(e.event.event_id) for e in ordered}
    ordered.extend(sorted((e for k, e in by_id.items() if k not in placed), key=_rank))
    return ordered


def _edge(after: dict[str, list[str]], waiting: dict[str, int], a: str, b: str) -> None:
    after[a].append(b)
    waiting[b] += 1


def _rank(entry: HistoryEntry) -> tuple[datetime, str, int, str]:
    return (entry.event.occurred_at, entry.stream, entry.sequence, str(entry.event.event_id))


async def complaint_history(
    bus: Bus, complaint_id: UUID, brand_id: str | None = None
) -> list[HistoryEntry]:
    """All published events of one complaint; `brand_id=None` is for ops (any brand).

    The four streams are read at once by direct get: no consumer is created per request.
    """
    brand = brand_id or "*"
    reads = [
        bus.read_subject_direct(stream, f"{service}.{brand}.{complaint_id}.*")
        for service, stream in STREAMS.items()
    ]
    try:
        found = await asyncio.gather(*reads)
    except (NatsError, DirectGetFailed) as error:  # NATS down or a stream misconfigured
        raise Unavailable(f"the event streams cannot be read now: {error}") from error
    entries = [
        HistoryEntry(parse_contract(msg.data), msg.stream, msg.sequence)
        for messages in found
        for msg in messages
    ]
    return causal_order(entries)
