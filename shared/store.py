"""The event store every service builds on: an eventsourcing projection application.

Each service's application is an `EventSourcedProjection`: HTTP commands save new
events, and upstream contract events are processed with their tracking position
saved in the same transaction. Every input is recorded first in the transaction of
its effects (see `shared.inputs`), so `replay_input` re-runs it exactly. Stored domain
events are published only as each service's table declares (`publications`, see
shared/publishing.py and `to_contract`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, ClassVar, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEventProtocol, event
from eventsourcing.persistence import (
    IntegrityError,
    Mapper,
    Tracking,
    Transcoder,
    Transcoding,
)
from eventsourcing.projection import EventSourcedProjection
from eventsourcing.utils import EnvType, get_topic, resolve_topic

from shared.calendar import WorkCalendar, packaged_calendar
from shared.contract_mapper import ContractUpcastingMapper
from shared.contracts import ContractEvent, make_contract
from shared.groupcommit import GroupCommit
from shared.inputs import (
    CALENDAR_TOPIC,
    DEAD_LETTER_TOPIC,
    CalendarInput,
    CommandInput,
    InputAlreadyRecorded,
    InputClocked,
    ReceivedCommand,
    TimerInput,
    UnknownCommand,
    UpstreamInput,
    input_clock,
)
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
        # Not dataclasses.asdict: it deep-copies, a few % of every save's CPU.
        return {
            "brand_id": obj.brand_id,
            "trace_id": obj.trace_id,
            "causation_id": obj.causation_id,
        }

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

    class Event(InputClocked, Aggregate.Event):
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


class Processing(ProcessingEvent[UUID]):
    """eventsourcing's processing event, collecting an aggregate's events without the
    runtime-protocol `isinstance` checks (6% of a replay's CPU on Python 3.11)."""

    def collect_events(self, *objs: Any, **kwargs: Any) -> None:
        for obj in objs:
            if isinstance(obj, Aggregate):
                self.events.extend(obj.collect_events())
                self.aggregates[obj.id] = obj
            elif obj is not None:
                super().collect_events(obj)
        self.saved_kwargs.update(kwargs)


Handler = Callable[[ContractEvent, ProcessingEvent[UUID]], None]
CommandHandler = Callable[[ReceivedCommand, ProcessingEvent[UUID]], Any]
TimerHandler = Callable[[datetime, ProcessingEvent[UUID]], None]


class ServiceApplication(GroupCommit, ReadModelApplication, EventSourcedProjection[UUID]):
    """Base application of every service: inputs recorded, upstream processing, outbox source.

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
        self.commands: dict[str, CommandHandler] = {}
        self.timers: dict[str, TimerHandler] = {}
        self._listeners: list[Callable[[], None]] = []
        self._calendar: WorkCalendar | None = None
        self._init_group_commit()
        self.register_handlers()

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener` (from any thread) after new events are recorded."""
        self._listeners.append(listener)

    def _notify(self, recordings: list[Any]) -> None:
        work = self.current_unit_of_work()
        if work is not None:  # told after the commit (groupcommit)
            work.recordings.extend(recordings)
            return
        super()._notify(recordings)
        if recordings:
            for listener in self._listeners:
                listener()

    def construct_mapper(self) -> Mapper[UUID]:
        """Stored events decode with recorded contracts upcast (ContractUpcastingMapper)."""
        return self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=ContractUpcastingMapper
        )

    def register_transcodings(self, transcoder: Transcoder) -> None:
        super().register_transcodings(transcoder)  # type: ignore[arg-type]
        transcoder.register(EventMetaAsDict())  # type: ignore[attr-defined]

    def register_handlers(self) -> None:
        """Subclasses map upstream events, commands and timers to handlers here."""

    def on(self, event_type: str, handler: Handler) -> None:
        """Run `handler` for each upstream event of `event_type`, in registration order."""
        self.handlers.setdefault(event_type, []).append(handler)

    def command(self, name: str, handler: CommandHandler) -> None:
        """Run `handler` for the command `name` (see `execute`); replay calls it again."""
        self.commands[name] = handler

    def timer(self, name: str, handler: TimerHandler) -> None:
        """Run `handler` on each tick of the timer `name` (see `tick`)."""
        self.timers[name] = handler

    def _notify_now(self, recordings: list[Any]) -> None:
        self._notify(recordings)

    def _record(self, processing_event: ProcessingEvent[Any]) -> list[Any]:
        recordings = super()._record(processing_event)
        work = self.current_unit_of_work()
        if work is not None:  # the cache may hold these now: evicted if rolled back
            work.touched.update(processing_event.aggregates)
        return recordings

    def _save(self, processing: ProcessingEvent[UUID]) -> None:
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)

    # --- processing upstream events -------------------------------------------------

    def policy(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        for handler in self.handlers.get(domain_event.type, ()):
            handler(domain_event, processing_event)

    def process_contract(
        self, contract: ContractEvent, tracking: Tracking, observed_at: datetime | None = None
    ) -> bool:
        """Process one upstream event once; False when its position was already recorded.

        `observed_at` is when this service took the message (read once, at the edge): it
        is recorded with the event and is the time of every event this input causes.
        """
        at = observed_at or datetime.now(UTC)
        with self.write_lock:
            if self.recorder.has_tracking_id(tracking.application_name, tracking.notification_id):
                return False
            try:
                self._process_upstream(contract, tracking, at)
            except IntegrityError:
                if self.recorder.has_tracking_id(
                    tracking.application_name, tracking.notification_id
                ):
                    return False
                raise
            return True

    def _process_upstream(self, contract: ContractEvent, tracking: Tracking, at: datetime) -> None:
        with input_clock(at):
            processing = Processing(tracking=tracking)
            if contract.type in self.handlers:  # an event nobody acts on moves the position only
                processing.collect_events(
                    UpstreamInput(
                        id=derive_id(
                            self.service,
                            "upstream",
                            tracking.application_name,
                            tracking.notification_id,
                        ),
                        stream=tracking.application_name,
                        sequence=tracking.notification_id,
                        contract=contract.model_dump(mode="json"),
                    )
                )
                self.policy(contract, processing)
            self._save(processing)

    def record_dead_letter(
        self,
        tracking: Tracking,
        subject: str,
        error: str,
        data: bytes,
        deliveries: int,
        observed_at: datetime | None = None,
    ) -> bool:
        """Record a poison message with its tracking position, so the stream moves on."""
        with self.write_lock:
            if self.recorder.has_tracking_id(tracking.application_name, tracking.notification_id):
                return False
            try:
                self._dead_letter(
                    tracking,
                    subject,
                    error[:2000],
                    data[:64_000].decode("utf-8", "replace"),
                    deliveries,
                    observed_at or datetime.now(UTC),
                )
            except IntegrityError:
                return False
        return True

    def _dead_letter(
        self,
        tracking: Tracking,
        subject: str,
        error: str,
        data: str,
        deliveries: int,
        at: datetime,
    ) -> None:
        with input_clock(at):
            letter = DeadLetter(
                id=derive_id("dead-letter", tracking.application_name, tracking.notification_id),
                stream=tracking.application_name,
                sequence=tracking.notification_id,
                subject=subject,
                error=error,
                data=data,
                deliveries=deliveries,
            )
            processing = Processing(tracking=tracking)
            processing.collect_events(letter)
            self._save(processing)

    def dead_letters(self, after: int = 0, limit: int = 500) -> list[tuple[int, Any]]:
        """Messages this service set aside after notification `after`, oldest first: each
        with its notification id (the keyset cursor) and its recorded event (no extra read)."""
        found = self.recorder.select_notifications(after + 1, limit, topics=[DEAD_LETTER_TOPIC])
        return [(n.id, self.mapper.to_domain_event(n)) for n in found]

    def position(self, upstream: str) -> int:
        """The last upstream stream sequence processed (0 before the first)."""
        return self.recorder.max_tracking_id(upstream) or 0

    # --- commands and timers ----------------------------------------------------------

    def execute(
        self,
        name: str,
        args: dict[str, Any],
        at: datetime,
        given_id: str | None = None,
        attempts: int = 5,
    ) -> Any:
        """Record the command `name` and run its handler, in one transaction.

        `at` is when the command was received and `given_id` the id the edge gave it
        (e.g. a new complaint's id): both are recorded, so a replay runs the handler on
        the same arguments, time and id. `args` must be JSON. The same name with the
        same `given_id` is recorded once (`InputAlreadyRecorded` after that).
        """
        if name not in self.commands:
            raise UnknownCommand(f"{self.service} has no command {name!r}")
        input_id = derive_id(self.service, "command", name, given_id) if given_id else uuid4()
        command = ReceivedCommand(name, args, at, given_id, input_id)
        for attempt in range(1, attempts + 1):
            try:  # group-committed with concurrent callers, each in its own savepoint
                return self.submit(lambda: self._execute(command))
            except IntegrityError:
                if self.get_or_none(input_id) is not None:
                    raise InputAlreadyRecorded(f"{name} {given_id} was recorded before") from None
                if attempt == attempts:
                    raise
                time.sleep(0.005 * attempt)
        raise AssertionError("unreachable")

    def _execute(self, command: ReceivedCommand) -> Any:
        with input_clock(command.at):
            processing = Processing()
            processing.collect_events(
                CommandInput(
                    id=command.input_id,
                    name=command.name,
                    args=command.args,
                    given_id=command.given_id,
                )
            )
            result = self.commands[command.name](command, processing)
            self._save(processing)
        return result

    def tick(self, timer: str, at: datetime) -> None:
        """Record a tick of `timer` at `at` and run its handler, in one transaction."""
        if timer not in self.timers:
            raise UnknownCommand(f"{self.service} has no timer {timer!r}")
        input_id = derive_id(self.service, "tick", timer, at.astimezone(UTC).isoformat())
        with self.write_lock:
            try:
                self._tick(input_id, timer, at)
            except IntegrityError:
                raise InputAlreadyRecorded(f"{timer} ticked at {at} before") from None

    def _tick(self, input_id: UUID, timer: str, at: datetime) -> None:
        with input_clock(at) as now:
            processing = Processing()
            processing.collect_events(TimerInput(id=input_id, timer=timer))
            self.timers[timer](now, processing)
            self._save(processing)

    # --- the working-day calendar, versioned ----------------------------------------

    @property
    def calendar(self) -> WorkCalendar:
        """The packaged calendar plus the years this service loaded (recorded inputs)."""
        if self._calendar is None:
            calendar = packaged_calendar()
            for loaded in self.calendar_loads():
                calendar = _with_loaded_year(calendar, loaded)
            self._calendar = calendar
        return self._calendar

    def calendar_loads(self) -> list[CalendarInput]:
        """Every calendar year this service loaded, in the order it loaded them."""
        return [
            self.repository.get(UUID(str(notification.originator_id)))
            for notification in self._select_all([CALENDAR_TOPIC])
        ]

    def load_calendar_year(
        self,
        year: int,
        holidays: Sequence[date],
        workdays: Sequence[date],
        source: str,
        at: datetime,
        loaded_by: str | None = None,
    ) -> str:
        """Load (or replace) one year of the working-day calendar; returns the new version.

        `loaded_by` is who asked for it (an ops token's subject), recorded with the year."""
        with self.write_lock:
            self._load_calendar_year(
                year,
                sorted(d.isoformat() for d in holidays),
                sorted(d.isoformat() for d in workdays),
                source,
                at,
                loaded_by,
            )
            return self.calendar.version

    def _load_calendar_year(
        self,
        year: int,
        holidays: list[str],
        workdays: list[str],
        source: str,
        at: datetime,
        loaded_by: str | None,
        input_id: UUID | None = None,
    ) -> None:
        previous_version = self.calendar.version
        calendar = self.calendar.with_year(
            year, map(date.fromisoformat, holidays), map(date.fromisoformat, workdays)
        )
        # From the version before and after: loading A, then B, then A again is three inputs.
        # A replay takes the id recorded (logs from before this derivation replay the same).
        input_id = input_id or derive_id(
            self.service, "calendar", year, previous_version, calendar.version
        )
        with input_clock(at):
            processing = Processing()
            processing.collect_events(
                CalendarInput(
                    id=input_id,
                    year=year,
                    holidays=holidays,
                    workdays=workdays,
                    source=source,
                    calendar_version=calendar.version,
                    loaded_by=loaded_by,
                )
            )
            previous, self._calendar = self._calendar, calendar
            try:
                self.on_calendar_loaded(year, processing)
                self._save(processing)
            except BaseException:
                self._calendar = previous
                raise

    def on_calendar_loaded(self, year: int, processing: ProcessingEvent[UUID]) -> None:
        """Act on a calendar year just loaded (``self.calendar`` already has it), in the
        transaction that records the load: e.g. revise provisional deadlines. Replay re-runs it."""

    def _select_all(self, topics: Sequence[str], start: int = 1) -> Iterator[Any]:
        """Notifications of `topics` from `start` on, page by page."""
        while True:
            page = self.recorder.select_notifications(
                start, self.log_section_size, topics=list(topics)
            )
            yield from page
            if len(page) < self.log_section_size:
                return
            start = page[-1].id + 1

    # --- replay -----------------------------------------------------------------------

    def replay_input(self, recorded: Any) -> None:
        """Run one recorded input (a stored input event) again, as it ran live."""
        at: datetime = recorded.timestamp
        input_id = UUID(str(recorded.originator_id))
        fields = vars(recorded)
        with self.write_lock:
            if isinstance(recorded, UpstreamInput.Event):
                contract = ContractEvent.model_validate(fields["contract"])
                tracking = Tracking(fields["stream"], fields["sequence"])
                self._process_upstream(contract, tracking, at)
            elif isinstance(recorded, CommandInput.Event):
                args, given_id = fields["args"], fields["given_id"]
                self._execute(ReceivedCommand(fields["name"], args, at, given_id, input_id))
            elif isinstance(recorded, TimerInput.Event):
                self._tick(input_id, fields["timer"], at)
            elif isinstance(recorded, CalendarInput.Event):
                holidays, workdays = fields["holidays"], fields["workdays"]
                self._load_calendar_year(
                    fields["year"],
                    holidays,
                    workdays,
                    fields["source"],
                    at,
                    fields["loaded_by"],
                    input_id,
                )
            elif isinstance(recorded, DeadLetter.Event):
                tracking = Tracking(fields["stream"], fields["sequence"])
                self._dead_letter(
                    tracking,
                    fields["subject"],
                    fields["error"],
                    fields["data"],
                    fields["deliveries"],
                    at,
                )
            else:
                raise TypeError(f"not a recorded input: {type(recorded).__name__}")

    # --- commands (before inputs were recorded) ---------------------------------------

    def run_command(self, command: Callable[[], T], attempts: int = 5) -> T:
        """Run load → decide → save under the write lock, retrying optimistic conflicts.

        Prefer `execute`: it records the command as an input, so a replay can re-run it.
        """
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


def _with_loaded_year(calendar: WorkCalendar, loaded: CalendarInput) -> WorkCalendar:
    return calendar.with_year(
        loaded.year,
        map(date.fromisoformat, loaded.holidays),
        map(date.fromisoformat, loaded.workdays),
    )
