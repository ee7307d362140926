"""One brand cannot stall every brand's webhooks (issue 17 item 3).

Brand A's receiver trickles its answer, one header byte every half second, for ever (a
per-read timeout never fires). Each attempt must end at the overall deadline and be
retried per the backoff policy, A may hold at most its per-brand share of the delivery
slots, and brand B's deliveries must arrive well within one such deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from services.intake.webhooks.worker import PARALLEL_DELIVERIES
from shared.settings import Settings
from tests.integration.test_webhooks import LOCAL_RECEIVERS
from tests.platform import RunningService, complaint_body, eventually, register_brand, serving

DEADLINE_S = 2.5
PER_BRAND = 2
SLOW_COMPLAINTS = PARALLEL_DELIVERIES + 2  # more than every slot of the platform
QUICK_COMPLAINTS = 3
PROMPT_S = DEADLINE_S / 2  # B's bound: half an attempt of A's, so B never waited for one
TRICKLE_EVERY_S = 0.5


@dataclass
class Trickler:
    """Answers every request one header byte at a time, never finishing the head."""

    open_now: int = 0
    most_open: int = 0
    held_s: list[float] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        started = time.monotonic()
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        answer = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
            length = head.split("content-length:", 1)[1].split("\r\n", 1)[0]
            await reader.readexactly(int(length))
            for sent in range(int(60 / TRICKLE_EVERY_S)):  # at most a minute
                writer.write(answer[sent : sent + 1])
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    if not await asyncio.wait_for(reader.read(1), TRICKLE_EVERY_S):
                        break  # the client hung up
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open_now -= 1
            self.held_s.append(time.monotonic() - started)
            writer.close()


@dataclass
class Stopwatch:
    """Answers 204 at once and notes when each event arrived."""

    arrived: dict[str, float] = field(default_factory=dict)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.arrived.setdefault(json.loads(body)["complaint_id"], time.monotonic())
        writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "webhook_base_delay_s": 0.05,
            "webhook_attempt_timeout_s": DEADLINE_S,
            "webhook_brand_parallel_deliveries": PER_BRAND,
            **LOCAL_RECEIVERS,
        }
    )


@pytest.fixture
async def trickler() -> AsyncIterator[Trickler]:
    trickler = Trickler()
    async with serving(trickler.handle) as trickler.port:
        yield trickler


@pytest.fixture
async def stopwatch() -> AsyncIterator[Stopwatch]:
    stopwatch = Stopwatch()
    async with serving(stopwatch.handle) as stopwatch.port:
        yield stopwatch


async def _subscribe(intake: RunningService, brand: dict[str, str], port: int) -> None:
    created = await intake.client.post(
        "/v1/webhooks",
        headers=brand,
        json={"url": f"http://127.0.0.1:{port}/hook", "event_types": ["ComplaintReceived"]},
    )
    assert created.status_code == 201, created.text


async def _complain(intake: RunningService, brand: dict[str, str], n: int) -> tuple[str, float]:
    """Post a complaint; its id and when it was accepted."""
    body = complaint_body(consumer={"name": "周女士", "phone": f"137{n:08d}"})
    posted = await intake.client.post("/v1/complaints", json=body, headers=brand)
    assert posted.status_code == 201, posted.text
    return posted.json()["complaint_id"], time.monotonic()


async def test_a_trickling_receiver_delays_only_its_own_brand(
    service: Any, trickler: Trickler, stopwatch: Stopwatch
) -> None:
    intake = await service("intake")
    slow = await register_brand(intake, "slow-brand")
    quick = await register_brand(intake, "quick-brand")
    await _subscribe(intake, slow, trickler.port)
    await _subscribe(intake, quick, stopwatch.port)
    for n in range(SLOW_COMPLAINTS):
        await _complain(intake, slow, n)

    async def slow_slots_taken() -> bool:
        return trickler.open_now >= PER_BRAND

    await eventually(slow_slots_taken, what="the slow brand's attempts under way")
    sent = [await _complain(intake, quick, 100 + n) for n in range(QUICK_COMPLAINTS)]

    async def all_arrived() -> bool:
        return all(complaint_id in stopwatch.arrived for complaint_id, _ in sent)

    await eventually(all_arrived, timeout=DEADLINE_S * 3, what="the quick brand's deliveries")
    latencies = [stopwatch.arrived[complaint_id] - at for complaint_id, at in sent]
    assert max(latencies) < PROMPT_S, f"quick brand waited {latencies} s"

    async def retried() -> Any:
        response = await intake.client.get(
            "/v1/webhooks/deliveries", headers=slow, params={"limit": 100}
        )
        items = response.json()["items"]
        return [d for d in items if d["attempts"] >= 2] or None

    again = await eventually(retried, timeout=DEADLINE_S * 4, what="a slow delivery retried")
    for delivery in again:
        assert delivery["status"] == "pending"
        assert delivery["next_attempt_at"] is not None
        assert [a["error"] for a in delivery["history"]][:2] == ["timeout", "timeout"]
        assert {a["status_code"] for a in delivery["history"]} == {None}
    ended = [held for held in trickler.held_s if held < 30]
    assert ended, "attempts ended"
    assert all(DEADLINE_S - 0.3 < held < DEADLINE_S + 1.5 for held in ended), ended
    assert trickler.most_open == PER_BRAND, "the slow brand held no more than its share"
