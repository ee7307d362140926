"""Unit tests for shared.inputs: events take their time from the input being processed.

Domain code reads no clock: outside an input, creating an event raises, and inside one
every event carries the input's time (so a replay over the recorded inputs is exact).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest

from services.compensation.domain import CompensationCase
from services.followup.domain import FollowupCase
from services.routing.domain import RoutingCase
from shared.inputs import NoInputClock, input_clock, input_time
from shared.store import DeadLetter, EventMeta

META = EventMeta("acme", "ab" * 16)
AT = datetime(2026, 10, 9, 8, 30, tzinfo=UTC)


def test_reading_the_input_time_outside_an_input_raises() -> None:
    with pytest.raises(NoInputClock):
        input_time()


@pytest.mark.parametrize(
    "create",
    [
        lambda: RoutingCase(id=UUID(int=1), meta=META, received={}),
        lambda: CompensationCase(id=UUID(int=1), meta=META),
        lambda: FollowupCase(id=UUID(int=1), meta=META),
        lambda: DeadLetter(
            id=UUID(int=1), stream="S", sequence=1, subject="s", error="e", data="", deliveries=1
        ),
    ],
    ids=["routing", "compensation", "followup", "dead-letter"],
)
def test_aggregates_cannot_create_events_outside_an_input(create: object) -> None:
    with pytest.raises(NoInputClock):
        create()  # type: ignore[operator]


def test_every_event_created_inside_an_input_carries_its_time() -> None:
    with input_clock(AT):
        case = CompensationCase(id=UUID(int=1), meta=META)
        case.apologise(meta=META, handler_id="handler-li", message="sorry")
    events = case.collect_events()
    assert [e.timestamp for e in events] == [AT, AT]


def test_the_input_time_is_stored_in_utc_and_must_be_aware() -> None:
    shanghai = timezone(timedelta(hours=8))
    with input_clock(datetime(2026, 10, 9, 16, 30, tzinfo=shanghai)) as at:
        assert at == AT
        assert at.tzinfo is UTC
    with pytest.raises(ValueError, match="timezone-aware"), input_clock(datetime(2026, 10, 9)):
        pass


def test_the_clock_is_restored_after_the_input_even_on_error() -> None:
    with pytest.raises(KeyError), input_clock(AT):
        raise KeyError("boom")
    with pytest.raises(NoInputClock):
        input_time()
