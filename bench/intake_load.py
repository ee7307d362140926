"""Intake throughput: complaints accepted durably (201 after commit) per second.

Usage: python bench/intake_load.py [--count 2000] [--concurrency 32] [--url http://127.0.0.1:8001]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from pathlib import Path

import httpx

from tests.platform import complaint_body


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--url", default="http://127.0.0.1:8001")
    parser.add_argument("--key-file", default=".aftersales/demo-brand.json")
    args = parser.parse_args()
    key = json.loads(Path(args.key_file).read_text())["api_key"]
    limit = asyncio.Semaphore(args.concurrency)
    run = random.randrange(10_000)  # new consumers each run: reruns are not duplicates
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    async with httpx.AsyncClient(
        base_url=args.url,
        headers={"X-Api-Key": key},
        timeout=30,
        limits=httpx.Limits(max_connections=args.concurrency),
    ) as client:

        async def post(n: int) -> None:
            body = complaint_body(
                consumer={"name": "顾客", "phone": f"136{run:04d}{n:04d}"},
                order={"merchant": f"门店{n % 50}", "price_fen": 459900},
            )
            async with limit:
                started = time.perf_counter()
                response = await client.post("/v1/complaints", json=body)
                latencies.append(time.perf_counter() - started)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(post(n) for n in range(args.count)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    print(
        f"{args.count} POSTs, concurrency {args.concurrency}: {elapsed:.2f} s, "
        f"{statuses.get(201, 0) / elapsed:.0f} complaints/s accepted durably; "
        f"statuses {statuses}; latency p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
