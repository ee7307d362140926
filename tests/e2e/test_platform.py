"""The whole platform as processes: nats-server and four uvicorn services over real HTTP."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import httpx
import nats
import pytest
from nats.js.api import DiscardPolicy

from shared.cli import Platform
from shared.settings import Settings
from tests.platform import (
    brand_of_platform,
    complaint_body,
    env_admin_token,
    token_for,
)


def test_a_posted_complaint_shows_all_four_services_in_its_history_within_two_seconds(
    platform: Platform,
) -> None:
    brand = brand_of_platform(platform, "kao-demo")
    with httpx.Client(base_url=platform.url("intake"), headers=brand, timeout=10) as client:
        started = time.monotonic()
        posted = client.post("/v1/complaints", json=complaint_body())
        assert posted.status_code == 201, posted.text
        complaint_id, trace_id = posted.json()["complaint_id"], posted.json()["trace_id"]
        events: list[dict[str, Any]] = []
        while time.monotonic() - started < 2.0:
            events = client.get(f"/v1/complaints/{complaint_id}/history").json()["events"]
            if {e["service"] for e in events} == {
                "intake",
                "routing",
                "compensation",
                "followup",
            } and len(events) >= 7:
                break
            time.sleep(0.02)
        elapsed = time.monotonic() - started
    assert {e["service"] for e in events} == {"intake", "routing", "compensation", "followup"}, (
        f"after {elapsed:.2f} s: {[e['type'] for e in events]}"
    )
    assert elapsed < 2.0
    assert {e["trace_id"] for e in events} == {trace_id}

    # The same trace runs through every service's spans (exported to local files).
    traces = platform.data_dir / "traces"
    deadline = time.monotonic() + 5
    while True:
        services_in_trace = {
            span["service"]
            for path in traces.glob("*.jsonl")
            for span in map(json.loads, path.read_text().splitlines())
            if span["trace_id"] == trace_id
        }
        if len(services_in_trace) == 4 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert services_in_trace == {"intake", "routing", "compensation", "followup"}


def test_killing_intake_mid_stream_loses_nothing_and_duplicates_nothing(
    platform: Platform,
    seed: int,
) -> None:
    """kill -9 between append and publish: after restart each event is published once."""
    rng = random.Random(seed)
    brand = brand_of_platform(platform, "crash-demo")
    accepted: list[str] = []

    async def post_many(count: int) -> None:
        async with httpx.AsyncClient(
            base_url=platform.url("intake"), headers=brand, timeout=10
        ) as client:

            async def one(n: int) -> None:
                try:
                    response = await client.post(
                        "/v1/complaints",
                        json=complaint_body(consumer={"name": "顾客", "phone": f"139{n:08d}"}),
                    )
                except httpx.HTTPError:
                    return  # the process died under this request: not acknowledged
                if response.status_code == 201:
                    accepted.append(response.json()["complaint_id"])

            await asyncio.gather(*(one(n) for n in range(count)))

    async def post_and_kill() -> None:
        poster = asyncio.create_task(post_many(120))
        deadline = time.monotonic() + 20
        while len(accepted) < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(rng.uniform(0.0, 0.2))  # mid-stream, at a seeded moment
        platform.kill("intake")
        await poster

    asyncio.run(post_and_kill())
    assert accepted, "some complaints were accepted before the crash"
    platform.start_service("intake")
    platform.wait_ready("intake")

    async def stream_counts() -> tuple[Counter[str], Counter[str]]:
        nc = await nats.connect(platform.admin_url)
        js = nc.jetstream()
        counts: list[Counter[str]] = []
        for stream, event_type in (("INTAKE", "ComplaintReceived"), ("ROUTING", "HandlerAssigned")):
            sub = await js.pull_subscribe(f"{stream.lower()}.*.*.{event_type}", stream=stream)
            seen: Counter[str] = Counter()
            try:
                while True:
                    for msg in await sub.fetch(200, timeout=1):
                        seen[msg.subject.split(".")[2]] += 1
                        await msg.ack()
            except TimeoutError:
                pass
            await sub.unsubscribe()
            counts.append(seen)
        await nc.close()
        return counts[0], counts[1]

    deadline = time.monotonic() + 20
    while True:
        received, routed = asyncio.run(stream_counts())
        if all(routed[c] for c in accepted) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    missing = [c for c in accepted if received[c] != 1]
    assert not missing, f"{len(missing)} acknowledged complaints not published exactly once"
    assert all(n == 1 for n in received.values()), "no complaint published twice"
    assert all(n == 1 for n in routed.values()), "no complaint routed twice"
    assert set(received) <= set(routed), "every published complaint was routed"


def test_events_appended_but_not_yet_published_at_kill_are_published_once_after_restart(
    platform: Platform,
) -> None:
    """Deterministic crash window: INTAKE refuses publishes, intake appends, kill -9, restart."""
    brand = brand_of_platform(platform, "window-demo")

    async def intake_stream(max_msgs: int | None = None) -> int:
        nc = await nats.connect(platform.admin_url)
        js = nc.jetstream()
        info = await js.stream_info("INTAKE")
        if max_msgs is not None:  # hold the relay back: the stream refuses new messages
            info.config.max_msgs = max_msgs
            info.config.discard = DiscardPolicy.NEW
            await js.update_stream(info.config)
        await nc.close()
        return int(info.state.messages)

    with httpx.Client(base_url=platform.url("intake"), headers=brand, timeout=10) as client:
        client.post("/v1/complaints", json=complaint_body())
    time.sleep(0.5)
    before = asyncio.run(intake_stream())
    assert before > 0
    asyncio.run(intake_stream(max_msgs=before))
    with httpx.Client(base_url=platform.url("intake"), headers=brand, timeout=10) as client:
        ids = [
            client.post(
                "/v1/complaints",
                json=complaint_body(consumer={"name": "顾客", "phone": f"135{n:08d}"}),
            ).json()["complaint_id"]
            for n in range(10)
        ]
    time.sleep(0.5)
    assert asyncio.run(intake_stream()) == before, "appended, not yet published"
    platform.kill("intake")

    platform.start_service("intake")  # its start-up restores the stream's limits
    platform.wait_ready("intake")
    with httpx.Client(base_url=platform.url("intake"), headers=brand, timeout=10) as client:

        def all_offered() -> bool:
            return all(client.get(f"/v1/complaints/{c}").json()["offer"] for c in ids)

        deadline = time.monotonic() + 15
        while not all_offered():
            assert time.monotonic() < deadline, "downstream effects after restart"
            time.sleep(0.1)
        for complaint_id in ids:
            events = client.get(f"/v1/complaints/{complaint_id}/history").json()["events"]
            types = Counter(e["type"] for e in events)
            assert types["ComplaintReceived"] == 1
            assert types["HandlerAssigned"] == 1
            assert types["RemedyOptionsOffered"] == 1
    assert asyncio.run(intake_stream()) > before


def test_brands_cli_adds_lists_rotates_and_revokes_keys(platform: Platform) -> None:
    cli = [sys.executable, "-m", "shared.cli", "brands"]
    url = ["--url", platform.url("intake")]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, *args, *url], capture_output=True, text=True, timeout=60, check=False
        )

    added = run("add", "midea-demo", "--name", "美的 Midea")
    assert added.returncode == 0, added.stderr
    first_key = json.loads(added.stdout)["api_key"]
    rotated = run("rotate-key", "midea-demo")
    second_key = json.loads(rotated.stdout)["api_key"]
    listed = json.loads(run("list").stdout)
    keys = next(b for b in listed if b["brand_id"] == "midea-demo")["active_keys"]
    assert len(keys) == 2
    old_key_id = first_key.split("_")[1]
    assert run("revoke-key", "midea-demo", "--key-id", old_key_id).returncode == 0
    with httpx.Client(base_url=platform.url("intake"), timeout=10) as client:
        assert client.get("/v1/complaints", headers={"X-Api-Key": first_key}).status_code == 401
        assert client.get("/v1/complaints", headers={"X-Api-Key": second_key}).status_code == 200
    duplicate = run("add", "midea-demo")
    assert duplicate.returncode == 1
    assert "409" in duplicate.stdout


def test_after_the_demo_every_store_replays_exactly(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    """`aftersales demo` walks the seed cases through all four services; then each store is
    exactly what replaying its recorded inputs gives (`aftersales replay --verify`)."""
    from shared.demo import run_demo
    from tests.e2e.chaos import assert_replays_exactly, wait_quiescent

    brand = brand_of_platform(platform, "demo-replay")
    def scoped(brand_id: str) -> str:
        header = token_for(Settings(), ("admin",), (brand_id,))["Authorization"]
        return header.removeprefix("Bearer ")

    routing, compensation = platform.url("routing"), platform.url("compensation")
    key, admin = brand["X-Api-Key"], env_admin_token()
    assert run_demo(
        platform.url("intake"), key, admin, scoped,
        routing_url=routing, compensation_url=compensation,
    ) == 0
    shown = capsys.readouterr().out
    steps = ("revisit due", "linked to", "29 members", "HTTP 201", "HTTP 200")
    steps += ("escalated to supervisor", "routing      Escalated")
    steps += ("status awaiting_approval", "sanbao_refund_period", "status fulfilled")
    steps += ("cpl_art55_fraud", "¥500.00")
    masked = ("brands seen  ['demo-replay']", "138****5678", "free_text: redacted", "HTTP 422")
    for step in steps + masked:
        assert step in shown, f"the demo did not show {step!r}:\n{shown[-3000:]}"
    quiescent, _, unsettled = asyncio.run(wait_quiescent(platform, 60.0))
    assert quiescent, unsettled

    shown = assert_replays_exactly(platform)
    summaries = [line for line in shown.splitlines() if line.endswith(", exact")]
    assert [line.split(":")[0] for line in summaries] == [
        "intake",
        "routing",
        "compensation",
        "followup",
    ], shown
