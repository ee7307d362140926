"""Unit tests for shared.calendar: China working days with 调休, in Asia/Shanghai.

Holiday facts are as chinese-calendar 1.11.0 records them (``chinese_calendar/constants.py``,
``holidays`` and ``workdays`` tables, which transcribe the State Council's 2026 holiday notice):
Spring Festival off 2026-02-15..02-23, make-up working Saturdays 02-14 and 02-28;
Mid-autumn off 09-25..09-27; National Day off 10-01..10-07, make-up Sun 09-20 and Sat 10-10.
"""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from shared.calendar import (
    SHANGHAI,
    add_working_days,
    business_date,
    calendar_covers,
    deadline_after,
    end_of_business_day,
    is_working_day,
    working_days_between,
)


def test_business_date_uses_shanghai_time() -> None:
    late_utc_evening = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)  # 00:30 on 3 March in Shanghai
    assert business_date(late_utc_evening) == date(2026, 3, 3)


def test_business_date_accepts_any_aware_timezone() -> None:
    new_york = timezone(timedelta(hours=-5))
    assert business_date(datetime(2026, 3, 2, 11, 0, tzinfo=new_york)) == date(2026, 3, 3)


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        business_date(datetime(2026, 3, 2, 12, 0))


def test_ordinary_weekday_is_a_working_day_and_weekend_is_not() -> None:
    assert is_working_day(date(2026, 3, 4))  # Wednesday
    assert not is_working_day(date(2026, 3, 7))  # Saturday
    assert not is_working_day(date(2026, 3, 8))  # Sunday


@pytest.mark.parametrize("day", [date(2026, 10, 1), date(2026, 10, 5), date(2026, 10, 7)])
def test_national_day_2026_weekdays_are_holidays(day: date) -> None:
    assert day.weekday() < 5
    assert not is_working_day(day)


def test_make_up_sunday_before_national_day_2026_counts_as_working_day() -> None:
    assert date(2026, 9, 20).weekday() == 6
    assert is_working_day(date(2026, 9, 20))


def test_make_up_saturday_after_national_day_2026_counts_as_working_day() -> None:
    assert date(2026, 10, 10).weekday() == 5
    assert is_working_day(date(2026, 10, 10))


@pytest.mark.parametrize("day", [date(2026, 2, 16), date(2026, 2, 20), date(2026, 2, 23)])
def test_spring_festival_2026_weekdays_are_holidays(day: date) -> None:
    assert day.weekday() < 5
    assert not is_working_day(day)


@pytest.mark.parametrize("day", [date(2026, 2, 14), date(2026, 2, 28)])
def test_spring_festival_2026_make_up_saturdays_count_as_working_days(day: date) -> None:
    assert day.weekday() == 5
    assert is_working_day(day)


def test_years_without_official_data_fall_back_to_monday_to_friday() -> None:
    assert not calendar_covers(date(2027, 10, 1))
    assert is_working_day(date(2027, 10, 1))  # a Friday; the 2027 holidays are not yet known
    assert not is_working_day(date(2027, 10, 2))  # Saturday
    assert not calendar_covers(date(2003, 6, 2))
    assert is_working_day(date(2003, 6, 2))  # Monday


def test_calendar_covers_years_with_official_data() -> None:
    assert calendar_covers(date(2004, 1, 1))
    assert calendar_covers(date(2026, 12, 31))


def test_zero_working_days_returns_the_start_date() -> None:
    assert add_working_days(date(2026, 10, 3), 0) == date(2026, 10, 3)


def test_adding_working_days_skips_ordinary_weekend() -> None:
    assert add_working_days(date(2026, 3, 6), 1) == date(2026, 3, 9)  # Friday -> Monday


def test_adding_working_days_skips_national_day_and_uses_make_up_saturday() -> None:
    # Wed 30 Sep 2026 + 1 working day: 1-7 Oct are off, Thu 8 Oct is the next working day.
    assert add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    # 8 Oct (Thu), 9 Oct (Fri), 10 Oct (make-up Sat).
    assert add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)


def test_adding_working_days_counts_make_up_sunday_before_national_day() -> None:
    assert add_working_days(date(2026, 9, 18), 1) == date(2026, 9, 20)  # Fri -> make-up Sun


def test_adding_working_days_across_spring_festival_2026() -> None:
    # Fri 13 Feb -> Sat 14 Feb (make-up) -> holiday to 23 Feb -> Tue 24 Feb.
    assert add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 14)
    assert add_working_days(date(2026, 2, 13), 2) == date(2026, 2, 24)


def test_plain_weekday_arithmetic_would_be_wrong_around_national_day() -> None:
    # 15 working days from Fri 25 Sep 2026: weekday-only arithmetic gives Fri 16 Oct;
    # China's calendar gives Thu 22 Oct (1-7 Oct off, make-up Saturday 10 Oct on).
    assert add_working_days(date(2026, 9, 25), 15) == date(2026, 10, 22)


def test_negative_working_days_are_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        add_working_days(date(2026, 3, 2), -1)


def test_working_days_between_excludes_start_and_includes_end() -> None:
    assert working_days_between(date(2026, 3, 2), date(2026, 3, 2)) == 0
    assert working_days_between(date(2026, 3, 2), date(2026, 3, 9)) == 5


def test_working_days_between_counts_national_day_make_up_days() -> None:
    # 21-30 Sep: 8 weekdays, minus Fri 25 Sep (Mid-autumn) = 7; 1-10 Oct: 8, 9, 10 Oct = 3.
    assert working_days_between(date(2026, 9, 20), date(2026, 10, 10)) == 10


def test_working_days_between_is_negative_when_reversed() -> None:
    assert working_days_between(date(2026, 3, 9), date(2026, 3, 2)) == -5


def test_working_days_between_inverts_add_working_days() -> None:
    start = date(2026, 9, 1)
    for n in range(30):
        assert working_days_between(start, add_working_days(start, n)) == n


def test_deadline_is_end_of_shanghai_business_day_in_utc() -> None:
    submitted = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)  # 10:00 Wed 30 Sep in Shanghai
    deadline = deadline_after(submitted, 1)
    assert deadline == datetime(2026, 10, 8, 15, 59, 59, 999999, tzinfo=UTC)
    assert deadline.utcoffset() == timedelta(0)
    assert deadline.astimezone(SHANGHAI).date() == date(2026, 10, 8)


def test_deadline_counts_from_the_shanghai_date_not_the_utc_date() -> None:
    # 17:00 UTC Fri 18 Sep is 01:00 Sat 19 Sep in Shanghai; next working day is Sun 20 Sep.
    submitted = datetime(2026, 9, 18, 17, 0, tzinfo=UTC)
    assert deadline_after(submitted, 1) == end_of_business_day(date(2026, 9, 20))


def test_end_of_business_day_is_last_microsecond_in_shanghai() -> None:
    end = end_of_business_day(date(2026, 3, 2)).astimezone(SHANGHAI)
    assert (end.hour, end.minute, end.second, end.microsecond) == (23, 59, 59, 999999)
    assert end.date() == date(2026, 3, 2)
