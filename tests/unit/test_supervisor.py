"""Supervised tasks: a failing task is restarted with capped backoff, counted, and its
state and last error are kept for /readyz (issue 15, "silent death")."""

from __future__ import annotations

import asyncio
import itertools

from shared.supervisor import Supervisor


async def test_a_failing_task_is_restarted_with_backoff_and_counted() -> None:
    stop = asyncio.Event()
    supervisor = Supervisor(stop, base_delay=0.01, max_delay=0.04)
    runs: list[float] = []
    running = asyncio.Event()

    async def flaky() -> None:
        runs.append(asyncio.get_running_loop().time())
        if len(runs) <= 4:
            raise ConnectionError(f"failure {len(runs)}")
        running.set()
        await stop.wait()

    supervisor.spawn("flaky", flaky)
    await asyncio.wait_for(running.wait(), timeout=5)
    state = supervisor.states["flaky"]
    assert state.state == "running"
    assert state.restarts == 4
    assert state.last_error == "ConnectionError: failure 4"
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    assert gaps[1] >= 0.018, "the delay doubles"
    assert max(gaps) < 0.5, "and is capped"
    stop.set()
    await asyncio.gather(*supervisor.tasks)
    assert state.state == "stopped"


async def test_a_task_that_returns_early_is_down_until_restarted() -> None:
    stop = asyncio.Event()
    supervisor = Supervisor(stop, base_delay=10, max_delay=10)

    async def quits() -> None:
        return None

    supervisor.spawn("quits", quits)
    await asyncio.sleep(0.05)
    assert [s.name for s in supervisor.down()] == ["quits"]
    assert supervisor.states["quits"].last_error == "returned before the service stopped"
    stop.set()
    await asyncio.wait_for(asyncio.gather(*supervisor.tasks), timeout=1)
