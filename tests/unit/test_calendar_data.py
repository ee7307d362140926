"""Unit tests for the working-day calendar as versioned data (shared/data/china_workdays.json).

The packaged years are chinese-calendar 1.11.0's data (2004–2026), exported so that a
package upgrade cannot change a deadline silently; years loaded later make a new version.
National Day 2026: 10-01..10-07 off, make-up working days Sun 09-20 and Sat 10-10 (调休).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import chinese_calendar
import pytest

from services.followup.policies import plan_revisit
from shared.calendar import PACKAGED_DATA, WorkCalendar, packaged_calendar


def test_the_packaged_years_are_chinese_calendars_data_day_for_day() -> None:
    calendar = packaged_calendar()
    assert sorted(calendar.years) == list(range(2004, 2027))
    day = date(2004, 1, 1)
    while day <= date(2026, 12, 31):
        assert calendar.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


def test_the_data_file_names_its_source() -> None:
    data = json.loads(PACKAGED_DATA.read_text(encoding="utf-8"))
    assert "chinese-calendar 1.11.0" in data["source"]
    assert data["years"]["2026"]["holidays"]["2026-10-01"] == "National Day"


def test_national_day_2026_is_off_with_its_make_up_working_days() -> None:
    calendar = packaged_calendar()
    for day in range(1, 8):
        assert not calendar.is_working_day(date(2026, 10, day))
    assert calendar.is_working_day(date(2026, 9, 20))  # Sunday, 调休
    assert calendar.is_working_day(date(2026, 10, 10))  # Saturday, 调休
    assert calendar.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)


def test_the_version_is_a_content_hash_that_a_loaded_year_changes() -> None:
    packaged = packaged_calendar()
    assert packaged.version.startswith("cn-")
    assert WorkCalendar(packaged.years).version == packaged.version
    loaded = packaged.with_year(2027, [date(2027, 1, 1)], [])
    assert loaded.version != packaged.version
    assert packaged.with_year(2027, [date(2027, 1, 1)], []).version == loaded.version
    assert not packaged.covers(date(2027, 1, 1))  # the packaged calendar is unchanged
    assert loaded.covers(date(2027, 1, 1))
    assert not loaded.is_working_day(date(2027, 1, 1))


def test_a_year_not_covered_falls_back_to_monday_to_friday() -> None:
    calendar = packaged_calendar()
    assert not calendar.covers(date(2027, 10, 1))
    assert calendar.is_working_day(date(2027, 10, 1))  # a Friday, no data
    assert not calendar.is_working_day(date(2027, 10, 2))


@pytest.mark.parametrize(
    ("holidays", "workdays", "message"),
    [
        ([date(2026, 12, 31)], [], "outside 2027"),
        ([date(2027, 1, 1)], [date(2027, 1, 1)], "both a holiday and a working day"),
    ],
)
def test_a_malformed_year_is_refused(
    holidays: list[date], workdays: list[date], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        packaged_calendar().with_year(2027, holidays, workdays)


def test_a_revisit_records_the_calendar_version_it_used() -> None:
    agreed = datetime(2026, 12, 30, 2, 0, tzinfo=UTC)  # Wed 30 Dec, Shanghai
    packaged = plan_revisit("cause", agreed)
    assert packaged.calendar_version == packaged_calendar().version
    assert packaged.due_date == date(2027, 1, 4)  # 31 Dec, (1 Jan on Mon–Fri fallback), 4 Jan
    assert not packaged.calendar_covered
    loaded = packaged_calendar().with_year(2027, [date(2027, 1, 1)], [])
    planned = plan_revisit("cause", agreed, loaded)
    assert planned.calendar_version == loaded.version
    assert planned.due_date == date(2027, 1, 5)  # New Year's Day is off in the loaded year
    assert planned.calendar_covered
