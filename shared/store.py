"""The event store every service builds on: an eventsourcing projection application.

Each service's application is an `EventSourcedProjection`: HTTP commands save new
events, and upstream contract events are processed with their tracking position
saved in the same transaction. Stored domain events are published only as each
service's table declares (`publications`, see shared/publishing.py and `to_contract`).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEventProtocol, event
from eventsourcing.persistence import (
    IntegrityError,
    Tracking,
    Transcoder,
    Transcoding,
)
from eventsourcing.projection import EventSourcedProjection
from eventsourcing.utils import EnvType, get_topic, resolve_topic

from shared.contracts import ContractEvent, make_contract
from shared.publishing import Publication
from shared.readmodels import ReadModelApplication

log = logging.getLogger("aftersales.store")
EVENT_NAMESPACE = uuid5(NAMESPACE_URL, "https://aftersales.example/events")
T = TypeVar("T")


@dataclass(frozen=True)
class EventMeta:
    """What every stored event carries besides its facts: brand, trace and cause."""

    brand_id: str
    trace_id: str
    causation_id: str | None = None

    @classmethod
    def caused_by(cls, upstream: ContractEvent) -> EventMeta:
        """Metadata for an event caused by an upstream contract event (same trace)."""
        return cls(upstream.brand_id, upstream.trace_id, str(upstream.event_id))


class EventMetaAsDict(Transcoding):
    type = EventMeta
    name = "event_meta"

    def encode(self, obj: EventMeta) -> dict[str, Any]:
        return dataclasses.asdict(obj)

    def decode(self, data: dict[str, Any]) -> EventMeta:
        return EventMeta(**data)


def derive_id(*parts: object) -> UUID:
    """A deterministic id from upstream ids, so a replay derives the same ids."""
    return uuid5(EVENT_NAMESPACE, ":".join(str(p) for p in parts))


def event_type_of(domain_event: object) -> str:
    topic: str = getattr(type(domain_event), "TOPIC", "") or type(domain_event).__name__
    return topic.rsplit(".", 1)[-1]


class DeadLetter(Aggregate):
    """A message this service could not process after N tries, kept for the ops console."""

    TOPIC = "shared.DeadLetter"

    class Event(Aggregate.Event):
        TOPIC = "shared.DeadLetter.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "shared.DeadLetter.Created"

    @event("MessageDeadLettered", topic="shared.DeadLetter.MessageDeadLettered")
    def __init__(
        self,
        id: UUID,
        stream: str,
        sequence: int,
        subject: str,
        error: str,
        data: str,
        deliveries: int,
    ) -> None:
        self.stream = stream
        self.sequence = sequence
        self.subject = subject
        self.error = error
        self.data = data
        self.deliveries = deliveries


Handler = Callable[[ContractEvent, ProcessingEvent[UUID]], None]


class ServiceApplication(ReadModelApplication, EventSourcedProjection[UUID]):
    """Base application of every service: commands, upstream processing, outbox source.

    Its read models are tables in the same store, written with its events (`readmodels`).
    """

    service: ClassVar[str] = ""
    # Stored topic -> how it is published (services/<name>/published.py); others are internal.
    publications: ClassVar[Mapping[str, Publication]] = {}
    log_section_size = 500

    def __init__(self, env: EnvType | None = None) -> None:
        super().__init__(env)
        self.write_lock = threading.RLock()
        self.handlers: dict[str, list[Handler]] = {}
        self._listeners: list[Callable[[], None]] = []
        self.register_handlers()

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener` (from any thread) after new events are recorded."""
        self._listeners.append(listener)

    def _notify(self, recordings: list[Any]) -> None:
        super()._notify(recordings)
        if recordings:
            for listener in self._listeners:
                listener()

    def register_transcodings(self, transcoder: Transcoder) -> None:
        super().register_transcodings(transcoder)  # type: ignore[arg-type]
        transcoder.register(EventMetaAsDict())  # type: ignore[attr-defined]

    def register_handlers(self) -> None:
        """Subclasses map upstream contract event types to handlers here (see `on`)."""

    def on(self, event_type: str, handler: Handler) -> None:
        """Run `handler` for each upstream event of `event_type`, in registration order."""
        self.handlers.setdefault(event_type, []).append(handler)

    # --- processing upstream events -------------------------------------------------

    def policy(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        for handler in self.handlers.get(domain_event.type, ()):
            handler(domain_event, processing_event)

    def process_contract(self, contract: ContractEvent, tracking: Tracking) -> bool:
        """Process one upstream event once; False when its position was already recorded."""
        with self.write_lock:
            if self.recorder.has_tracking_id(tracking.application_name, tracking.notification_id):
                return False
            try:
                self.process_event(contract, tracking)  # type: ignore[arg-type]
            except IntegrityError:
                if self.recorder.has_tracking_id(
                    tracking.application_name, tracking.notification_id
                ):
                    return False
                raise
            return True

    def record_dead_letter(
        self, tracking: Tracking, subject: str, error: str, data: bytes, deliveries: int
    ) -> bool:
        """Record a poison message with its tracking position, so the stream moves on."""
        letter = DeadLetter(
            id=derive_id("dead-letter", tracking.application_name, tracking.notification_id),
            stream=tracking.application_name,
            sequence=tracking.notification_id,
            subject=subject,
            error=error[:2000],
            data=data[:64_000].decode("utf-8", "replace"),
            deliveries=deliveries,
        )
        with self.write_lock:
            if self.recorder.has_tracking_id(tracking.application_name, tracking.notification_id):
                return False
            processing = ProcessingEvent[UUID](tracking=tracking)
            processing.collect_events(letter)
            try:
                self._record(processing)
            except IntegrityError:
                return False
        return True

    def dead_letters(self, limit: int = 500) -> list[DeadLetter]:
        """Messages this service set aside, oldest first."""
        found = self.recorder.select_notifications(
            1, limit, topics=["shared.DeadLetter.MessageDeadLettered"]
        )
        letters: list[DeadLetter] = [self.repository.get(UUID(str(n.originator_id))) for n in found]
        return letters

    def position(self, upstream: str) -> int:
        """The last upstream stream sequence processed (0 before the first)."""
        return self.recorder.max_tracking_id(upstream) or 0

    # --- commands -------------------------------------------------------------------

    def run_command(self, command: Callable[[], T], attempts: int = 5) -> T:
        """Run load → decide → save under the write lock, retrying optimistic conflicts."""
        for attempt in range(1, attempts + 1):
            try:
                with self.write_lock:
                    return command()
            except IntegrityError:
                if attempt == attempts:
                    raise
                time.sleep(0.005 * attempt)
        raise AssertionError("unreachable")

    def get_or_none(self, aggregate_id: UUID) -> Any:
        from eventsourcing.application import AggregateNotFoundError

        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    # --- the outbox source ------------------------------------------------------------

    def contracts_since(self, start: int, limit: int) -> Iterator[tuple[int, ContractEvent | None]]:
        """Notifications from `start` on, each with its contract event (None: internal)."""
        for notification in self.recorder.select_notifications(start, limit):
            if _current_topic(notification.topic) not in self.publications:
                yield notification.id, None  # internal: not even decoded
                continue
            domain_event = self.mapper.to_domain_event(notification)
            yield notification.id, self.to_contract(domain_event)

    def to_contract(self, domain_event: DomainEventProtocol[UUID]) -> ContractEvent | None:
        """The published form of a stored event as its publication declares, None if internal."""
        publication = self.publications.get(get_topic(type(domain_event)))
        if publication is None:
            return None
        meta: EventMeta = getattr(domain_event, "meta")  # noqa: B009
        return make_contract(
            event_id=derive_id(
                self.service, domain_event.originator_id, domain_event.originator_version
            ),
            event_type=publication.contract.name,
            complaint_id=domain_event.originator_id,
            brand_id=meta.brand_id,
            occurred_at=getattr(domain_event, "timestamp"),  # noqa: B009
            trace_id=meta.trace_id,
            causation_id=meta.causation_id,
            payload=publication.payload(domain_event),
        )


def _current_topic(stored_topic: str) -> str:
    """The topic a stored one resolves to today (a renamed event's old topic: its new one)."""
    return get_topic(resolve_topic(stored_topic))
