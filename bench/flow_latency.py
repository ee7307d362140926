"""Time from POST to RevisitScheduled over N complaints, against a running platform.

Usage: python bench/flow_latency.py [--count 200] [--concurrency 8] [--url http://127.0.0.1:8001]
Reports wall-clock time per complaint (POST → offer → accept → RevisitScheduled visible),
and the server-side legs from event timestamps (intake → routing → compensation, and
accept → followup), as p50/p90/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from datetime import datetime
from pathlib import Path

import httpx

from tests.platform import complaint_body


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


RUN = random.randrange(10_000)  # a new set of consumers each run: reruns are not duplicates


async def one(client: httpx.AsyncClient, n: int) -> dict[str, float]:
    started = time.perf_counter()
    body = complaint_body(
        consumer={"name": "顾客", "phone": f"137{RUN:04d}{n:04d}"},
        order={"merchant": f"门店{RUN}-{n}", "price_fen": 459900},
    )
    posted = (await client.post("/v1/complaints", json=body)).json()
    complaint_id = posted["complaint_id"]
    while True:
        complaint = (await client.get(f"/v1/complaints/{complaint_id}")).json()
        if complaint["offer"]:
            break
        await asyncio.sleep(0.005)
    offered = time.perf_counter()
    option = complaint["offer"]["options"][0]
    await client.post(
        f"/v1/complaints/{complaint_id}/consumer-actions",
        json={
            "action": "accept",
            "offer_id": complaint["offer"]["offer_id"],
            "option_id": option["option_id"],
        },
    )
    while True:
        complaint = (await client.get(f"/v1/complaints/{complaint_id}")).json()
        if complaint["revisit_due"]:
            break
        await asyncio.sleep(0.005)
    done = time.perf_counter()
    events = (await client.get(f"/v1/complaints/{complaint_id}/history")).json()["events"]
    at = {e["type"]: datetime.fromisoformat(e["occurred_at"]) for e in events}
    return {
        "wall_post_to_revisit_ms": (done - started) * 1000,
        "wall_post_to_offer_ms": (offered - started) * 1000,
        "server_received_to_offered_ms": (
            at["RemedyOptionsOffered"] - at["ComplaintReceived"]
        ).total_seconds()
        * 1000,
        "server_acted_to_revisit_ms": (at["RevisitScheduled"] - at["ConsumerActed"]).total_seconds()
        * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--url", default="http://127.0.0.1:8001")
    parser.add_argument("--key-file", default=".aftersales/demo-brand.json")
    args = parser.parse_args()
    key = json.loads(Path(args.key_file).read_text())["api_key"]
    limit = asyncio.Semaphore(args.concurrency)
    async with httpx.AsyncClient(
        base_url=args.url, headers={"X-Api-Key": key}, timeout=30
    ) as client:

        async def bounded(n: int) -> dict[str, float]:
            async with limit:
                return await one(client, n)

        started = time.perf_counter()
        results = await asyncio.gather(*(bounded(n) for n in range(args.count)))
        elapsed = time.perf_counter() - started
    print(f"{args.count} complaints, concurrency {args.concurrency}, {elapsed:.1f} s")
    for metric in results[0]:
        values = [r[metric] for r in results]
        print(
            f"  {metric:<32} p50 {percentile(values, 50):7.1f}  p90 "
            f"{percentile(values, 90):7.1f}  p99 {percentile(values, 99):7.1f}  "
            f"mean {statistics.mean(values):7.1f} ms"
        )


if __name__ == "__main__":
    asyncio.run(main())
