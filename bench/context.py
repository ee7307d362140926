"""What every scenario gets: the options, the store, a work dir, a run number."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.servers import BenchPlatform, Store
from shared.settings import SERVICES


@dataclass
class Context:
    store: Store
    workdir: Path
    quick: bool
    duration: float | None  # per step (per concurrency level, per rate), or the default
    transfers: int | None = None
    profile: bool = False
    soak_minutes: float | None = None
    runs: int = 0
    platforms: int = 0
    # A platform the e2e/bulk scenarios loaded, kept (stopped) for the replay scenario.
    loaded: dict[str, Any] = field(default_factory=dict)
    started: list[BenchPlatform] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # for the scenario being run

    def step_seconds(self, full: float, quick: float) -> float:
        if self.duration is not None:
            return self.duration
        return quick if self.quick else full

    def next_run(self) -> int:
        """A new run number: its phones, merchants and transfer numbers are distinct."""
        self.runs += 1
        return self.runs

    def platform(self, services: tuple[str, ...] = SERVICES) -> BenchPlatform:
        """A new platform (own data dir and stores), started."""
        self.platforms += 1
        data_dir = self.workdir / f"platform-{self.platforms}"
        env = self.store.new_env(f"platform{self.platforms}")
        platform = BenchPlatform(data_dir, env, services)
        self.started.append(platform)
        return platform.start()

    def stop_all(self) -> None:
        """Every platform this run started and did not stop yet (after a failure, too)."""
        for platform in self.started:
            platform.stop()
