"""A/B of NATS authentication: anonymous server vs one user per service with permissions.

Usage: .venv/bin/python -m tests.perf.nats_auth_ab [--messages 20000] [--rounds 3]
Per round and mode: intake publishes N 1 KB messages (publish_async, all acked), routing
fetches and acks them through its durable (fetch(100)); reported: both rates and the
nats-server process's CPU seconds (where permission checks are paid: the clients make no
extra round trip).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path
from typing import Any

from shared.bus import Bus
from tests.servers import NatsServer


def _cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_round(auth: bool, count: int) -> tuple[float, float, float]:
    with NatsServer(auth=auth) as server:

        def as_user(user: str) -> dict[str, Any]:
            return {"user": user, "password": server.credentials[user]} if auth else {}

        intake = await Bus.connect(server.plain_url, "ab-intake", **as_user("intake"))
        routing = await Bus.connect(server.plain_url, "ab-routing", **as_user("routing"))
        await intake.ensure_own_streams("intake")
        data = b"x" * 1000
        began = time.perf_counter()
        acks = [
            await intake.js.publish_async(f"intake.acme.{n:032x}.ComplaintReceived", data)
            for n in range(count)
        ]
        await asyncio.gather(*acks)
        published = count / (time.perf_counter() - began)
        sub = await routing.position_consumer("INTAKE", "routing-from-intake", 1)
        began, got = time.perf_counter(), 0
        while got < count:
            msgs = await sub.fetch(100, timeout=5)
            for msg in msgs:
                await msg.ack()
            got += len(msgs)
        fetched = count / (time.perf_counter() - began)
        await routing.close()
        await intake.close()
        assert server.process is not None
        return published, fetched, _cpu_seconds(server.process.pid)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for _ in range(args.rounds):
        for auth in (False, True):  # back to back: the machine is shared and noisy
            published, fetched, cpu = await one_round(auth, args.messages)
            print(
                f"auth={auth!s:5} publish_async {published:7.0f}/s  fetch+ack {fetched:7.0f}/s"
                f"  nats-server CPU {cpu:.2f} s",
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main())
