"""No silent death: supervised tasks restart, and /readyz says why the service is not ready
(issue 15, "silent death"): a dead-letter publish that fails, a relay whose resume()
times out while NATS is down, a stored event that fails contract validation."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from eventsourcing.domain import Aggregate, event
from nats.js.api import DiscardPolicy

from shared.bus import dead_letter_stream
from shared.contracts import routing as routing_contracts
from shared.publishing import copied
from shared.publishing import publish as declare_published
from shared.settings import Settings
from shared.store import EventMeta
from tests.integration.test_consumer import (
    ROUTED_EVENTS,
    owners_of,
    publish,
    received,
    routing_events,
    upstream_streams,
)
from tests.platform import RunningService, eventually, register_brand
from tests.servers import NatsServer


class Probe(Aggregate):
    """A stored event that claims a contract type with a payload that breaks its contract."""

    TOPIC = "tests.Probe"

    class Event(Aggregate.Event):
        TOPIC = "tests.Probe.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "tests.Probe.Created"

    @event("Opened", topic="tests.Probe.Opened")
    def __init__(self, meta: EventMeta) -> None:
        self.meta = meta

    @event("SeverityAssessed", topic="tests.Probe.SeverityAssessed")
    def assess(self, meta: EventMeta, nonsense: str) -> None:
        self.meta = meta


async def _readyz(service: RunningService) -> tuple[int, dict[str, Any]]:
    response = await service.client.get("/readyz")
    return response.status_code, response.json()


async def _not_ready_because(service: RunningService, words: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        status, body = await _readyz(service)
        if status == 503 and any(words in reason for reason in body.get("reasons", [])):
            return body
        return None

    return await eventually(check, timeout=20, what=f"readyz 503 saying {words!r}")


async def _ready(service: RunningService) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        status, body = await _readyz(service)
        return body if status == 200 else None

    return await eventually(check, timeout=20, what="readyz 200")


async def test_a_failing_dead_letter_publish_is_retried_and_nothing_is_lost(service: Any) -> None:
    routing: RunningService = await service("routing")
    await upstream_streams(routing, *owners_of(routing))
    js = (await routing.admin_bus()).js
    dlq = dead_letter_stream("routing")
    info = await js.stream_info(dlq)
    info.config.max_msgs, info.config.discard = 1, DiscardPolicy.NEW
    await js.update_stream(info.config)
    await js.publish("dlq.routing.filler", b"fills the stream", stream=dlq)

    await js.publish("intake.acme.x.ComplaintReceived", b"{poison", stream="INTAKE")
    await publish(routing, received())  # processed, recorded after the dead letter
    body = await _not_ready_because(routing, "relay is stuck at notification 1")
    assert "maximum messages" in body["checks"]["relay"]["stuck"]["error"]
    assert routing.runtime.application.position("INTAKE") == 2, "the consumer moved on"
    assert await routing_events(routing) == [], "nothing after the stuck notification"

    info.config.max_msgs = -1
    await js.update_stream(info.config)  # the operator lifts the limit
    await _ready(routing)
    letters = await (await routing.admin_bus()).read_subject(dlq, "dlq.routing.INTAKE")
    assert [m.data for m in letters] == [b"{poison"]
    assert len(await routing_events(routing)) == ROUTED_EVENTS


async def test_a_stored_event_that_breaks_its_contract_stops_the_relay_there(
    service: Any,
) -> None:
    routing: RunningService = await service("routing")
    await upstream_streams(routing, *owners_of(routing))
    app = routing.runtime.application
    # Declared published as routing's SeverityAssessed, so the relay must validate it.
    probe_publication = declare_published(
        Probe, "SeverityAssessed", routing_contracts.SeverityAssessed, copied("nonsense")
    )
    app.publications = {  # type: ignore[misc]
        **app.publications,
        probe_publication.stored_topic: probe_publication,
    }
    probe = Probe(EventMeta("acme", uuid.uuid4().hex))
    probe.assess(EventMeta("acme", uuid.uuid4().hex), "not a severity")
    app.save(probe)
    stuck_at = app.recorder.max_notification_id()
    await publish(routing, received())
    await eventually(lambda: _true(app.position("INTAKE") == 1), what="complaint processed")

    body = await _not_ready_because(routing, f"relay is stuck at notification {stuck_at}")
    assert "ValidationError" in body["checks"]["relay"]["stuck"]["error"]
    attempts = body["checks"]["relay"]["stuck"]["attempts"]
    await asyncio.sleep(1.5)
    again = (await _readyz(routing))[1]["checks"]["relay"]
    assert again["stuck"]["attempts"] > attempts, "it keeps retrying"
    assert routing.runtime.relay.position == stuck_at - 1, "it never skips"
    assert await routing_events(routing) == []


async def test_a_relay_whose_resume_times_out_is_restarted_until_nats_is_back(
    settings: Settings, fresh_nats_server: NatsServer
) -> None:
    from tests.platform import start_service

    quick = settings.model_copy(update={"nats_request_timeout_s": 1.0})
    intake = await start_service("intake", quick)
    try:
        await upstream_streams(intake, "routing", "compensation", "followup")
        brand = await register_brand(intake, "acme")
        await _ready(intake)

        fresh_nats_server.kill()
        from tests.platform import complaint_body

        posted = await intake.client.post("/v1/complaints", headers=brand, json=complaint_body())
        assert posted.status_code in (200, 201, 202), posted.text
        body = await _not_ready_because(intake, "task relay is down")
        assert body["checks"]["nats"] is False
        supervisor = intake.runtime.supervisor
        assert supervisor is not None
        assert supervisor.states["relay"].restarts >= 1

        fresh_nats_server.start()
        await _ready(intake)
        complaint_id = posted.json()["complaint_id"]
        msgs = await (await intake.admin_bus()).read_subject("INTAKE", f"intake.*.{complaint_id}.*")
        types = [json.loads(m.data)["type"] for m in msgs]
        assert types.count("ComplaintReceived") == 1
        metrics = (await intake.client.get("/metrics")).text
        assert 'aftersales_task_restarts_total{task="relay"}' in metrics
    finally:
        await intake.stop()


async def _true(value: bool) -> bool:
    return value


async def test_a_failing_task_is_restarted_with_capped_backoff_and_counted() -> None:
    """Each failure is logged, counted and restarts the task after a delay that doubles up
    to the cap; a task that returns before the service stops is restarted too."""
    import itertools
    import time

    from shared.supervisor import Supervisor

    stop = asyncio.Event()
    supervisor = Supervisor(stop, base_delay=0.05, max_delay=0.1)
    starts: list[float] = []

    async def flaky() -> None:
        starts.append(time.monotonic())
        if len(starts) <= 7:
            raise RuntimeError(f"failure {len(starts)}")
        await stop.wait()

    returns = 0

    async def quitter() -> None:
        nonlocal returns
        returns += 1
        if returns < 3:
            return
        await stop.wait()

    supervisor.spawn("flaky", flaky)
    supervisor.spawn("quitter", quitter)
    await eventually(lambda: _true(len(starts) == 8 and returns == 3), what="8 starts")
    flaky_state, quitter_state = supervisor.states["flaky"], supervisor.states["quitter"]
    assert (flaky_state.state, flaky_state.restarts) == ("running", 7)
    assert flaky_state.last_error == "RuntimeError: failure 7"
    assert (quitter_state.restarts, quitter_state.last_error) == (
        2,
        "returned before the service stopped",
    )
    delays = [b - a for a, b in itertools.pairwise(starts)]
    assert delays[0] >= 0.045, delays  # 0.05 s, then doubled ...
    assert min(delays[1:]) >= 0.09, delays
    assert sum(delays[2:]) < 2.5, f"... capped at 0.1 s (uncapped: 6.2 s in all): {delays}"
    assert supervisor.down() == []

    stop.set()
    await asyncio.wait_for(asyncio.gather(*supervisor.tasks), timeout=2)
    assert {s.state for s in supervisor.states.values()} == {"stopped"}
