"""Per-hop latency at a low rate: POST, poll until offered, then read the history.

Usage: python bench/profiles/hops.py --base 15000 --key-file K [--count 40] [--rate 10]
Each service stamps its events with the time it took the upstream message, so the
history shows: received (intake) -> routing took it -> compensation took HandlerAssigned
-> offer visible in intake (polled, 5 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import datetime
from pathlib import Path

import httpx

from bench.profiles.openloop import BODY, pct


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=int, required=True)
    parser.add_argument("--key-file", required=True)
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--rate", type=float, default=10)
    args = parser.parse_args()
    key = json.loads(Path(args.key_file).read_text())["api_key"]
    hops: dict[str, list[float]] = {}
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{args.base + 1}", headers={"X-Api-Key": key}, timeout=30
    ) as client:

        async def one(n: int) -> None:
            body = {**BODY, "consumer": {"name": "顾客", "phone": f"1360000{n:04d}"}}
            body["order"] = {**BODY["order"], "merchant": f"hop-{time.time()}-{n}"}
            t0 = time.time()
            r = await client.post("/v1/complaints", json=body)
            t_post = time.time()
            cid = r.json()["complaint_id"]
            while not (await client.get(f"/v1/complaints/{cid}")).json().get("offer"):
                await asyncio.sleep(0.005)
            t_offer = time.time()
            await asyncio.sleep(0.5)
            events = (await client.get(f"/v1/complaints/{cid}/history")).json()["events"]
            at = {e["type"]: datetime.fromisoformat(e["occurred_at"]).timestamp() for e in events}
            marks = [
                ("post", t0),
                ("received", at["ComplaintReceived"]),
                ("post-returned", t_post),
                ("routing-took", at["ComplaintClassified"]),
                ("compensation-took", at["RemedyOptionsOffered"]),
                ("offer-visible", t_offer),
            ]
            for (a, ta), (b, tb) in zip(marks, marks[1:], strict=False):
                hops.setdefault(f"{a} -> {b}", []).append((tb - ta) * 1000)
            hops.setdefault("total", []).append((t_offer - t0) * 1000)

        tasks = []
        for n in range(args.count):
            tasks.append(asyncio.create_task(one(n)))
            await asyncio.sleep(1 / args.rate)
        await asyncio.gather(*tasks)
    for name, values in hops.items():
        print(f"{name:<40} p50 {pct(values, 50):7.1f} p90 {pct(values, 90):7.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
