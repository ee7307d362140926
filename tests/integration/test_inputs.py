"""Every input recorded first, in the transaction of its effects, on SQLite and PostgreSQL.

Commands (with their receive time and the id the edge gave them), timer ticks and
calendar years loaded are each recorded as one typed event before what they cause;
the events they cause carry the input's time; a replay over them is exact.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Tracking

from shared.calendar import packaged_calendar
from shared.inputs import (
    CALENDAR_TOPIC,
    INPUT_TOPICS,
    InputAlreadyRecorded,
    InputClocked,
    ReceivedCommand,
)
from shared.replay import verify_replay
from shared.settings import Settings, persistence_env, prepare_store
from shared.store import ServiceApplication, derive_id

AT = datetime(2026, 9, 30, 1, 0, tzinfo=UTC)


class Ticket(Aggregate):
    """A stand-in aggregate: opened by a command, stamped by a timer."""

    TOPIC = "scratchpad.Ticket"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "scratchpad.Ticket.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "scratchpad.Ticket.Created"

    @event("TicketOpened", topic="scratchpad.Ticket.TicketOpened")
    def __init__(self, id: UUID, title: str, due: str, calendar_version: str) -> None:
        self.title = title
        self.stamps = 0

    @event("TicketStamped", topic="scratchpad.Ticket.TicketStamped")
    def stamp(self) -> None:
        self.stamps += 1


class Scratchpad(ServiceApplication):
    service = "scratchpad"
    name = "scratchpad"

    def register_handlers(self) -> None:
        self.command("open_ticket", self.open_ticket)
        self.timer("stamp_all", self.stamp_all)

    def open_ticket(self, command: ReceivedCommand, processing: ProcessingEvent[UUID]) -> str:
        assert command.given_id is not None
        due = self.calendar.add_working_days(command.at.date(), 1)
        ticket = Ticket(
            id=UUID(command.given_id),
            title=command.args["title"],
            due=due.isoformat(),
            calendar_version=self.calendar.version,
        )
        processing.collect_events(ticket)
        return due.isoformat()

    def stamp_all(self, at: datetime, processing: ProcessingEvent[UUID]) -> None:
        for notification in self._select_all(["scratchpad.Ticket.TicketOpened"]):
            ticket: Ticket = self.repository.get(UUID(str(notification.originator_id)))
            ticket.stamp()
            processing.collect_events(ticket)


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    scratchpad = persistence_env("scratchpad", settings)
    prepare_store(scratchpad)
    return scratchpad


def stored(app: ServiceApplication) -> list[tuple[str, datetime]]:
    notifications = app.recorder.select_notifications(1, 100)
    return [
        (n.topic.rsplit(".", 1)[-1], app.mapper.to_domain_event(n).timestamp)
        for n in notifications
    ]


def test_a_command_is_recorded_before_its_effects_with_its_time_and_given_id(
    env: dict[str, str],
) -> None:
    app = Scratchpad(env)
    ticket_id = str(UUID(int=7))
    due = app.execute("open_ticket", {"title": "冰箱"}, AT, given_id=ticket_id)
    assert due == "2026-10-08"  # Wed 30 Sep + 1 working day: 1–7 Oct is National Day
    assert stored(app) == [("CommandReceived", AT), ("TicketOpened", AT)]
    recorded = app.repository.get(derive_id("scratchpad", "command", "open_ticket", ticket_id))
    assert (recorded.name, recorded.args, recorded.given_id) == (
        "open_ticket",
        {"title": "冰箱"},
        ticket_id,
    )
    with pytest.raises(InputAlreadyRecorded):
        app.execute("open_ticket", {"title": "again"}, AT + timedelta(seconds=1), ticket_id)
    assert len(stored(app)) == 2
    app.close()


def test_a_failing_command_records_neither_input_nor_effects(env: dict[str, str]) -> None:
    app = Scratchpad(env)
    with pytest.raises(KeyError):
        app.execute("open_ticket", {"no title": ""}, AT, given_id=str(UUID(int=8)))
    assert stored(app) == []
    app.close()


def test_a_timer_tick_is_recorded_once_and_its_effects_carry_its_time(
    env: dict[str, str],
) -> None:
    app = Scratchpad(env)
    app.execute("open_ticket", {"title": "a"}, AT, given_id=str(UUID(int=1)))
    tick = AT + timedelta(hours=1)
    app.tick("stamp_all", tick)
    assert stored(app)[2:] == [("TimerTicked", tick), ("TicketStamped", tick)]
    with pytest.raises(InputAlreadyRecorded):
        app.tick("stamp_all", tick)
    app.close()


def test_a_loaded_calendar_year_is_recorded_used_and_restored_on_restart(
    env: dict[str, str],
) -> None:
    app = Scratchpad(env)
    packaged = packaged_calendar().version
    assert app.calendar.version == packaged
    assert not app.calendar.covers(date(2027, 1, 1))
    version = app.load_calendar_year(
        2027,
        holidays=[date(2027, 1, 1)],
        workdays=[],
        source="State Council notice 2026 (test)",
        at=AT,
    )
    assert version != packaged
    after_new_year = app.execute(
        "open_ticket", {"title": "b"}, datetime(2026, 12, 31, 1, tzinfo=UTC), str(UUID(int=2))
    )
    assert after_new_year == "2027-01-04"  # Fri 1 Jan 2027 is off, then the weekend
    app.close()

    reopened = Scratchpad(env)
    assert reopened.calendar.version == version
    assert reopened.calendar.covers(date(2027, 6, 1))
    loaded = reopened.recorder.select_notifications(1, 10, topics=[CALENDAR_TOPIC])
    assert len(loaded) == 1
    reopened.close()


def test_replay_of_commands_ticks_and_calendar_loads_is_exact(env: dict[str, str]) -> None:
    app = Scratchpad(env)
    app.execute("open_ticket", {"title": "a"}, AT, given_id=str(UUID(int=1)))
    app.load_calendar_year(2027, [date(2027, 1, 1)], [], "test", AT + timedelta(minutes=1))
    app.execute("open_ticket", {"title": "b"}, AT + timedelta(minutes=2), str(UUID(int=2)))
    app.tick("stamp_all", AT + timedelta(minutes=3))
    inputs = len(app.recorder.select_notifications(1, 100, topics=list(INPUT_TOPICS)))
    app.close()

    report = verify_replay("scratchpad", Scratchpad, env)
    assert report.differences == []
    assert (report.inputs, report.events) == (inputs, 8)  # 4 inputs, 4 effects


def test_replay_names_an_effect_that_its_inputs_no_longer_make(env: dict[str, str]) -> None:
    app = Scratchpad(env)
    app.execute("open_ticket", {"title": "a"}, AT, given_id=str(UUID(int=1)))
    app.close()

    class Changed(Scratchpad):
        """A code change: opening a ticket now stamps it too."""

        name = "scratchpad"  # the same tables (eventsourcing names them after the class)

        def open_ticket(self, command: ReceivedCommand, processing: Any) -> str:
            due = super().open_ticket(command, processing)
            ticket: Ticket = processing.aggregates[UUID(command.given_id)]
            ticket.stamp()
            processing.collect_events(ticket)
            return due

    report = verify_replay("scratchpad", Changed, env)
    assert [(d.event_type, d.field) for d in report.differences] == [
        ("TicketStamped", "produced by the replay, missing from the store")
    ]


def test_a_dead_letter_is_kept_as_an_input_and_replayed_exactly(env: dict[str, str]) -> None:
    app = Scratchpad(env)
    observed = AT + timedelta(seconds=5)
    position = Tracking("INTAKE", 3)
    assert app.record_dead_letter(position, "intake.x", "boom", b'{"bad"', 5, observed)
    assert not app.record_dead_letter(position, "intake.x", "boom", b'{"bad"', 5, observed)
    assert stored(app) == [("MessageDeadLettered", observed)]
    assert app.position("INTAKE") == 3
    app.close()

    report = verify_replay("scratchpad", Scratchpad, env)
    assert (report.inputs, report.events, report.differences) == (1, 1, [])
