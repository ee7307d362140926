"""Supervised background tasks: relay, consumers and jobs restart with capped backoff.

A task that raises (or returns before the service stops) is restarted after a delay
that doubles per consecutive failure up to a cap; each restart is logged with its
error and counted, and the task's state (running/down, last error, restarts) is what
/readyz and /metrics report. Nothing dies silently.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field

log = logging.getLogger("aftersales.supervisor")
STABLE_S = 30.0  # a task that ran this long before failing starts its backoff afresh


@dataclass
class TaskState:
    """What /readyz says about one supervised task."""

    name: str
    state: str = "starting"  # running | down | stopped
    restarts: int = 0
    last_error: str | None = None
    since: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, object]:
        return {
            "state": self.state,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "since": self.since,
        }


class Supervisor:
    """Runs named coroutines until `stop`, restarting them when they fail."""

    def __init__(
        self, stop: asyncio.Event, base_delay: float = 0.2, max_delay: float = 10.0
    ) -> None:
        self.stop = stop
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.states: dict[str, TaskState] = {}
        self.tasks: list[asyncio.Task[None]] = []

    def spawn(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        self.states[name] = TaskState(name)
        self.tasks.append(asyncio.create_task(self._supervise(name, run), name=name))

    async def _supervise(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        state = self.states[name]
        failures = 0
        while not self.stop.is_set():
            state.state, state.since = "running", time.time()
            started = time.monotonic()
            try:
                await run()
                if self.stop.is_set():
                    break
                error = "returned before the service stopped"
                log.error("task %s %s", name, error)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.stop.is_set():
                    break
                error = f"{type(exc).__name__}: {exc}"[:500]
                log.exception("task %s failed; restarting", name)
            failures = 1 if time.monotonic() - started > STABLE_S else failures + 1
            delay = min(self.base_delay * 2 ** (failures - 1), self.max_delay)
            state.state, state.since, state.last_error = "down", time.time(), error
            state.restarts += 1
            log.warning("task %s restarts in %.1f s (restart %s)", name, delay, state.restarts)
            with suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=delay)
        state.state, state.since = "stopped", time.time()

    def down(self) -> list[TaskState]:
        return [s for s in self.states.values() if s.state == "down"]
