"""Open-loop end-to-end latency: POST at a fixed rate, time POST -> "offered" visible in intake.

Usage: python bench/profiles/openloop.py --base 15001 --rate 50 --duration 30 [--sample 5]
POSTs arrive on a fixed schedule (not waiting for earlier ones); `--sample` complaints per
second are polled (GET every 20 ms) until intake shows their offer. Every few seconds
each service's relay and consumer lag is sampled from /readyz. At the end it prints POST
latency and POST -> offered latency (p50/p95/p99), the lags, and the CPU seconds each
process used (from /proc, pids found by port) when --pids is given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

import httpx

BODY: dict[str, Any] = {
    "channel": "web",
    "consumer": {"name": "王先生", "phone": "13900001111"},
    "product": {"category": "冰箱 refrigerator", "model": "BCD-470", "serial": "HR2291"},
    "order": {"purchase_date": "2026-06-18", "price_fen": 459900, "merchant": "苏宁"},
    "description": "冰箱不制冷，质量故障，要求上门维修。",
    "demands": [{"kind": "repair"}],
}
SERVICES = ("intake", "routing", "compensation", "followup")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


async def lags(client: httpx.AsyncClient, base: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, name in enumerate(SERVICES, start=1):
        try:
            r = await client.get(f"http://127.0.0.1:{base + i}/readyz", timeout=5)
            body = r.json()
            checks = body.get("checks", body)
            out[name] = {
                "relay": checks.get("relay_lag"),
                **{k: v.get("lag") for k, v in (checks.get("consumers") or {}).items()},
            }
        except Exception as error:
            out[name] = repr(error)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=int, required=True, help="port base (intake = base+1)")
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--sample", type=float, default=5, help="complaints/s whose offer is timed")
    parser.add_argument("--key-file", required=True)
    parser.add_argument("--pids", default="", help="name=pid,... for CPU accounting")
    parser.add_argument("--drain", type=float, default=60, help="max seconds to wait at the end")
    args = parser.parse_args()
    key = json.loads(Path(args.key_file).read_text())["api_key"]
    intake = f"http://127.0.0.1:{args.base + 1}"
    run = random.randrange(10_000)
    pids = dict(p.split("=") for p in args.pids.split(",") if p)
    cpu0 = {n: cpu_seconds(int(p)) for n, p in pids.items()}
    post_ms: list[float] = []
    offer_ms: list[float] = []
    errors: list[str] = []
    lag_samples: list[dict[str, Any]] = []
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with httpx.AsyncClient(
        base_url=intake, headers={"X-Api-Key": key}, timeout=60, limits=limits
    ) as client:

        async def one(n: int, sampled: bool) -> None:
            body = dict(BODY)
            body["consumer"] = {"name": "顾客", "phone": f"137{run:04d}{n:04d}"[:11]}
            body["order"] = {**BODY["order"], "merchant": f"门店{run}-{n}"}
            started = time.perf_counter()
            try:
                r = await client.post("/v1/complaints", json=body)
            except Exception as error:
                errors.append(repr(error))
                return
            if r.status_code != 201:
                errors.append(f"{r.status_code} {r.text[:200]}")
                return
            post_ms.append((time.perf_counter() - started) * 1000)
            if not sampled:
                return
            complaint_id = r.json()["complaint_id"]
            end = time.monotonic() + args.drain + args.duration
            while time.monotonic() < end:
                try:
                    g = await client.get(f"/v1/complaints/{complaint_id}")
                except httpx.HTTPError:
                    await asyncio.sleep(0.02)
                    continue
                if g.status_code == 200 and g.json().get("offer"):
                    offer_ms.append((time.perf_counter() - started) * 1000)
                    return
                await asyncio.sleep(0.02)
            errors.append(f"no offer for {complaint_id}")

        async def sample_lags() -> None:
            async with httpx.AsyncClient() as ops:
                while True:
                    lag_samples.append({"t": round(time.monotonic() - t0, 1), **await lags(ops, args.base)})
                    await asyncio.sleep(5)

        t0 = time.monotonic()
        sampler = asyncio.create_task(sample_lags())
        tasks = []
        every = max(1, round(args.rate / args.sample)) if args.sample > 0 else 0
        total = int(args.rate * args.duration)
        for n in range(total):
            due = t0 + n / args.rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n, bool(every) and n % every == 0)))
        sent = time.monotonic() - t0
        await asyncio.gather(*tasks)
        done = time.monotonic() - t0
        sampler.cancel()
        lag_samples.append({"t": round(done, 1), **await lags(client, args.base)})
    cpu = {n: round(cpu_seconds(int(p)) - cpu0[n], 1) for n, p in pids.items()}
    print(f"rate {args.rate}/s for {args.duration}s: {total} POSTs sent in {sent:.1f}s, "
          f"all done at {done:.1f}s, errors {len(errors)} {errors[:3]}")
    print(f"POST ms         p50 {pct(post_ms, 50):7.1f} p95 {pct(post_ms, 95):7.1f} "
          f"p99 {pct(post_ms, 99):7.1f} (n={len(post_ms)})")
    print(f"POST->offer ms  p50 {pct(offer_ms, 50):7.1f} p95 {pct(offer_ms, 95):7.1f} "
          f"p99 {pct(offer_ms, 99):7.1f} max {max(offer_ms or [0]):7.1f} (n={len(offer_ms)})")
    print(f"CPU s over {done:.0f}s: {cpu}  (% of one core: "
          f"{ {n: round(100 * c / done) for n, c in cpu.items()} })")
    for s in lag_samples:
        print("  lag", s)


if __name__ == "__main__":
    asyncio.run(main())
