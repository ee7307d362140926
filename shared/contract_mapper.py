"""Decoding stored events with the contracts they recorded read in today's shape."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent

from shared.contracts import upcast_recorded


class ContractUpcastingMapper(Mapper[UUID]):
    """Decodes stored events with every recorded contract read in its type's current shape.

    A stored event that holds an upstream contract as a dict (an input recorded, a case
    opened from it) keeps the bytes it was written with; on decoding, a contract of an
    older major is upcast (`shared.contracts.upcast_recorded`), so aggregates rebuilt from
    old events, replays of old inputs and the replay's diff all see the current shape.
    """

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        domain_event = super().to_domain_event(stored_event)
        state = domain_event.__dict__
        for name, value in state.items():
            if isinstance(value, dict) and "payload" in value and "type" in value:
                state[name] = upcast_recorded(value)
        return domain_event
