"""When a failed webhook delivery is tried again: exponential backoff with full jitter (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class BackoffPolicy:
    """Exponential backoff with full jitter; give up only after 24 h of attempts."""

    base_delay_s: float = 2.0
    cap_s: float = 3600.0
    give_up_after: timedelta = timedelta(hours=24)

    def delay_s(self, attempt: int, draw: float) -> float:
        """The wait after failed attempt number `attempt` (1-based), for a draw in [0, 1]."""
        if not 0.0 <= draw <= 1.0:
            raise ValueError(f"the jitter draw must be in [0, 1], got {draw}")
        ceiling = min(self.cap_s, self.base_delay_s * 2.0 ** min(attempt - 1, 64))
        return draw * ceiling

    def next_attempt_at(
        self, attempt: int, first_attempt_at: datetime, attempted_at: datetime, draw: float
    ) -> datetime | None:
        """When to try again after a failed attempt, or None: give up (24 h have passed)."""
        if attempted_at - first_attempt_at >= self.give_up_after:
            return None
        return attempted_at + timedelta(seconds=self.delay_s(attempt, draw))
