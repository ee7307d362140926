"""Group commit: concurrent commands share one transaction, each in its own savepoint, and a
consumer processes a run of messages in one transaction; on SQLite and PostgreSQL.

A gate command holds the write lock until the other threads have queued their commands,
so the batch they form is known: one commit for all of them.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

import shared.groupcommit
from shared.bus import Bus
from shared.consumer import ConsumerRunner
from shared.contracts import ContractEvent
from shared.dead_letters import PROCESSING_FAILED
from shared.inputs import InputAlreadyRecorded, InputClocked, ReceivedCommand
from shared.settings import Settings, persistence_env, prepare_store
from shared.store import DeadLetter, ServiceApplication, derive_id
from tests.integration.test_consumer import received
from tests.integration.test_consumer_exactness import _intake_stream
from tests.platform import eventually

AT = datetime(2026, 9, 30, 1, 0, tzinfo=UTC)
COUNTER = derive_id("counter")


class Counter(Aggregate):
    TOPIC = "batchpad.Counter"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "batchpad.Counter.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "batchpad.Counter.Created"

    @event("CounterOpened", topic="batchpad.Counter.CounterOpened")
    def __init__(self, id: UUID, name: str) -> None:
        self.name = name
        self.value = 0

    @event("CounterBumped", topic="batchpad.Counter.CounterBumped")
    def bump(self, by: int) -> None:
        self.value += by


class Batchpad(ServiceApplication):
    service = "batchpad"
    name = "batchpad"

    def register_handlers(self) -> None:
        self.entered = threading.Event()
        self.handled: list[str] = []
        self.command("open", self._open)
        self.command("bump", self._bump)
        self.command("gate", self._gate)
        self.command("fail", self._fail)
        self.on("ComplaintReceived", self._received)

    def _open(self, command: ReceivedCommand, processing: ProcessingEvent[UUID]) -> int:
        assert command.given_id is not None
        counter_id = UUID(command.args.get("id", command.given_id))
        processing.collect_events(Counter(id=counter_id, name=command.args["name"]))
        return 0

    def _bump(self, command: ReceivedCommand, processing: ProcessingEvent[UUID]) -> int:
        counter: Counter = self.repository.get(UUID(command.args["id"]))
        counter.bump(command.args.get("by", 1))
        processing.collect_events(counter)
        return counter.value

    def _gate(self, command: ReceivedCommand, processing: ProcessingEvent[UUID]) -> None:
        """Hold the write lock until `queued` other commands wait for it."""
        self.entered.set()
        deadline = time.monotonic() + 20
        while len(self._queue) < command.args["queued"] and time.monotonic() < deadline:
            time.sleep(0.002)

    def _fail(self, command: ReceivedCommand, processing: ProcessingEvent[UUID]) -> None:
        counter: Counter = self.repository.get(COUNTER)
        counter.bump(1000)
        processing.collect_events(counter)
        raise ValueError("refused by the domain")

    def _received(self, contract: ContractEvent, processing: ProcessingEvent[UUID]) -> None:
        self.handled.append(contract.payload["description"])
        if contract.payload["description"] == "poison":
            raise RuntimeError("this message always fails")
        processing.collect_events(Counter(id=contract.complaint_id, name="from upstream"))


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    batchpad = persistence_env("batchpad", settings)
    prepare_store(batchpad)
    return batchpad


@pytest.fixture(autouse=True)
def no_time_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A loaded machine must not split the batch these tests expect."""
    monkeypatch.setattr(shared.groupcommit, "BATCH_BUDGET_S", 30.0)


def _commits(app: ServiceApplication) -> int:
    commits: int = app.recorder.datastore.commits
    return commits


def _gated(app: Batchpad, calls: list[Callable[[], Any]]) -> list[Future[Any]]:
    """Run `calls` concurrently while a gate command holds the lock: one batch after it."""
    app.entered.clear()
    with ThreadPoolExecutor(len(calls) + 1) as pool:
        gate = pool.submit(app.execute, "gate", {"queued": len(calls)}, AT)
        assert app.entered.wait(10)
        futures = [pool.submit(call) for call in calls]
        gate.result(timeout=30)
        for future in futures:
            future.exception(timeout=30)
    return futures


def _open(app: Batchpad, counter: UUID = COUNTER) -> None:
    app.execute("open", {"name": "shared"}, AT, str(counter))


def test_concurrent_commands_share_one_commit(env: dict[str, str]) -> None:
    app = Batchpad(env)
    _open(app)
    others = [uuid.UUID(int=100 + n) for n in range(20)]
    commits, batched = _commits(app), app.batched
    calls: list[Callable[[], Any]] = [
        lambda: app.execute("bump", {"id": str(COUNTER)}, AT) for _ in range(20)
    ]
    calls += [
        lambda other=other: app.execute("open", {"name": "own"}, AT, str(other))
        for other in others
    ]
    futures = _gated(app, calls)

    results = [f.result() for f in futures]
    assert sorted(results[:20]) == list(range(1, 21)), "each bump saw the ones before it"
    assert app.repository.get(COUNTER).value == 20
    assert all(app.repository.get(other).name == "own" for other in others)
    assert _commits(app) - commits == 2, "the gate, then all 40 in one transaction"
    assert app.batched - batched == 41
    ids = [n.id for n in app.recorder.select_notifications(1, 1000)]
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids))
    app.close()


def test_a_failing_command_in_a_batch_fails_alone_and_leaves_no_trace(
    env: dict[str, str], store: str
) -> None:
    app = Batchpad(env)
    _open(app)
    taken = uuid.UUID(int=7)
    _open(app, taken)
    listened: list[int] = []
    app.add_listener(lambda: listened.append(app.recorder.max_notification_id()))
    before = app.recorder.max_notification_id()
    calls: list[Callable[[], Any]] = [
        lambda: app.execute("bump", {"id": str(COUNTER)}, AT),
        lambda: app.execute("fail", {}, AT, "failing"),  # raised by the handler
        lambda: app.execute("open", {"name": "again", "id": str(taken)}, AT, "x"),  # on insert
        lambda: app.execute("bump", {"id": str(COUNTER)}, AT),
    ]
    futures = _gated(app, calls)

    assert sorted(f.result() for f in (futures[0], futures[3])) == [1, 2]
    assert isinstance(futures[1].exception(), ValueError)
    assert isinstance(futures[2].exception(), IntegrityError)
    for name, given_id in (("fail", "failing"), ("open", "x")):
        assert app.get_or_none(derive_id("batchpad", "command", name, given_id)) is None
    assert app.repository.get(COUNTER).value == 2, "the failing bump of 1000 is gone"
    assert app.repository.get(taken).version == 1
    notifications = app.recorder.select_notifications(before + 1, 100)
    topics = [n.topic.rsplit(".", 1)[-1] for n in notifications]
    assert topics.count("CounterBumped") == 2
    assert "CounterOpened" not in topics
    if store == "sqlite":  # PostgreSQL sequences do not roll back: ids may skip there
        ids = [n.id for n in app.recorder.select_notifications(1, 1000)]
        assert ids == list(range(1, len(ids) + 1)), "rolled back inserts leave no gap"
    assert listened
    assert all(n is not None and n > before for n in listened)
    app.close()


def test_a_duplicate_given_id_in_the_same_batch_is_recorded_once(env: dict[str, str]) -> None:
    app = Batchpad(env)
    twin = uuid.UUID(int=9)
    calls: list[Callable[[], Any]] = [
        lambda: app.execute("open", {"name": "first"}, AT, str(twin)) for _ in range(2)
    ]
    commits = _commits(app)
    futures = _gated(app, calls)

    errors = [f.exception() for f in futures]
    assert sorted(type(e).__name__ for e in errors) == ["InputAlreadyRecorded", "NoneType"]
    assert any(isinstance(e, InputAlreadyRecorded) for e in errors)
    assert _commits(app) - commits == 2
    assert app.repository.get(twin).version == 1
    app.close()


def test_the_cache_never_serves_what_was_rolled_back(env: dict[str, str]) -> None:
    app = Batchpad({**env, "AGGREGATE_CACHE_MAXSIZE": "100"})
    assert app.repository.cache is not None
    _open(app)
    app.execute("bump", {"id": str(COUNTER), "by": 1}, AT)
    assert app.repository.get(COUNTER).value == 1  # cached now

    def bump_then_fail(by: int, seen: int) -> None:
        app.execute("bump", {"id": str(COUNTER), "by": by}, AT)
        assert app.repository.get(COUNTER).value == seen  # uncommitted, cached
        raise RuntimeError("after the save")

    def in_step(work: Any) -> None:
        with app.step(work):
            bump_then_fail(10, 11)

    def in_unit_of_work() -> None:
        with app.unit_of_work():
            bump_then_fail(100, 103)

    with app.unit_of_work() as work:  # a step rolled back, the rest committed
        with pytest.raises(RuntimeError, match="after the save"):
            in_step(work)
        assert app.repository.get(COUNTER).value == 1
        app.execute("bump", {"id": str(COUNTER), "by": 2}, AT)
    assert app.repository.get(COUNTER).value == 3

    with pytest.raises(RuntimeError, match="after the save"):  # the whole transaction
        in_unit_of_work()
    assert app.repository.get(COUNTER).value == 3
    fresh = Batchpad(env)
    assert fresh.repository.get(COUNTER).value == 3
    fresh.close()
    app.close()


async def test_a_poison_message_in_a_run_fails_alone_and_the_run_commits(
    settings: Settings, env: dict[str, str]
) -> None:
    bus = await Bus.connect(settings.nats_url, "test")
    await _intake_stream(bus)
    app = Batchpad(env)
    events = [received(description=f"message {n}") for n in range(1, 7)]
    events[3] = received(description="poison")  # sequence 4: in the run after the first
    for contract in events:
        await bus.js.publish(contract.subject, contract.to_json(), stream="INTAKE")
    runner = ConsumerRunner(app, bus, "INTAKE", max_deliveries=3)
    batches, batched = app.batches, app.batched
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))

    async def done() -> bool | None:
        return True if app.position("INTAKE") == 6 else None

    await eventually(done, what="all 6 recorded")
    stop.set()
    await task
    assert runner.processed == 5
    assert runner.dead_lettered == 1
    assert runner.gaps == 0
    letter: DeadLetter = app.repository.get(derive_id("dead-letter", "INTAKE", 4))
    assert letter.error == f"RuntimeError: {PROCESSING_FAILED}"  # the message: in the log only
    assert letter.deliveries == 3
    assert app.handled.count("poison") == 1 + 3, "once in the run, then alone 3 times"
    for contract in events[:3] + events[4:]:
        assert app.repository.get(contract.complaint_id).name == "from upstream"
    order = [
        str(n.originator_id)
        for n in app.recorder.select_notifications(1, 100)
        if n.topic.endswith(("CounterOpened", "MessageDeadLettered"))
    ]
    expected = [str(c.complaint_id) for c in events]
    expected[3] = str(letter.id)
    assert order == expected, "in stream order, the dead letter in its place"
    assert app.batched - batched == 5, "every good message in a run (a savepoint each)"
    assert app.batches - batches < 5, "runs were committed together"
    app.close()
    await bus.close()
