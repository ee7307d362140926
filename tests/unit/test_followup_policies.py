"""Unit tests for followup's policies: the revisit (回访) date and the promise clocks.

Revisits fall on Shanghai working days with 调休 (shared.calendar over chinese-calendar
1.11.0): National Day 2026 is off 10-01..10-07 with make-up working days Sun 09-20 and
Sat 10-10. Promise clocks: acknowledge within 24 hours, full plan within 72 [002 承诺书].
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.followup.policies import (
    REVISIT_AFTER_WORKING_DAYS,
    plan_revisit,
    promise_clocks,
)
from shared.calendar import SHANGHAI, is_working_day
from shared.store import derive_id

CAUSE = "5d0b4c1e-2f3a-5b6c-8d9e-0a1b2c3d4e5f"


def shanghai(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SHANGHAI)


def test_revisit_is_three_working_days_after_acceptance() -> None:
    assert REVISIT_AFTER_WORKING_DAYS == 3
    plan = plan_revisit(CAUSE, shanghai(2026, 3, 3, 10, 0))  # Tuesday
    assert plan.due_date == date(2026, 3, 6)  # Friday


def test_revisit_skips_the_weekend() -> None:
    plan = plan_revisit(CAUSE, shanghai(2026, 3, 5, 10, 0))  # Thursday
    assert plan.due_date == date(2026, 3, 10)  # Fri 6, Mon 9, Tue 10


def test_revisit_skips_national_day_and_lands_on_the_make_up_saturday() -> None:
    plan = plan_revisit(CAUSE, shanghai(2026, 9, 30, 10, 0))  # the day before National Day
    assert plan.due_date == date(2026, 10, 10)  # Thu 8, Fri 9, Sat 10 (调休 working day)
    assert plan.due_date.weekday() == 5
    assert plan.calendar_covered


def test_make_up_sunday_before_national_day_counts_as_a_working_day() -> None:
    plan = plan_revisit(CAUSE, shanghai(2026, 9, 18, 10, 0))  # Friday
    assert is_working_day(date(2026, 9, 20))
    assert plan.due_date == date(2026, 9, 22)  # Sun 20 (调休), Mon 21, Tue 22


def test_late_utc_evening_already_counts_from_the_next_shanghai_day() -> None:
    just_after_midnight_in_shanghai = datetime(2026, 9, 29, 16, 30, tzinfo=UTC)  # 30 Sep 00:30
    just_before_midnight_in_shanghai = datetime(2026, 9, 29, 15, 59, tzinfo=UTC)  # 29 Sep 23:59
    assert plan_revisit(CAUSE, just_after_midnight_in_shanghai).due_date == date(2026, 10, 10)
    assert plan_revisit(CAUSE, just_before_midnight_in_shanghai).due_date == date(2026, 10, 9)


def test_revisit_due_date_is_always_a_working_day() -> None:
    start = shanghai(2026, 9, 1, 12, 0)
    for offset in range(60):
        due = plan_revisit(CAUSE, start + timedelta(days=offset)).due_date
        assert is_working_day(due), due


def test_naive_acceptance_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_revisit(CAUSE, datetime(2026, 3, 3, 10, 0))


def test_year_without_official_holiday_data_is_flagged_not_covered() -> None:
    plan = plan_revisit(CAUSE, shanghai(2099, 3, 3, 10, 0))
    assert not plan.calendar_covered
    assert plan.due_date.weekday() < 5  # Mon–Fri fallback


def test_revisit_is_by_phone_with_an_id_derived_from_the_cause_event() -> None:
    first = plan_revisit(CAUSE, shanghai(2026, 3, 3, 10, 0))
    replayed = plan_revisit(CAUSE, shanghai(2026, 3, 3, 10, 0))
    assert first == replayed
    assert first.channel == "phone"
    assert first.revisit_id == str(derive_id(CAUSE, "revisit"))
    assert plan_revisit("another-cause", shanghai(2026, 3, 3, 10, 0)).revisit_id != first.revisit_id


def test_promise_clocks_are_24_and_72_hours_after_receipt_002() -> None:
    received_at = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
    acknowledge_by, plan_by = promise_clocks(received_at)
    assert acknowledge_by == datetime(2026, 3, 3, 1, 30, tzinfo=UTC)
    assert plan_by == datetime(2026, 3, 5, 1, 30, tzinfo=UTC)


def test_promise_clocks_are_elapsed_hours_that_run_through_holidays_002() -> None:
    received_at = shanghai(2026, 9, 30, 20, 0)
    acknowledge_by, plan_by = promise_clocks(received_at)
    assert acknowledge_by - received_at == timedelta(hours=24)
    assert plan_by - received_at == timedelta(hours=72)
    assert plan_by.astimezone(SHANGHAI).date() == date(2026, 10, 3)  # during National Day
    assert acknowledge_by.utcoffset() is not None
