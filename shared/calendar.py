"""China working-day calendar in Asia/Shanghai, including make-up working days (调休).

Official data comes from ``chinese_calendar``; years it does not cover fall back to Mon–Fri.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")

_END_OF_DAY = time(23, 59, 59, 999999)
_ONE_DAY = timedelta(days=1)


def business_date(instant: datetime) -> date:
    """Return the Shanghai calendar date of a timezone-aware instant."""
    return _require_aware(instant).astimezone(SHANGHAI).date()


def calendar_covers(d: date) -> bool:
    """Tell whether official holiday data exists for ``d`` (else Mon–Fri is assumed)."""
    return _official_working_day(d) is not None


def is_working_day(d: date) -> bool:
    """Tell whether ``d`` is a working day in mainland China.

    Public holidays are off and make-up weekend days (调休) are on. For years the
    ``chinese_calendar`` data does not cover, Monday to Friday are working days;
    callers that must flag this use :func:`calendar_covers`.
    """
    official = _official_working_day(d)
    return _is_weekday(d) if official is None else official


def add_working_days(start: date, n: int) -> date:
    """Return the date ``n`` working days after ``start`` (``start`` itself not counted).

    ``n == 0`` returns ``start`` unchanged, whether or not it is a working day.
    """
    if n < 0:
        raise ValueError(f"number of working days must be >= 0, got {n}")
    current = start
    for _ in range(n):
        current = _next_working_day(current)
    return current


def working_days_between(a: date, b: date) -> int:
    """Count working days ``d`` with ``a < d <= b``; negative when ``b`` is before ``a``.

    This is the inverse of :func:`add_working_days` whenever the result is a working day.
    """
    if b < a:
        return -working_days_between(b, a)
    return sum(1 for d in _days_after(a, b) if is_working_day(d))


def deadline_after(instant: datetime, working_days: int) -> datetime:
    """Return the end of the Shanghai business day ``working_days`` after ``instant``, in UTC.

    The deadline is 23:59:59.999999 Shanghai time of that day, returned UTC-aware.
    """
    due = add_working_days(business_date(instant), working_days)
    return end_of_business_day(due)


def end_of_business_day(d: date) -> datetime:
    """Return the last microsecond of Shanghai date ``d``, as a UTC-aware datetime."""
    return datetime.combine(d, _END_OF_DAY, tzinfo=SHANGHAI).astimezone(UTC)


def _official_working_day(d: date) -> bool | None:
    try:
        return bool(chinese_calendar.is_workday(d))
    except NotImplementedError:  # the package raises this for years outside its data
        return None


def _is_weekday(d: date) -> bool:
    return d.weekday() < 5


def _next_working_day(d: date) -> date:
    candidate = d + _ONE_DAY
    while not is_working_day(candidate):
        candidate += _ONE_DAY
    return candidate


def _days_after(a: date, b: date) -> list[date]:
    return [a + timedelta(days=offset) for offset in range(1, (b - a).days + 1)]


def _require_aware(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("instant must be timezone-aware")
    return instant
