"""Intake's memory as complaints accumulate: read models live in the store, not in RAM.

Starts nats-server and intake (uvicorn, SQLite, a fresh data dir), posts complaints from
concurrent clients, and prints intake's RSS at each checkpoint; then restarts intake and
prints its RSS and start time with everything already stored (nothing is loaded at start).

Usage: python bench/intake_rss.py [--checkpoints 1000,2500,5000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from shared.settings import DEV_SECRET
from tests.platform import complaint_body
from tests.servers import NatsServer, free_port


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def start_intake(port: int, nats_url: str, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AFTERSALES_NATS_URL": nats_url,
        "AFTERSALES_DATA_DIR": str(data_dir),
        "AFTERSALES_LOG_LEVEL": "WARNING",
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
    }
    argv = [sys.executable, "-m", "uvicorn", "--factory", "services.intake.main:build",
            "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop",
            "--http", "httptools", "--no-access-log"]  # fmt: skip
    log = (data_dir / "intake.log").open("ab")
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(url: str, timeout: float = 120) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("intake did not become ready")


async def post_many(url: str, key: str, start: int, stop: int, concurrency: int) -> None:
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"X-Api-Key": key}, timeout=60) as client:

        async def post(n: int) -> None:
            body = complaint_body(
                consumer={"name": "顾客", "phone": f"137{n:08d}"},
                order={"merchant": f"门店{n % 50}", "price_fen": 459900},
            )
            async with limit:
                response = await client.post("/v1/complaints", json=body)
            if response.status_code not in (200, 201):
                raise SystemExit(f"POST {n}: {response.status_code} {response.text[:300]}")

        await asyncio.gather(*(post(n) for n in range(start, stop)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoints", default="1000,2500,5000")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    checkpoints = [int(c) for c in args.checkpoints.split(",")]
    data_dir = Path(tempfile.mkdtemp(prefix="aftersales-rss-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with NatsServer() as nats:
        nats.start()
        intake = start_intake(port, nats.url, data_dir)
        try:
            wait_ready(url)
            print(f"start (empty store): RSS {rss_mib(intake.pid):.1f} MiB")
            brand = httpx.post(
                f"{url}/v1/admin/brands",
                headers={"Authorization": f"Bearer {DEV_SECRET}"},
                json={"brand_id": "rss", "name": "RSS"},
            ).json()
            done = 0
            for checkpoint in checkpoints:
                began = time.perf_counter()
                asyncio.run(post_many(url, brand["api_key"], done, checkpoint, args.concurrency))
                rate = (checkpoint - done) / (time.perf_counter() - began)
                done = checkpoint
                page = httpx.get(
                    f"{url}/v1/complaints", headers={"X-Api-Key": brand["api_key"]}, timeout=30
                )
                assert page.status_code == 200, page.text
                time.sleep(2)  # let the consumer and relay catch up
                print(
                    f"{checkpoint:>6} complaints: RSS {rss_mib(intake.pid):.1f} MiB "
                    f"({rate:.0f} complaints/s)"
                )
            intake.terminate()
            intake.wait(60)
            intake = start_intake(port, nats.url, data_dir)
            took = wait_ready(url)
            print(
                f"restart with {done} complaints stored: ready in {took:.1f} s, "
                f"RSS {rss_mib(intake.pid):.1f} MiB"
            )
        finally:
            intake.terminate()
            intake.wait(60)


if __name__ == "__main__":
    main()
