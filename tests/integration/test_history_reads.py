"""History reads by JetStream direct get: no consumer per request, the same events as before.

Issue 17: each history request used to create four ephemeral consumers living 30 s.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nats.js.api import StreamConfig

from shared.bus import Bus
from shared.contracts import STREAMS
from tests.platform import admin_headers, complaint_body, eventually, register_brand


async def consumer_counts(bus: Bus) -> dict[str, int]:
    return {
        stream: int((await bus.js.stream_info(stream)).state.consumer_count or 0)
        for stream in STREAMS.values()
    }


async def test_history_requests_create_no_consumers_and_read_what_a_consumer_reads(
    service: Any,
) -> None:
    intake = await service("intake")
    for name in ("routing", "compensation", "followup"):
        await service(name)
    brand = await register_brand(intake, "haier-demo")
    other = await register_brand(intake, "midea-demo")
    phones = ("13900001111", "13900002222", "13900003333")
    ids = []
    for headers, phone in zip((brand, other, brand), phones, strict=True):
        body = complaint_body(consumer={"name": "王先生", "phone": phone})
        posted = await intake.client.post("/v1/complaints", json=body, headers=headers)
        assert posted.status_code == 201, posted.text
        ids.append(posted.json()["complaint_id"])
    complaint_id = ids[0]
    path = f"/v1/complaints/{complaint_id}/history"

    async def offered() -> Any:
        events = (await intake.client.get(path, headers=brand)).json()["events"]
        return events if {e["service"] for e in events} == set(STREAMS) else None

    events = await eventually(offered, what="events from all four streams")
    bus = await intake.admin_bus()
    durables = {"INTAKE": 4, "ROUTING": 2, "COMPENSATION": 3, "FOLLOWUP": 2}  # the services'

    async def settled() -> Any:
        return await consumer_counts(bus) == durables

    await eventually(settled, what="every service's durable consumers")

    async def stable() -> Any:  # nothing more on its way
        first = (await intake.client.get(path, headers=brand)).json()["events"]
        await asyncio.sleep(0.3)
        second = (await intake.client.get(path, headers=brand)).json()["events"]
        return first if second == first else None

    events = await eventually(stable, what="a settled history")
    before = await consumer_counts(bus)

    for _ in range(10):
        again = await intake.client.get(path, headers=brand)
        ops = await intake.client.get(
            f"/v1/ops/complaints/{complaint_id}/history", headers=admin_headers(intake)
        )
        assert again.status_code == ops.status_code == 200
    after = await consumer_counts(bus)

    assert after == before, "a history read left consumers behind"
    assert again.json()["events"] == ops.json()["events"] == events  # stable, one brand's only
    for service_name, stream in STREAMS.items():
        subject = f"{service_name}.haier-demo.{complaint_id}.*"
        by_consumer = await bus.read_subject(stream, subject)
        by_direct_get = await bus.read_subject_direct(stream, subject, batch=2)
        assert by_direct_get == by_consumer, stream
        assert by_direct_get, f"{stream} holds events of the complaint"


async def test_a_direct_read_pages_through_batches_and_misses_nothing(service: Any) -> None:
    intake = await service("intake")
    brand = await register_brand(intake, "haier-demo")
    for n in range(7):
        body = complaint_body(consumer={"name": "王先生", "phone": f"1390000{n:04d}"})
        posted = await intake.client.post("/v1/complaints", json=body, headers=brand)
        assert posted.status_code == 201, posted.text
    bus = await intake.admin_bus()

    async def published() -> Any:  # seven or more, and nothing more on its way
        found = await bus.read_subject("INTAKE", "intake.haier-demo.*.*")
        await asyncio.sleep(0.3)
        again = await bus.read_subject("INTAKE", "intake.haier-demo.*.*")
        return found if len(found) >= 7 and again == found else None

    everything = await eventually(published, what="seven published events")
    for batch in (1, 3, 7, 256):
        assert await bus.read_subject_direct("INTAKE", "intake.haier-demo.*.*", batch=batch) == (
            everything
        )
    assert await bus.read_subject_direct("INTAKE", "intake.haier-demo.*.*", limit=4) == (
        everything[:4]
    )
    assert await bus.read_subject_direct("INTAKE", "intake.nobody.*.*") == []
    assert await bus.read_subject_direct("NO_SUCH_STREAM", "x.>") == []


async def test_a_stream_that_cannot_be_read_makes_history_503_not_500(service: Any) -> None:
    intake = await service("intake")
    bus = await intake.admin_bus()
    # Not as routing configures it: without direct get (a hand-made or old stream).
    await bus.js.add_stream(StreamConfig(name="ROUTING", subjects=["routing.>"]))
    complaint_id = "1d3e5f70-8192-4a3b-8c5d-6e7f80912a3b"

    response = await intake.client.get(
        f"/v1/ops/complaints/{complaint_id}/history", headers=admin_headers(intake)
    )

    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "ROUTING" in response.json()["detail"]
