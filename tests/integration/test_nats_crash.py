"""kill -9 of nats-server while complaints flow: consumers and relay reconnect and resume,
and every complaint is routed exactly once."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

from nats.js.api import StreamConfig

from shared.bus import Bus
from shared.settings import Settings
from tests.integration.test_consumer import received
from tests.platform import RunningService, eventually
from tests.servers import NatsServer

COMPLAINTS = 300


async def test_killing_nats_server_under_load_loses_and_duplicates_nothing(
    settings: Settings, service: Any, fresh_nats_server: NatsServer, seed: int
) -> None:
    rng = random.Random(seed)
    bus = await Bus.connect(settings.nats_url, "publisher")
    await bus.js.add_stream(StreamConfig(name="INTAKE", subjects=["intake.>"]))
    for owner in ("compensation", "followup"):  # routing's other upstreams, as their owners
        await bus.ensure_own_streams(owner)
    routing: RunningService = await service("routing")
    events = [received() for _ in range(COMPLAINTS)]

    async def publish_all() -> None:
        for event in events:
            while True:  # as a relay would: retry until acked; the Msg-Id dedups
                try:
                    await bus.js.publish(
                        event.subject,
                        event.to_json(),
                        stream="INTAKE",
                        headers={"Nats-Msg-Id": str(event.event_id)},
                        timeout=1,
                    )
                    break
                except Exception:
                    await asyncio.sleep(0.05)

    async def crash() -> None:
        await asyncio.sleep(rng.uniform(0.05, 0.4))  # a seeded moment mid-flow
        fresh_nats_server.kill()
        await asyncio.sleep(rng.uniform(0.2, 1.0))
        fresh_nats_server.start()

    await asyncio.gather(publish_all(), crash())

    async def all_routed() -> Counter[str] | None:
        try:
            msgs = await bus.read_subject("ROUTING", "routing.*.*.ComplaintClassified")
        except Exception:
            return None
        counts = Counter(m.subject.split(".")[2] for m in msgs)
        return counts if len(counts) >= COMPLAINTS else None

    counts = await eventually(all_routed, timeout=60, what=f"{COMPLAINTS} complaints routed")
    await asyncio.sleep(0.5)
    counts = await all_routed() or counts
    assert set(counts) == {str(e.complaint_id) for e in events}
    assert max(counts.values()) == 1, "none routed twice"
    info = await bus.js.stream_info("ROUTING")
    # classified, assessed, first-contact owner, handler assigned, response mode, and the
    # acknowledge clock (SlaStarted)
    assert info.state.messages == 6 * COMPLAINTS, "the relay published each event once"
    assert routing.runtime.application.position("INTAKE") == COMPLAINTS

    async def ready() -> bool:
        return (await routing.client.get("/readyz")).status_code == 200

    await eventually(ready, timeout=20, what="ready again")
    await bus.close()
