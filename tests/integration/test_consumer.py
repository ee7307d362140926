"""Consumers: processed once, in order, resumed from the store's position, poison set aside."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from shared.bus import dead_letter_stream
from shared.contracts import ContractEvent, make_contract
from shared.store import DeadLetter, derive_id
from tests.platform import SPECS, RunningService, admin_headers, eventually


def received(
    complaint_id: uuid.UUID | None = None, brand_id: str = "acme", **payload: Any
) -> ContractEvent:
    body = {
        "channel": "phone",
        "subject_ref": "subject-1",
        "product": {"category": "电视 television"},
        "order": {"price_fen": 329900, "sale_channel": "in_store"},
        "description": "电视黑屏，质量故障",
        "demands": [{"kind": "exchange"}],
        "media_reach": "none",
        **payload,
    }
    complaint_id = complaint_id or uuid.uuid4()
    return make_contract(
        event_id=derive_id("test", complaint_id),
        event_type="ComplaintReceived",
        complaint_id=complaint_id,
        brand_id=brand_id,
        occurred_at=datetime.now(UTC),
        trace_id=uuid.uuid4().hex,
        causation_id=None,
        payload=body,
    )


async def publish(service: RunningService, event: ContractEvent) -> None:
    """Publish as intake would; the service's upstreams are created as their owners would."""
    await upstream_streams(service, *owners_of(service))
    await (await service.admin_bus()).js.publish(event.subject, event.to_json(), stream="INTAKE")


def owners_of(service: RunningService) -> tuple[str, ...]:
    """The services whose streams `service` consumes (routing: intake, compensation, followup)."""
    return tuple(stream.lower() for stream in SPECS[service.name].upstreams)


async def upstream_streams(service: RunningService, *owners: str) -> None:
    """Create the streams of services not running in this test, as their owners would."""
    for owner in owners:
        await (await service.admin_bus()).ensure_own_streams(owner)


# Routing's decisions per routed complaint: classified, assessed, first-contact owner, named
# handler, response mode (its SLA clocks publish more: test_sla.py).
DECISIONS = (
    "ComplaintClassified",
    "SeverityAssessed",
    "FirstContactOwned",
    "HandlerAssigned",
    "ResponseModeChosen",
)
ROUTED_EVENTS = len(DECISIONS)


async def routing_events(service: RunningService) -> list[str]:
    """The subjects of routing's decisions on ROUTING."""
    bus = await service.admin_bus()
    found = await bus.read_subject("ROUTING", "routing.>")
    return [m.subject for m in found if m.subject.rsplit(".", 1)[-1] in DECISIONS]


async def routed(service: RunningService, count: int) -> list[str]:
    async def check() -> list[str] | None:
        subjects = await routing_events(service)
        return subjects if len(subjects) >= count * ROUTED_EVENTS else None

    return await eventually(check, what=f"{count} complaints routed")


async def test_a_redelivered_message_creates_no_duplicate_event(service: Any) -> None:
    routing = await service("routing")
    await publish(routing, received())
    await routed(routing, 1)
    await routing.stop()

    # The durable consumer loses its acks (as after a NATS restore): everything is redelivered.
    bus = await _fresh_bus(routing)
    await bus.js.delete_consumer("INTAKE", "routing-from-intake")
    await bus.js.add_consumer(
        "INTAKE",
        ConsumerConfig(
            durable_name="routing-from-intake",
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
        ),
    )
    await bus.close()

    again = await service("routing")
    consumer = again.runtime.consumers[0]
    # The store's position is the truth: the durable is re-created right after it.
    info = await (await again.admin_bus()).js.consumer_info("INTAKE", "routing-from-intake")
    assert info.config.opt_start_seq == 2
    await publish(again, received())
    await routed(again, 2)
    await asyncio.sleep(0.3)
    routed_twice = len(await routing_events(again))
    assert routed_twice == 2 * ROUTED_EVENTS, "the first complaint was not routed again"
    assert consumer.processed == 1


async def test_a_restarted_consumer_resumes_from_its_recorded_position(service: Any) -> None:
    routing = await service("routing")
    for _ in range(3):
        await publish(routing, received())
    await routed(routing, 3)
    await routing.stop()

    bus = await _fresh_bus(routing)
    for _ in range(3):  # published while routing is down
        await bus.js.publish(*_message(received()), stream="INTAKE")
    await bus.close()

    again = await service("routing")
    subjects = await routed(again, 6)
    assert len(subjects) == 6 * ROUTED_EVENTS, "nothing skipped, nothing twice"
    assert again.runtime.application.position("INTAKE") == 6


async def test_poison_messages_go_to_the_dead_letter_subject_and_the_stream_moves_on(
    service: Any,
) -> None:
    routing = await service("routing")
    await upstream_streams(routing, *owners_of(routing))
    js = (await routing.admin_bus()).js
    await js.publish("intake.acme.x.ComplaintReceived", b"{not json", stream="INTAKE")
    newer = json.loads(received().to_json())
    newer["schema_version"] = "3.0"  # ComplaintReceived is at 2.x
    await js.publish(
        f"intake.acme.{newer['complaint_id']}.ComplaintReceived",
        json.dumps(newer).encode(),
        stream="INTAKE",
    )
    await publish(routing, received())
    await routed(routing, 1)

    async def dead_letters() -> list[Any] | None:
        bus = await routing.admin_bus()
        found = await bus.read_subject(dead_letter_stream("routing"), "dlq.>")
        return found if len(found) >= 2 else None

    dead = await eventually(dead_letters, what="2 dead letters published by the relay")
    assert [m.subject for m in dead] == ["dlq.routing.INTAKE"] * 2
    assert "not a contract event" in dead[0].headers["Aftersales-Error"]
    assert dead[0].data == b"{not json"
    assert "newer than this build supports" in dead[1].headers["Aftersales-Error"]
    app = routing.runtime.application
    letter = app.repository.get(derive_id("dead-letter", "INTAKE", 2))
    assert isinstance(letter, DeadLetter)
    assert letter.sequence == 2
    assert app.position("INTAKE") == 3
    listed = await routing.client.get("/v1/ops/dead-letters", headers=admin_headers(routing))
    assert listed.status_code == 200, listed.text
    assert [d["sequence"] for d in listed.json()["items"]] == [1, 2]
    assert (await routing.client.get("/v1/ops/dead-letters")).status_code == 401


async def test_events_of_one_complaint_are_processed_in_order(service: Any) -> None:
    compensation = await service("compensation")
    complaint_id = uuid.uuid4()
    first = received(complaint_id)
    assigned = make_contract(
        event_id=derive_id("assigned", complaint_id),
        event_type="HandlerAssigned",
        complaint_id=complaint_id,
        brand_id="acme",
        occurred_at=datetime.now(UTC),
        trace_id=first.trace_id,
        causation_id=str(first.event_id),
        payload={"team": "frontline", "handler_id": "handler-li", "authority_fen": 500_000},
    )
    await upstream_streams(compensation, "intake", "routing")
    js = (await compensation.admin_bus()).js
    await js.publish(first.subject, first.to_json(), stream="INTAKE")
    await js.publish(assigned.subject, assigned.to_json(), stream="ROUTING")

    async def offered() -> list[str] | None:
        msgs = await (await compensation.admin_bus()).read_subject("COMPENSATION", "compensation.>")
        types = [m.subject.rsplit(".", 1)[1] for m in msgs]
        return types if len(types) >= 2 else None

    assert await eventually(offered) == ["ApologyIssued", "RemedyOptionsOffered"]


def _message(event: ContractEvent) -> tuple[str, bytes]:
    return event.subject, event.to_json()


def _async(predicate: Any) -> Any:
    async def check() -> bool:
        return bool(predicate())

    return check


async def _fresh_bus(service: RunningService) -> Any:
    from shared.bus import Bus

    return await Bus.connect(service.runtime.settings.nats_url, "test")
