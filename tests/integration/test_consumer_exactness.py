"""Exactly once, in order, under a crash: a dead process's in-flight messages are never
overtaken (issue 15, "messages lost after a downstream crash")."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from nats.js.api import StreamConfig

from shared.bus import Bus
from shared.consumer import ConsumerRunner, tracking_name
from shared.service import open_application
from shared.settings import Settings
from tests.integration.test_consumer import received
from tests.platform import SPECS, RunningService, eventually


async def _intake_stream(bus: Bus) -> None:
    """INTAKE as its owner would create it (intake is not running in these tests), and
    routing's other upstreams."""
    if not await _exists(bus, "INTAKE"):
        await bus.js.add_stream(StreamConfig(name="INTAKE", subjects=["intake.>"]))
    for owner in ("compensation", "followup"):
        await bus.ensure_own_streams(owner)


async def _exists(bus: Bus, name: str) -> bool:
    try:
        await bus.js.stream_info(name)
    except Exception:
        return False
    return True


async def _publish(bus: Bus, brand: str = "acme") -> uuid.UUID:
    event = received(brand_id=brand)
    await bus.js.publish(event.subject, event.to_json(), stream="INTAKE")
    return event.complaint_id


async def _routed_order(bus: Bus) -> list[str]:
    """Complaint ids in the order routing classified them (one event per complaint)."""
    msgs = await bus.read_subject("ROUTING", "routing.*.*.ComplaintClassified")
    return [m.subject.split(".")[2] for m in msgs]


async def test_in_flight_messages_of_a_dead_consumer_are_processed_first_and_once(
    settings: Settings, service: Any
) -> None:
    """Old code: the restarted consumer reused the durable, processed 6..8 first and the
    in-flight 4 and 5 came back after ack_wait (60 s) only to be skipped as done."""
    bus = await Bus.connect(settings.nats_url, "test")
    await _intake_stream(bus)
    ids = [await _publish(bus) for _ in range(3)]
    routing: RunningService = await service("routing")

    async def routed(count: int) -> list[str] | None:
        order = await _routed_order(bus)
        return order if len(order) >= count else None

    await eventually(lambda: routed(3), what="3 complaints routed")
    await routing.stop()

    ids += [await _publish(bus) for _ in range(3)]  # sequences 4..6
    # A process that fetched 4 and 5 on the durable and died before acking them.
    dead = await bus.js.pull_subscribe("intake.>", durable="routing-from-intake", stream="INTAKE")
    in_flight = await dead.fetch(2, timeout=5)
    assert [m.metadata.sequence.stream for m in in_flight] == [4, 5]
    ids += [await _publish(bus) for _ in range(2)]  # sequences 7, 8 arrive meanwhile

    again: RunningService = await service("routing")
    order = await eventually(lambda: routed(8), timeout=15, what="all 8 routed")
    await asyncio.sleep(0.3)  # anything processed twice would show up now
    assert await _routed_order(bus) == [str(i) for i in ids], "each once, in stream order"
    assert again.runtime.application.position("INTAKE") == 8
    assert len(order) == 8
    await bus.close()


async def test_a_gap_while_running_repositions_instead_of_skipping(settings: Settings) -> None:
    """A delivery beyond position + 1 (the durable handed an earlier message to someone
    who never acked it) is not processed: the runner repositions, then processes each
    message once, in order."""
    bus = await Bus.connect(settings.nats_url, "test")
    await _intake_stream(bus)
    await bus.ensure_own_streams("routing")
    app = open_application(SPECS["routing"], settings)
    ids = [await _publish(bus) for _ in range(4)]
    runner = ConsumerRunner(app, bus, "INTAKE")
    stop = asyncio.Event()
    sub = await runner._position(stop)
    assert sub is not None
    thief = await bus.js.pull_subscribe_bind(runner.durable, stream="INTAKE")
    stolen = await thief.fetch(1, timeout=5)  # sequence 1, never acked
    assert stolen[0].metadata.sequence.stream == 1

    await asyncio.wait_for(runner._consume(sub, stop), timeout=10)  # returns on the gap
    assert runner.gaps == 1
    assert runner.processed == 0, "sequence 2 was not processed before 1"
    await sub.unsubscribe()

    task = asyncio.create_task(runner.run(stop))
    await eventually(lambda: _true(runner.processed == 4), what="all 4 processed")
    stop.set()
    await task
    page = await asyncio.to_thread(lambda: list(app.contracts_since(1, 500)))
    classified = [e for _, e in page if e is not None and e.type == "ComplaintClassified"]
    assert [e.complaint_id for e in classified] == ids, "each once, in stream order"
    assert app.position("INTAKE") == 4
    app.close()
    await bus.close()


async def _count(bus: Bus, count: int) -> bool:
    return len(await _routed_order(bus)) >= count


async def test_a_partitioned_consumer_is_exact_with_other_partitions_in_between(
    settings: Settings,
) -> None:
    """One tracking position per (upstream, partition): with a filter subject the next
    message is the next one *on that subject*, found with a direct get, not seq + 1."""
    bus = await Bus.connect(settings.nats_url, "test")
    await _intake_stream(bus)
    await bus.ensure_own_streams("routing")
    app = open_application(SPECS["routing"], settings)
    mine: list[uuid.UUID] = []
    for n in range(9):  # acme, other, other, acme, ...: other partitions sit in between
        if n % 3 == 0:
            mine.append(await _publish(bus))
        else:
            await _publish(bus, brand="other")

    def runner() -> ConsumerRunner:
        return ConsumerRunner(
            app, bus, "INTAKE", partition="acme", filter_subject="intake.acme.>"
        )

    # A dead process holds the first acme message in flight.
    stop = asyncio.Event()
    first = runner()
    sub = await first._position(stop)
    assert sub is not None
    await sub.unsubscribe()
    dead = await bus.js.pull_subscribe_bind(first.durable, stream="INTAKE")
    held = await dead.fetch(1, timeout=5)
    assert held[0].subject.startswith("intake.acme.")
    mine.append(await _publish(bus))
    await _publish(bus, brand="other")

    stop = asyncio.Event()
    second = runner()
    task = asyncio.create_task(second.run(stop))
    await eventually(lambda: _true(second.processed == len(mine)), what="acme processed")
    await asyncio.sleep(0.3)
    stop.set()
    await task

    assert second.tracking == tracking_name("INTAKE", "acme") == "INTAKE/acme"
    assert second.gaps == 0, "other partitions' sequences are not gaps"
    assert second.skipped == 0
    assert app.position("INTAKE/acme") == 10
    assert app.position("INTAKE") == 0, "the unpartitioned position is untouched"
    relay_free = await asyncio.to_thread(lambda: list(app.contracts_since(1, 500)))
    classified = [e for _, e in relay_free if e is not None and e.type == "ComplaintClassified"]
    assert [e.complaint_id for e in classified] == mine
    app.close()
    await bus.close()


async def _true(value: bool) -> bool:
    return value


async def test_messages_discarded_before_processing_are_reported_and_the_stream_moves_on(
    settings: Settings, service: Any
) -> None:
    bus = await Bus.connect(settings.nats_url, "test")
    await bus.js.add_stream(StreamConfig(name="INTAKE", subjects=["intake.>"], max_msgs=3))
    await _intake_stream(bus)  # routing's other upstreams
    ids = [await _publish(bus) for _ in range(6)]  # the stream keeps 4..6 only
    routing: RunningService = await service("routing")
    await eventually(lambda: _count(bus, 3), what="the 3 kept routed")
    assert await _routed_order(bus) == [str(i) for i in ids[3:]]

    response = await routing.client.get("/readyz")
    consumer = response.json()["consumers"]["INTAKE"]
    assert consumer["lost"] == 3
    assert (consumer["losses"][0]["first"], consumer["losses"][0]["last"]) == (1, 3)
    assert "discarded messages 1..3" in consumer["losses"][0]["detail"]
    metrics = (await routing.client.get("/metrics")).text
    assert 'aftersales_consumer_lost{upstream="INTAKE"} 3.0' in metrics
    await bus.close()


async def test_a_stream_that_lost_messages_holds_the_consumer_until_it_catches_up(
    settings: Settings, service: Any
) -> None:
    """The recorded position is ahead of the stream (re-created, or a server that lost its
    tail): new messages would reuse recorded sequences and be skipped as done, so the
    consumer holds, loudly, until the stream reaches the position again (the owner's relay
    re-publishes its log in the same order)."""
    bus = await Bus.connect(settings.nats_url, "test")
    await _intake_stream(bus)
    events = [received() for _ in range(3)]
    for e in events:
        await bus.js.publish(e.subject, e.to_json(), stream="INTAKE")
    routing: RunningService = await service("routing")
    await eventually(lambda: _count(bus, 3), what="3 routed")
    await routing.stop()
    await bus.js.delete_stream("INTAKE")
    await _intake_stream(bus)

    again: RunningService = await service("routing")
    response = await again.client.get("/readyz")
    assert response.status_code == 503
    assert any("ends at sequence 0" in r and "holding" in r for r in response.json()["reasons"])
    metrics = (await again.client.get("/metrics")).text
    assert 'aftersales_consumer_holding{upstream="INTAKE"} 1.0' in metrics

    for e in events:  # the owner's relay re-publishes what the stream lost
        await bus.js.publish(e.subject, e.to_json(), stream="INTAKE")
    newer = received()
    await bus.js.publish(newer.subject, newer.to_json(), stream="INTAKE")
    await eventually(lambda: _count(bus, 4), timeout=15, what="the new complaint routed")
    await asyncio.sleep(0.3)
    order = await _routed_order(bus)
    assert order == [str(e.complaint_id) for e in [*events, newer]], "none twice, none lost"

    async def ready() -> bool:
        return (await again.client.get("/readyz")).status_code == 200

    await eventually(ready, what="ready again")
    await bus.close()
