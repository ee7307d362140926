"""Inputs: the clock of the input being processed, and one typed record per input.

Every input a service acts on (an upstream event, an HTTP or ops command, a timer tick,
a calendar year loaded) is recorded as one typed event, first in the transaction that
holds its effects. Stored events take their timestamp from that input (`InputClocked`),
so domain code reads no clock and a replay over the recorded inputs is exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

_input_time: ContextVar[datetime | None] = ContextVar("aftersales_input_time", default=None)


class NoInputClock(RuntimeError):
    """An event was created outside the processing of a recorded input."""


def input_time() -> datetime:
    """The time of the input being processed; raises `NoInputClock` outside one."""
    at = _input_time.get()
    if at is None:
        raise NoInputClock(
            "events are created only while an input is processed "
            "(wrap the work in shared.inputs.input_clock(at))"
        )
    return at


@contextmanager
def input_clock(at: datetime) -> Iterator[datetime]:
    """Make `at` (timezone-aware, stored in UTC) the time of every event created inside."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("an input's time must be timezone-aware")
    utc = at.astimezone(UTC)
    token = _input_time.set(utc)
    try:
        yield utc
    finally:
        _input_time.reset(token)


class InputClocked:
    """Mixin for an aggregate's base `Event`: timestamps come from the input, never the clock.

    eventsourcing calls `create_timestamp()` when it creates an event without one.
    """

    @staticmethod
    def create_timestamp() -> datetime:
        return input_time()


# --- the typed input records -----------------------------------------------------------


class UpstreamInput(Aggregate):
    """An upstream contract event at its stream position, as this service observed it."""

    TOPIC = "shared.UpstreamInput"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "shared.UpstreamInput.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "shared.UpstreamInput.Created"

    @event("UpstreamEventReceived", topic="shared.UpstreamInput.UpstreamEventReceived")
    def __init__(self, id: UUID, stream: str, sequence: int, contract: dict[str, Any]) -> None:
        self.stream = stream
        self.sequence = sequence
        self.contract = contract


class CommandInput(Aggregate):
    """An HTTP or ops command: its name, arguments, and the id it was given at the edge."""

    TOPIC = "shared.CommandInput"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "shared.CommandInput.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "shared.CommandInput.Created"

    @event("CommandReceived", topic="shared.CommandInput.CommandReceived")
    def __init__(self, id: UUID, name: str, args: dict[str, Any], given_id: str | None) -> None:
        self.name = name
        self.args = args
        self.given_id = given_id


class TimerInput(Aggregate):
    """A timer tick: time passing is an input like any other."""

    TOPIC = "shared.TimerInput"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "shared.TimerInput.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "shared.TimerInput.Created"

    @event("TimerTicked", topic="shared.TimerInput.TimerTicked")
    def __init__(self, id: UUID, timer: str) -> None:
        self.timer = timer


class CalendarInput(Aggregate):
    """A working-day calendar year loaded after the packaged data, and the version it made."""

    TOPIC = "shared.CalendarInput"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "shared.CalendarInput.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "shared.CalendarInput.Created"

    class CalendarYearLoaded(Created):
        """A year's holidays and make-up days loaded; v2 records who loaded it."""

        TOPIC = "shared.CalendarInput.CalendarYearLoaded"
        class_version = 2

        year: int
        holidays: list[str]
        workdays: list[str]
        source: str
        calendar_version: str
        loaded_by: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 did not record who loaded the year: None says "not known"."""
            state["loaded_by"] = None

    @event(CalendarYearLoaded)
    def __init__(
        self,
        id: UUID,
        year: int,
        holidays: list[str],
        workdays: list[str],
        source: str,
        calendar_version: str,
        loaded_by: str | None,
    ) -> None:
        self.year = year
        self.holidays = holidays
        self.workdays = workdays
        self.source = source
        self.calendar_version = calendar_version
        self.loaded_by = loaded_by


UPSTREAM_TOPIC = "shared.UpstreamInput.UpstreamEventReceived"
COMMAND_TOPIC = "shared.CommandInput.CommandReceived"
TIMER_TOPIC = "shared.TimerInput.TimerTicked"
CALENDAR_TOPIC = "shared.CalendarInput.CalendarYearLoaded"
DEAD_LETTER_TOPIC = "shared.DeadLetter.MessageDeadLettered"
# Every stored event that is an input (a replay re-runs these, in notification order).
INPUT_TOPICS = (UPSTREAM_TOPIC, COMMAND_TOPIC, TIMER_TOPIC, CALENDAR_TOPIC, DEAD_LETTER_TOPIC)


@dataclass(frozen=True)
class ReceivedCommand:
    """A command as its handler sees it, live and in replay alike."""

    name: str
    args: dict[str, Any]
    at: datetime
    given_id: str | None
    input_id: UUID


class UnknownCommand(LookupError):
    """No handler is registered for a command name."""


class InputAlreadyRecorded(Exception):
    """The same input (same command name and given id, same tick) was recorded before."""
