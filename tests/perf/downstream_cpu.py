"""CPU per upstream event of one downstream service, on recorded streams (A/B of its code).

Usage: .venv/bin/python -m tests.perf.downstream_cpu SNAPSHOT_DIR SERVICE [--runs 3]
SNAPSHOT_DIR is a copy of a platform's nats store (`.aftersales/nats`) after a load: a
nats-server is started on a copy of it, the service's own streams are deleted, and the
service runs in this process on a fresh SQLite store, consuming every upstream message
and publishing its own events again. Reported: process CPU seconds (all threads) and
wall seconds until its consumers reached the end of their streams and its relay has
published everything, per upstream message.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nats

from shared.bus import dead_letter_stream
from shared.contracts import STREAMS
from shared.settings import Settings
from tests.platform import start_service
from tests.servers import NatsServer


async def one_run(snapshot: Path, service: str) -> tuple[float, float, int]:
    work = Path(tempfile.mkdtemp(prefix="flow-cpu-"))
    shutil.copytree(snapshot, work / "nats")
    with NatsServer(store_dir=work / "nats") as server:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        for name in (STREAMS[service], dead_letter_stream(service)):
            with contextlib.suppress(Exception):
                await js.delete_stream(name)
        await nc.close()
        settings = Settings(
            environment="test",
            nats_url=server.url,
            data_dir=work / "data",
            log_level="WARNING",
            trace_file=Path(tempfile.gettempdir()) / f"flow-cpu-{service}-traces.jsonl",
        )
        cpu0, wall0 = time.process_time(), time.perf_counter()
        running = await start_service(service, settings)
        runtime = running.runtime
        total = 0
        for consumer in runtime.consumers:
            _, last = await runtime.bus.stream_bounds(consumer.upstream)
            total += last
        while True:
            done = True
            for c in runtime.consumers:
                done = done and c.position >= (await runtime.bus.stream_bounds(c.upstream))[1]
            if done and runtime.relay.lag() == 0:
                break
            await asyncio.sleep(0.05)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        await running.stop()
    shutil.rmtree(work, ignore_errors=True)
    return cpu, wall, total


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("snapshot", type=Path)
    parser.add_argument("service", choices=["routing", "compensation", "followup"])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = []
    for _ in range(args.runs):
        cpu, wall, total = await one_run(args.snapshot, args.service)
        results.append((cpu, wall))
        print(
            f"{args.service}: {total} upstream messages, CPU {cpu:.2f} s "
            f"({1000 * cpu / total:.2f} ms/msg), wall {wall:.2f} s",
            file=sys.stderr,
        )
    best = min(results)
    print(f"{args.service} best CPU {best[0]:.2f} s, wall {best[1]:.2f} s")


if __name__ == "__main__":
    asyncio.run(main())
