"""Two intake processes on one PostgreSQL (issue 15 point 5): one list, each webhook once.

Both runtimes serve the brand API and run the webhook worker; the complaint list and the
delivery log are tables in the shared store, and due deliveries are leased in the
database. Only the first runtime consumes (spreading one upstream over replicas is the
partitioned consumers' work, point 1); the second is an API + worker replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from services.intake.main import SPEC as INTAKE
from services.intake.webhooks.delivery_log import DeliveryLog
from services.intake.webhooks.worker import PARALLEL_DELIVERIES
from shared.service import create_app
from shared.settings import Settings
from tests.integration.test_webhooks import LOCAL_RECEIVERS
from tests.platform import RunningService, complaint_body, eventually, register_brand, serving

pytestmark = pytest.mark.postgres
COMPLAINTS = 40


@dataclasses.dataclass
class CountingReceiver:
    """A real HTTP endpoint on 127.0.0.1 that counts calls per delivery id.

    It holds each request until more are in hand at once than one worker may send
    (PARALLEL_DELIVERIES), or a few seconds pass: so the deliveries cannot all go through
    one worker, and both compete for the same due rows.
    """

    calls: Counter[str] = dataclasses.field(default_factory=Counter)
    port: int = 0
    in_hand: int = 0
    crowd: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        await reader.readexactly(int(headers.get("content-length", "0")))
        self.in_hand += 1
        if self.in_hand > PARALLEL_DELIVERIES:
            self.crowd.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.crowd.wait(), timeout=5.0)
        self.in_hand -= 1
        self.calls[headers.get("x-aftersales-delivery-id", "")] += 1
        writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


@pytest.fixture
def pg_settings(
    tmp_path: Path, nats_url: str, postgres_server: Any, postgres_dbname: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:  # fmt: skip
    for key, value in postgres_server.eventsourcing_env(postgres_dbname).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("POSTGRES_SCHEMA", raising=False)
    return Settings(
        environment="test",
        nats_url=nats_url,
        data_dir=tmp_path / "data",
        trace_file=tmp_path / "traces.jsonl",
        webhook_base_delay_s=0.05,
        webhook_brand_parallel_deliveries=PARALLEL_DELIVERIES,  # one brand fills the slots
        **LOCAL_RECEIVERS,
    )


@pytest.fixture
async def receiver() -> AsyncIterator[CountingReceiver]:
    receiver = CountingReceiver()
    async with serving(receiver.handle) as receiver.port:
        yield receiver


@pytest.fixture
async def claims(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, UUID]]:
    """Every (owner, delivery) the workers' real claims hand out."""
    seen: list[tuple[str, UUID]] = []
    claim: Callable[..., list[tuple[UUID, str]]] = DeliveryLog.claim_due

    def spy(log: DeliveryLog, owner: str, now: datetime, *args: Any) -> list[tuple[UUID, str]]:
        taken = claim(log, owner, now, *args)
        seen.extend((owner, delivery_id) for delivery_id, _ in taken)
        return taken

    monkeypatch.setattr(DeliveryLog, "claim_due", spy)
    return seen


async def _start(name: str, settings: Settings, consumes: bool) -> RunningService:
    spec = INTAKE if consumes else dataclasses.replace(INTAKE, upstreams=())
    app = create_app(spec, settings)
    stack = AsyncExitStack()
    await stack.enter_async_context(app.router.lifespan_context(app))
    client = await stack.enter_async_context(
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")
    )
    return RunningService(name, app, client, stack)


async def _listing(intake: RunningService, headers: dict[str, str]) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        response = await intake.client.get("/v1/complaints", headers=headers, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [item["complaint_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


async def test_two_intake_processes_list_the_same_complaints_and_deliver_each_webhook_once(
    pg_settings: Settings, receiver: CountingReceiver, claims: list[tuple[str, UUID]], seed: int
) -> None:
    one = await _start("intake-one", pg_settings, consumes=True)
    two = await _start("intake-two", pg_settings, consumes=False)
    try:
        brand = await register_brand(one, "replica-brand")
        created = await two.client.post(
            "/v1/webhooks",
            headers=brand,
            json={
                "url": f"http://127.0.0.1:{receiver.port}/hook",
                "event_types": ["ComplaintReceived"],
            },
        )
        assert created.status_code == 201, created.text
        rng = random.Random(seed)
        posted: list[str] = []
        for n in range(COMPLAINTS):
            target = rng.choice([one, two])
            body = complaint_body(consumer={"name": "张女士", "phone": f"139{n:08d}"})
            response = await target.client.post("/v1/complaints", json=body, headers=brand)
            assert response.status_code == 201, response.text
            posted.append(response.json()["complaint_id"])

        listed_one = await _listing(one, brand)
        listed_two = await _listing(two, brand)
        assert listed_one == listed_two
        assert sorted(listed_one) == sorted(posted)

        await eventually(
            lambda: _true(sum(receiver.calls.values()) >= COMPLAINTS),
            timeout=60,
            what=f"{COMPLAINTS} webhooks delivered",
        )
        await asyncio.sleep(1.5)  # a second delivery of anything would show up by now
        assert len(receiver.calls) == COMPLAINTS
        assert set(receiver.calls.values()) == {1}, receiver.calls
        owners = {owner.rsplit(":", 1)[0] for owner, _ in claims}
        workers = {owner for owner, _ in claims}
        assert len(workers) == 2, f"both workers should have delivered: {owners}"
        assert len({delivery for _, delivery in claims}) == len(claims) == COMPLAINTS

        async def delivered(intake: RunningService) -> Any:
            params = {"status": "delivered", "limit": 500}
            response = await intake.client.get(
                "/v1/webhooks/deliveries", headers=brand, params=params
            )
            return response.json()["items"] if response.status_code == 200 else None

        for intake in (one, two):
            items = await delivered(intake)
            assert len(items) == COMPLAINTS
            assert {len(item["history"]) for item in items} == {1}
    finally:
        await two.stop()
        await one.stop()


async def _true(value: bool) -> bool:
    return value
