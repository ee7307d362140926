"""China working-day calendar in Asia/Shanghai, including make-up working days (调休).

The calendar is versioned data: the years packaged in ``shared/data/china_workdays.json``
(exported from chinese-calendar 1.11.0, 2004–2026) plus years loaded later, each load
recorded as an input. A `WorkCalendar`'s version is a hash of its content, and every
deadline records the version it used. Years not covered fall back to Mon–Fri.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
PACKAGED_DATA = Path(__file__).parent / "data" / "china_workdays.json"

_END_OF_DAY = time(23, 59, 59, 999999)
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class YearDays:
    """One year's official exceptions: public holidays off, make-up days (调休) on."""

    holidays: frozenset[date]
    workdays: frozenset[date]

    def as_json(self) -> dict[str, list[str]]:
        return {
            "holidays": sorted(d.isoformat() for d in self.holidays),
            "workdays": sorted(d.isoformat() for d in self.workdays),
        }


class WorkCalendar:
    """Working days of mainland China for the years it holds; Mon–Fri for the others."""

    def __init__(self, years: Mapping[int, YearDays]) -> None:
        self.years: dict[int, YearDays] = dict(sorted(years.items()))
        canonical = json.dumps(
            {str(y): days.as_json() for y, days in self.years.items()}, sort_keys=True
        )
        self.version = "cn-" + hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def with_year(
        self, year: int, holidays: Iterable[date], workdays: Iterable[date]
    ) -> WorkCalendar:
        """A new calendar with `year` (re)placed; dates outside the year are refused."""
        days = YearDays(frozenset(holidays), frozenset(workdays))
        stray = [d for d in days.holidays | days.workdays if d.year != year]
        if stray:
            raise ValueError(f"dates outside {year}: {sorted(stray)[:3]}")
        if days.holidays & days.workdays:
            raise ValueError(f"{year}: a date cannot be both a holiday and a working day")
        return WorkCalendar({**self.years, year: days})

    def covers(self, d: date) -> bool:
        """Tell whether official data exists for ``d``'s year (else Mon–Fri is assumed)."""
        return d.year in self.years

    def is_working_day(self, d: date) -> bool:
        """Holidays are off, make-up days on, other days Mon–Fri (as chinese-calendar)."""
        days = self.years.get(d.year)
        if days is not None:
            if d in days.workdays:
                return True
            if d in days.holidays:
                return False
        return d.weekday() < 5

    def add_working_days(self, start: date, n: int) -> date:
        """The date ``n`` working days after ``start`` (``start`` itself not counted)."""
        if n < 0:
            raise ValueError(f"number of working days must be >= 0, got {n}")
        current = start
        for _ in range(n):
            current += _ONE_DAY
            while not self.is_working_day(current):
                current += _ONE_DAY
        return current

    def working_days_between(self, a: date, b: date) -> int:
        """Working days ``d`` with ``a < d <= b``; negative when ``b`` is before ``a``."""
        if b < a:
            return -self.working_days_between(b, a)
        days = (a + timedelta(days=offset) for offset in range(1, (b - a).days + 1))
        return sum(1 for d in days if self.is_working_day(d))

    def deadline_after(self, instant: datetime, working_days: int) -> datetime:
        """The end of the Shanghai business day ``working_days`` after ``instant``, in UTC."""
        return end_of_business_day(self.add_working_days(business_date(instant), working_days))


def parse_year(year: int, data: Mapping[str, Any]) -> YearDays:
    """A year from JSON: ``holidays`` and ``workdays`` as ISO dates (lists or date → name)."""
    holidays = frozenset(date.fromisoformat(d) for d in data.get("holidays", ()))
    workdays = frozenset(date.fromisoformat(d) for d in data.get("workdays", ()))
    return WorkCalendar({}).with_year(year, holidays, workdays).years[year]


@cache
def packaged_calendar() -> WorkCalendar:
    """The calendar shipped with the code (``shared/data/china_workdays.json``)."""
    data = json.loads(PACKAGED_DATA.read_text(encoding="utf-8"))
    return WorkCalendar({int(y): parse_year(int(y), days) for y, days in data["years"].items()})


# --- the packaged calendar, as plain functions ------------------------------------------


def business_date(instant: datetime) -> date:
    """Return the Shanghai calendar date of a timezone-aware instant."""
    return _require_aware(instant).astimezone(SHANGHAI).date()


def calendar_covers(d: date) -> bool:
    """Tell whether official holiday data exists for ``d`` (else Mon–Fri is assumed)."""
    return packaged_calendar().covers(d)


def is_working_day(d: date) -> bool:
    """Tell whether ``d`` is a working day in mainland China (packaged calendar).

    Public holidays are off and make-up weekend days (调休) are on. For years the data
    does not cover, Monday to Friday are working days; callers that must flag this use
    :func:`calendar_covers`.
    """
    return packaged_calendar().is_working_day(d)


def add_working_days(start: date, n: int) -> date:
    """Return the date ``n`` working days after ``start`` (``start`` itself not counted).

    ``n == 0`` returns ``start`` unchanged, whether or not it is a working day.
    """
    return packaged_calendar().add_working_days(start, n)


def working_days_between(a: date, b: date) -> int:
    """Count working days ``d`` with ``a < d <= b``; negative when ``b`` is before ``a``.

    This is the inverse of :func:`add_working_days` whenever the result is a working day.
    """
    return packaged_calendar().working_days_between(a, b)


def deadline_after(instant: datetime, working_days: int) -> datetime:
    """Return the end of the Shanghai business day ``working_days`` after ``instant``, in UTC.

    The deadline is 23:59:59.999999 Shanghai time of that day, returned UTC-aware.
    """
    return packaged_calendar().deadline_after(instant, working_days)


def end_of_business_day(d: date) -> datetime:
    """Return the last microsecond of Shanghai date ``d``, as a UTC-aware datetime."""
    return datetime.combine(d, _END_OF_DAY, tzinfo=SHANGHAI).astimezone(UTC)


def _require_aware(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("instant must be timezone-aware")
    return instant
