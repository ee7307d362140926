"""Streams are configured from settings, and /readyz fails past the configured bounds of
consumer lag, relay lag and unpublished age, naming each (issue 15, points 2 and 6)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from nats.js.api import DiscardPolicy

from shared.settings import Settings
from tests.integration.test_consumer import (
    ROUTED_EVENTS,
    owners_of,
    publish,
    received,
    routing_events,
    upstream_streams,
)
from tests.platform import RunningService, eventually, start_service


@asynccontextmanager
async def _routing(settings: Settings, **changes: Any) -> AsyncIterator[RunningService]:
    routing = await start_service("routing", settings.model_copy(update=changes))
    try:
        yield routing
    finally:
        await routing.stop()


async def _reasons(service: RunningService) -> list[str]:
    response = await service.client.get("/readyz")
    if response.status_code == 200:
        return []
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    reasons: list[str] = response.json()["reasons"]
    return reasons


async def _not_ready_because(service: RunningService, *words: str) -> list[str]:
    async def check() -> list[str] | None:
        reasons = await _reasons(service)
        found = all(any(w in r for r in reasons) for w in words)
        return reasons if found else None

    return await eventually(check, timeout=20, what=f"readyz 503 saying {words}")


async def _ready(service: RunningService) -> None:
    async def check() -> bool:
        return await _reasons(service) == []

    await eventually(check, timeout=20, what="readyz 200")


async def test_owned_streams_take_their_limits_from_settings(settings: Settings) -> None:
    async with _routing(
        settings,
        stream_max_age_s=3600.0,
        stream_max_bytes=50_000_000,
        stream_max_msgs=200_000,
        stream_duplicate_window_s=600.0,
    ) as routing:
        js = (await routing.admin_bus()).js
        for name in ("ROUTING", "DLQ_ROUTING"):
            config = (await js.stream_info(name)).config
            assert config.max_age == 3600.0
            assert config.max_bytes == 50_000_000
            assert config.max_msgs == 200_000
            assert config.duplicate_window == 600.0
            assert config.num_replicas == 1
        assert (await js.stream_info("DLQ_ROUTING")).config.subjects == ["dlq.routing.>"]
        for other in ("INTAKE", "COMPENSATION", "FOLLOWUP"):
            admin = await routing.admin_bus()
            assert not await admin.stream_exists(other), "not routing's to create"


async def test_consumer_lag_over_the_bound_makes_the_service_not_ready(
    settings: Settings,
) -> None:
    async with _routing(settings, ready_max_consumer_lag=2) as routing:
        await upstream_streams(routing, *owners_of(routing))
        await _ready(routing)
        app = routing.runtime.application
        # The consumer cannot record anything while the application's write lock is held
        # (by the event loop's thread: the consumer records from worker threads).
        app.write_lock.acquire()
        try:
            for _ in range(4):
                await publish(routing, received())
            reasons = await _not_ready_because(routing, "consumer INTAKE lag")
            assert any(r.startswith("consumer INTAKE lag ") and r.endswith("> 2") for r in reasons)
        finally:
            app.write_lock.release()
        await _ready(routing)

        async def caught_up() -> bool:
            return app.position("INTAKE") == 4

        await eventually(caught_up, what="all 4 processed")


async def test_relay_lag_and_unpublished_age_over_their_bounds_make_the_service_not_ready(
    settings: Settings,
) -> None:
    async with _routing(
        settings, ready_max_relay_lag=1, ready_max_unpublished_age_s=0.5
    ) as routing:
        await upstream_streams(routing, *owners_of(routing))
        js = (await routing.admin_bus()).js
        info = await js.stream_info("ROUTING")
        info.config.max_msgs, info.config.discard = 1, DiscardPolicy.NEW
        await js.update_stream(info.config)  # ROUTING takes one message, then refuses

        await publish(routing, received())  # routing records its 5 decisions and the
        # acknowledge clock (SlaStarted): 6 events, of which 1 can be published
        lag = f"relay lag {ROUTED_EVENTS} > 1"
        reasons = await _not_ready_because(routing, lag, "unpublished for")
        first_unpublished = routing.runtime.relay.position + 1
        stuck = f"relay is stuck at notification {first_unpublished} "
        assert any(r.startswith(stuck) and "maximum messages" in r for r in reasons), reasons
        assert len(await routing_events(routing)) == 1

        info.config.max_msgs = -1
        await js.update_stream(info.config)  # the operator lifts the limit
        await _ready(routing)
        assert len(await routing_events(routing)) == ROUTED_EVENTS
