"""Token buckets per caller (shared.ratelimit): burst, refill, off, bounded memory."""

from __future__ import annotations

from shared.ratelimit import TokenBucketLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_caller_gets_its_burst_then_waits_for_the_next_token() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=4.0, burst=3, clock=clock)

    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == 0.25  # one token per 1/4 s
    assert limiter.take("b") == 0.0  # each caller its own bucket
    clock.now += 0.25
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0.0
    clock.now += 60
    assert [limiter.take("a") for _ in range(4)][:3] == [0.0, 0.0, 0.0]  # refilled to the burst


def test_a_refused_request_spends_nothing() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=1.0, burst=1, clock=clock)
    limiter.take("a")
    for _ in range(10):
        assert limiter.take("a") > 0
    clock.now += 1.0
    assert limiter.take("a") == 0.0


def test_rate_zero_is_off() -> None:
    limiter = TokenBucketLimiter(rate=0.0, burst=1)
    assert not limiter.enabled
    assert {limiter.take("a") for _ in range(1000)} == {0.0}
    assert limiter.buckets == {}


def test_idle_callers_are_forgotten_when_the_table_is_full() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=10.0, burst=2, clock=clock, max_callers=100)
    for n in range(99):
        limiter.take(f"caller-{n}")
    clock.now += 1.0  # these have all refilled: the same as never seen
    limiter.take("busy")
    limiter.take("late")  # the table is full: the refilled ones go
    assert set(limiter.buckets) == {"busy", "late"}


def test_a_table_full_of_active_callers_starts_afresh_rather_than_grow() -> None:
    limiter = TokenBucketLimiter(rate=10.0, burst=2, clock=Clock(), max_callers=100)
    for n in range(1000):
        limiter.take(f"caller-{n}")
    assert len(limiter.buckets) <= 100
