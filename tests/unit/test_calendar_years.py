"""A year's schedule loaded as data, the ranges the calendar API serves, and a regulator
transfer's deadline counted from the regulator's transfer date.

2026 facts: 国务院办公厅关于2026年部分节假日安排的通知 (as packaged from chinese-calendar
1.11.0): 中秋 09-25..09-27 and 国庆 10-01..10-07 off, Sunday 09-20 and Saturday 10-10 worked.
Regulator deadlines count working days (市场监督管理投诉举报处理暂行办法: "自收到投诉之日起
七个工作日内作出受理或者不予受理的决定"; mediation ends when no agreement is reached "自投诉受理
之日起四十五个工作日内").
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.intake.transfer_deadlines import transfer_date, transfer_deadline
from shared.calendar import YearDays, packaged_calendar
from shared.calendar_api import (
    YearDocument,
    checked_range,
    checked_year,
    document_days,
    working_days,
    year_problems,
)
from shared.errors import Unprocessable

SHANGHAI = ZoneInfo("Asia/Shanghai")


def kinds(year: int, holidays: list[str], workdays: list[str]) -> list[tuple[str, str]]:
    problems = year_problems(
        year, map(date.fromisoformat, holidays), map(date.fromisoformat, workdays)
    )
    return [(p["type"], p["loc"][-1]) for p in problems]


def test_a_schedule_like_the_state_councils_has_no_problem() -> None:
    packaged = packaged_calendar().years[2026]
    assert year_problems(2026, packaged.holidays, packaged.workdays) == []


def test_a_date_outside_the_year_is_named() -> None:
    assert kinds(2027, ["2027-01-01", "2026-12-31"], []) == [("outside_year", "2026-12-31")]


def test_a_date_both_off_and_worked_is_named() -> None:
    assert ("both", "2027-01-02") in kinds(2027, ["2027-01-01", "2027-01-02"], ["2027-01-02"])


def test_a_weekday_cannot_be_a_make_up_day() -> None:
    """调休 moves work onto a weekend day: a Monday to Friday is a working day anyway."""
    assert kinds(2027, ["2027-01-01"], ["2027-01-08"]) == [("weekday", "2027-01-08")]


def test_a_year_without_a_public_holiday_is_refused() -> None:
    assert kinds(2027, [], []) == [("no_holidays", "holidays")]


def test_checked_year_raises_one_422_listing_every_problem() -> None:
    with pytest.raises(Unprocessable) as refused:
        checked_year(2027, [date(2026, 12, 31)], [date(2027, 1, 8)])
    assert len(refused.value.extra["errors"]) == 2
    days = checked_year(2027, [date(2027, 1, 1)], [date(2027, 1, 9)])
    assert days == YearDays(frozenset({date(2027, 1, 1)}), frozenset({date(2027, 1, 9)}))


@pytest.mark.parametrize(
    "document",
    [
        {"holidays": {"2027-01-01": "元旦"}, "workdays": {"2027-01-09": "元旦"}, "source": "s"},
        {"holidays": ["2027-01-01"], "workdays": ["2027-01-09"], "source": "s"},
    ],
    ids=["date-to-name", "lists"],
)
def test_a_year_document_takes_lists_or_date_to_name_as_the_packaged_data(
    document: dict[str, Any],
) -> None:
    assert document_days(document) == ([date(2027, 1, 1)], [date(2027, 1, 9)])


@pytest.mark.parametrize(
    "document",
    [
        {"holidays": [20270101], "source": "s"},
        {"holidays": ["2027-1-1"], "source": "s"},
        {"holidays": ["2027-02-30"], "source": "s"},
        {"holidays": ["2027-01-01"]},
        {"holidays": ["2027-01-01"], "source": "s", "names": {}},
    ],
    ids=["number", "short-date", "no-such-day", "no-source", "unknown-field"],
)
def test_a_year_document_out_of_its_schema_is_refused(document: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        YearDocument.model_validate(document)


def test_a_range_is_at_most_366_days_and_never_backwards() -> None:
    checked_range(date(2028, 1, 1), date(2028, 12, 31))  # a leap year: 366 days
    checked_range(date(2026, 1, 1), date(2027, 1, 1))  # 366 days, both counted
    checked_range(date(2026, 1, 1), date(2026, 1, 1))
    for start, end in [(date(2026, 1, 1), date(2027, 1, 2)), (date(2026, 1, 2), date(2026, 1, 1))]:
        with pytest.raises(Unprocessable):
            checked_range(start, end)


def test_working_days_near_the_end_of_time_do_not_overflow() -> None:
    counted = working_days(packaged_calendar(), date(9999, 12, 25), date(9999, 12, 31))
    assert counted["count"] == 5
    assert counted["years"] == [{"year": 9999, "basis": "mon_fri_assumed"}]


def test_a_transfer_deadline_counts_from_the_regulators_date_across_the_make_up_sunday() -> None:
    """Friday 2026-09-18 + 7 working days: 09-20 (调休), 21, 22, 23, 24, 28, 29."""
    deadline = transfer_deadline(packaged_calendar(), date(2026, 9, 18), 7)
    assert deadline.deadline_at == datetime.combine(
        date(2026, 9, 29), time(23, 59, 59, 999999), tzinfo=SHANGHAI
    )
    assert deadline.provisional is False
    assert deadline.calendar_version == packaged_calendar().version


def test_a_transfer_deadline_into_a_year_without_data_is_provisional() -> None:
    """2026-12-01 + 45 working days (mediation): past 2026-12-31 into 2027, Mon–Fri assumed."""
    deadline = transfer_deadline(packaged_calendar(), date(2026, 12, 1), 45)
    assert deadline.deadline_at.astimezone(SHANGHAI).year == 2027
    assert deadline.provisional is True
    loaded = packaged_calendar().with_year(2027, [date(2027, 1, 1)], [])
    assert transfer_deadline(loaded, date(2026, 12, 1), 45).provisional is False


def test_a_transfer_without_a_date_counts_from_the_shanghai_day_it_was_received() -> None:
    late_evening_utc = datetime(2026, 9, 17, 16, 30, tzinfo=UTC)  # 00:30 on the 18th
    assert transfer_date(None, late_evening_utc) == date(2026, 9, 18)
    assert transfer_date("2026-09-01", late_evening_utc) == date(2026, 9, 1)
