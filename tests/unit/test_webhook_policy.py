"""The webhook retry policy (exponential backoff, full jitter, 1 h cap, 24 h before giving up)
and what a brand is told of a failed attempt."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from services.intake.errors import DeliveryConcluded
from services.intake.webhooks.delivery_log import coarse_error
from services.intake.webhooks.domain import WebhookDelivery
from services.intake.webhooks.policy import BackoffPolicy
from shared.inputs import input_clock
from shared.store import EventMeta

START = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
POLICY = BackoffPolicy()


@pytest.fixture(autouse=True)
def processing_an_input() -> Iterator[None]:
    """A delivery's events take their time from the input being processed."""
    with input_clock(START):
        yield


def test_ceiling_doubles_from_two_seconds_per_failed_attempt() -> None:
    assert [POLICY.delay_s(attempt, draw=1.0) for attempt in range(1, 6)] == [2, 4, 8, 16, 32]


def test_ceiling_is_capped_at_one_hour_even_after_many_attempts() -> None:
    assert POLICY.delay_s(12, draw=1.0) == 3600
    assert POLICY.delay_s(10_000, draw=1.0) == 3600


def test_full_jitter_scales_the_whole_delay_by_the_draw() -> None:
    assert POLICY.delay_s(3, draw=0.0) == 0
    assert POLICY.delay_s(3, draw=0.25) == 2
    assert BackoffPolicy(base_delay_s=0.05).delay_s(2, draw=0.5) == pytest.approx(0.05)


@pytest.mark.parametrize("draw", [-0.1, 1.5])
def test_draw_outside_the_unit_interval_is_refused(draw: float) -> None:
    with pytest.raises(ValueError, match="jitter draw"):
        POLICY.delay_s(1, draw)


def test_retries_continue_until_24_hours_after_the_first_attempt() -> None:
    almost = START + timedelta(hours=23, minutes=59, seconds=59)
    assert POLICY.next_attempt_at(40, START, almost, draw=1.0) == almost + timedelta(hours=1)
    assert POLICY.next_attempt_at(41, START, START + timedelta(hours=24), draw=1.0) is None


def test_worst_case_schedule_spans_24_hours_before_giving_up() -> None:
    attempted_at, attempt = START, 1
    while (retry := POLICY.next_attempt_at(attempt, START, attempted_at, draw=1.0)) is not None:
        attempted_at, attempt = retry, attempt + 1
    assert attempted_at - START >= timedelta(hours=24)
    assert attempt < 40, "the 1 h cap keeps the number of attempts reasonable"


def delivery() -> WebhookDelivery:
    return WebhookDelivery(
        id=uuid4(),
        meta=EventMeta("brand", "0" * 32, None),
        subscription_id=str(uuid4()),
        event_id=str(uuid4()),
        event_type="ComplaintReceived",
        body="{}",
        due_at=START,
    )


def test_failed_attempts_schedule_retries_then_a_2xx_delivers() -> None:
    subject = delivery()
    subject.record_attempt(START, 500, None, draw=1.0, policy=POLICY)
    assert subject.next_attempt_at == START + timedelta(seconds=2)
    later = START + timedelta(seconds=2)
    subject.record_attempt(later, None, "ConnectError: refused", draw=0.5, policy=POLICY)
    assert subject.next_attempt_at == later + timedelta(seconds=2)
    subject.record_attempt(later + timedelta(seconds=2), 204, None, draw=1.0, policy=POLICY)
    assert subject.status == "delivered"
    assert subject.attempts == 3
    assert subject.next_attempt_at is None
    with pytest.raises(DeliveryConcluded):
        subject.record_attempt(later, 200, None, draw=1.0, policy=POLICY)


def test_a_failure_24_hours_after_the_first_attempt_abandons_the_delivery() -> None:
    subject = delivery()
    subject.record_attempt(START, 503, None, draw=1.0, policy=POLICY)
    subject.record_attempt(START + timedelta(hours=24), 503, None, draw=1.0, policy=POLICY)
    assert (subject.status, subject.attempts, subject.next_attempt_at) == ("abandoned", 2, None)


CONNECTION = "connection failed"


@pytest.mark.parametrize(
    ("recorded", "shown"),
    [
        (None, None),
        ("target not allowed", "target not allowed"),
        ("timeout", "timeout"),
        ("connection failed", "connection failed"),
        ("ConnectError: [Errno 111] Connection refused", "connection failed"),
        ("RemoteProtocolError: Server disconnected without sending a response.", CONNECTION),
        ("ReadTimeout: timed out", "timeout"),
        ("ConnectTimeout: ", "timeout"),
    ],
)
def test_attempt_errors_recorded_before_are_shown_coarse(
    recorded: str | None, shown: str | None
) -> None:
    assert coarse_error(recorded) == shown
