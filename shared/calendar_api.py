"""The working-day calendar over HTTP, one router for every service that counts working days.

`GET /v1/calendar/working-days` (viewer) lists the working days of a range and says, per
year, whether official data or Mon–Fri was used; `GET /v1/calendar/years` (viewer) the
years known, each with its source; `PUT /v1/calendar/years/{year}` (admin for all brands)
loads a year the State Council published after the packaged data, recorded as an input
(`ServiceApplication.load_calendar_year`), so a replay counts with it too.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from shared.auth import BrandScope, ops_scope
from shared.calendar import WorkCalendar, YearDays
from shared.errors import Unprocessable, error_responses
from shared.service import runtime_of
from shared.store import ServiceApplication

PACKAGED_SOURCE = "chinese-calendar 1.11.0 (shared/data/china_workdays.json)"
MAX_RANGE_DAYS = 366
MIN_YEAR, MAX_YEAR = 2000, 2100
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: object) -> object:
    """A date as JSON Schema's `format: date` has it: `YYYY-MM-DD`, never a number."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError("must be a date, YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
Name = Annotated[str, Field(max_length=100)]
# A year's dates: a list, or date → name (as shared/data/china_workdays.json has them).
Holidays = (
    Annotated[list[IsoDate], Field(min_length=1, max_length=366)]
    | Annotated[dict[IsoDate, Name], Field(min_length=1, max_length=366)]
)
Workdays = (
    Annotated[list[IsoDate], Field(max_length=366)]
    | Annotated[dict[IsoDate, Name], Field(max_length=366)]
)


# --- a year's document: validation (pure) ----------------------------------------------


class YearDocument(BaseModel):
    """One year of the State Council's schedule: days off, and the weekend days worked."""

    model_config = ConfigDict(extra="forbid")
    holidays: Holidays = Field(
        description="Public holidays (days off), as a list of dates or date → name."
    )
    workdays: Workdays = Field(
        default=[],
        description="Make-up working days (调休): weekend days worked, list or date → name.",
    )
    source: str = Field(
        min_length=1,
        max_length=500,
        description="Where it comes from, e.g. 国务院办公厅关于2027年部分节假日安排的通知.",
    )


def year_problems(
    year: int, holidays: Iterable[date], workdays: Iterable[date]
) -> list[dict[str, Any]]:
    """What is wrong with a year's schedule, each with where (`loc`) and what (`msg`)."""
    problems: list[dict[str, Any]] = []
    holidays, workdays = sorted(set(holidays)), sorted(set(workdays))

    def problem(field: str, day: date | None, msg: str, kind: str) -> None:
        loc = ["body", field, *([day.isoformat()] if day else [])]
        problems.append({"loc": loc, "msg": msg, "type": kind})

    if not holidays:
        problem("holidays", None, f"{year} lists no public holiday", "no_holidays")
    for field, days in (("holidays", holidays), ("workdays", workdays)):
        for day in days:
            if day.year != year:
                problem(field, day, f"{day} is not in {year}", "outside_year")
    for day in sorted(set(holidays) & set(workdays)):
        problem("workdays", day, f"{day} is listed both as a holiday and a workday", "both")
    for day in workdays:
        if day.weekday() < 5:
            msg = f"{day} is a weekday: a make-up day (调休) is a weekend day"
            problem("workdays", day, msg, "weekday")
    return problems


def checked_year(year: int, holidays: Iterable[date], workdays: Iterable[date]) -> YearDays:
    """The year's days, or `Unprocessable` naming every problem."""
    holidays, workdays = frozenset(holidays), frozenset(workdays)
    problems = year_problems(year, holidays, workdays)
    if problems:
        raise Unprocessable(f"{year}: {problems[0]['msg']}", errors=problems)
    return YearDays(holidays, workdays)


def document_days(raw: Mapping[str, Any] | YearDocument) -> tuple[list[date], list[date]]:
    """Holidays and workdays of a year document (lists, or date → name as the packaged data)."""
    document = raw if isinstance(raw, YearDocument) else YearDocument.model_validate(raw)
    return list(document.holidays), list(document.workdays)


# --- reading the calendar (pure) -----------------------------------------------------------


def checked_range(start: date, end: date) -> None:
    """A range the endpoint serves: `to` not before `from`, at most 366 days (both counted)."""
    if end < start:
        raise Unprocessable("to: must not be before from", errors=[_query_error("to", "before")])
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise Unprocessable(
            f"to: a range is at most {MAX_RANGE_DAYS} days", errors=[_query_error("to", "range")]
        )


def working_days(calendar: WorkCalendar, start: date, end: date) -> dict[str, Any]:
    """The working days from `start` to `end` (both included) and the data each year used."""
    days = [start + timedelta(days=offset) for offset in range((end - start).days + 1)]
    working = [d for d in days if calendar.is_working_day(d)]
    years = sorted({d.year for d in days})
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "count": len(working),
        "working_days": [d.isoformat() for d in working],
        "years": [
            {"year": y, "basis": "official" if y in calendar.years else "mon_fri_assumed"}
            for y in years
        ],
        "calendar_version": calendar.version,
    }


def years_known(app: ServiceApplication) -> dict[str, Any]:
    """Each year the calendar holds, with its source: packaged, or loaded (what, when, who)."""
    calendar = app.calendar
    last_load = {loaded.year: loaded for loaded in app.calendar_loads()}
    years = []
    for year, days in calendar.years.items():
        loaded = last_load.get(year)
        entry: dict[str, Any] = {
            "year": year,
            "holidays": len(days.holidays),
            "workdays": len(days.workdays),
            "origin": "loaded" if loaded else "packaged",
            "source": loaded.source if loaded else PACKAGED_SOURCE,
            "loaded_at": loaded.modified_on.isoformat() if loaded else None,
            "loaded_by": loaded.loaded_by if loaded else None,
        }
        years.append(entry)
    return {
        "calendar_version": calendar.version,
        "years": years,
        "other_years": "Monday to Friday assumed; deadlines counted with them are provisional",
    }


def load_year(
    app: ServiceApplication, year: int, days: YearDays, source: str, by: str, at: datetime
) -> tuple[bool, bool, str]:
    """Load the year unless the calendar holds exactly these days already (idempotent);
    returns (recorded, was the year known before, calendar version)."""
    with app.write_lock:
        known = app.calendar.years.get(year)
        if known == days:
            return False, True, app.calendar.version
        version = app.load_calendar_year(
            year, sorted(days.holidays), sorted(days.workdays), source, at, loaded_by=by
        )
        return True, known is not None, version


def _query_error(name: str, kind: str) -> dict[str, Any]:
    msg = "must not be before from" if kind == "before" else f"at most {MAX_RANGE_DAYS} days"
    return {"loc": ["query", name], "msg": msg, "type": kind}


# --- the router -------------------------------------------------------------------------------


class YearBasis(BaseModel):
    year: int
    basis: Literal["official", "mon_fri_assumed"]


class WorkingDays(BaseModel):
    from_: str = Field(alias="from", json_schema_extra={"format": "date"})
    to: str = Field(json_schema_extra={"format": "date"})
    count: int
    working_days: list[Annotated[str, Field(json_schema_extra={"format": "date"})]]
    years: list[YearBasis]
    calendar_version: str


class KnownYear(BaseModel):
    year: int
    holidays: int
    workdays: int
    origin: Literal["packaged", "loaded"]
    source: str
    loaded_at: str | None
    loaded_by: str | None


class KnownYears(BaseModel):
    calendar_version: str
    years: list[KnownYear]
    other_years: str


class YearLoaded(BaseModel):
    year: int
    recorded: bool = Field(description="False: the calendar held exactly these days already.")
    calendar_version: str


calendar_router = APIRouter(prefix="/v1/calendar", tags=["calendar"])
Viewer = Annotated[BrandScope, Depends(ops_scope("viewer"))]
PlatformAdmin = Annotated[BrandScope, Depends(ops_scope("admin", all_brands=True))]


@calendar_router.get(
    "/working-days",
    response_model=WorkingDays,
    response_model_by_alias=True,
    responses=error_responses(401, 403, 422),
    summary="The China working days of a range (调休 aware), and the data each year used",
)
async def get_working_days(
    request: Request,
    _: Viewer,
    start: Annotated[IsoDate, Query(alias="from", description="First day (included).")],
    end: Annotated[IsoDate, Query(alias="to", description="Last day (included).")],
) -> dict[str, Any]:
    """At most 366 days; a year without official data is counted Monday to Friday and says
    so (`basis`)."""
    checked_range(start, end)
    application: ServiceApplication = runtime_of(request).application
    calendar = await asyncio.to_thread(lambda: application.calendar)  # the first read loads
    return working_days(calendar, start, end)


@calendar_router.get(
    "/years",
    response_model=KnownYears,
    responses=error_responses(401, 403),
    summary="The years the working-day calendar knows, each with its source",
)
async def get_years(request: Request, _: Viewer) -> dict[str, Any]:
    application: ServiceApplication = runtime_of(request).application
    return await asyncio.to_thread(years_known, application)


@calendar_router.put(
    "/years/{year}",
    response_model=YearLoaded,
    responses={
        200: {"description": "Replaced, or already held with exactly these days"},
        201: {"description": "Loaded: the calendar did not know this year"},
        **error_responses(401, 403, 422),
    },
    summary="Load a year's holidays and make-up days (admin for all brands)",
)
async def put_year(
    request: Request,
    response: Response,
    document: YearDocument,
    scope: PlatformAdmin,
    year: Annotated[int, Path(ge=MIN_YEAR, le=MAX_YEAR)],
) -> YearLoaded:
    """Recorded as an input of this service (a replay counts with it); the same days again
    record nothing. Deadlines this service counted as provisional are revised."""
    holidays, workdays = document_days(document)
    days = checked_year(year, holidays, workdays)
    application: ServiceApplication = runtime_of(request).application
    recorded, known, version = await asyncio.to_thread(
        load_year, application, year, days, document.source, scope.claims.sub, datetime.now(UTC)
    )
    response.status_code = 200 if known else 201
    return YearLoaded(year=year, recorded=recorded, calendar_version=version)
