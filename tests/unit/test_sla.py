"""SLA clocks, pure: deadlines per clause, 调休, provisional years, pauses, escalation.

Rules: DOMAIN.md "Deadlines the seeds quote" — acknowledge within 24 hours, a full plan for
complex cases within 72 hours [002 承诺书]; on-site repair within 24 hours (Haier) [000];
"Regulator deadlines count in working days: China's calendar has make-up working days
(调休), so plain weekday arithmetic is wrong" (regulator transfers: acceptance within 7
working days, negotiation within 10, mediation within 45).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, get_args

import pytest
from pydantic import TypeAdapter, ValidationError

from services.routing import sla
from services.routing.roster import DEFAULT_ROSTER, escalation_target
from services.routing.sla_policy import (
    DEFAULT_POLICY,
    KNOWN_EVENTS,
    Clause,
    Elapsed,
    EventType,
    SlaPolicy,
    Within,
)
from shared.calendar import SHANGHAI, WorkCalendar, packaged_calendar

CALENDAR = packaged_calendar()
MONDAY_FRIDAY = WorkCalendar({})  # no official data: every year counted Mon–Fri


def shanghai(d: date, at: time = time(0)) -> datetime:
    return datetime.combine(d, at, tzinfo=SHANGHAI).astimezone(UTC)


def end_of(d: date) -> datetime:
    return shanghai(d, time(23, 59, 59, 999999))


def transfer(on: str | None, **extra: Any) -> dict[str, Any]:
    regulator: dict[str, Any] = {"regulator_id": "12315-sh", "transfer_number": "T1"}
    if on is not None:
        regulator["transferred_on"] = on
    return {"channel": "regulator", "regulator": regulator, **extra}


def clause(name: str) -> Clause:
    found = DEFAULT_POLICY.clause(name)
    assert found is not None
    return found


def deadline(name: str, payload: dict[str, Any], calendar: WorkCalendar = CALENDAR) -> sla.Due:
    received = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    chosen = clause(name)
    start, _ = sla.start_instant(chosen, payload, received, received)
    return sla.due_time(chosen.within.model_dump(exclude_none=True), start, [], calendar)


# --- the calendar: 2026's National Day 调休 (shared/data/china_workdays.json) -------------


def test_the_2026_data_has_the_national_day_make_up_days_this_suite_relies_on() -> None:
    days = CALENDAR.years[2026]
    assert date(2026, 9, 25) in days.holidays  # Friday: Mid-autumn, joined to National Day
    assert date(2026, 9, 20) in days.workdays  # the make-up Sunday before
    assert date(2026, 10, 10) in days.workdays  # the make-up Saturday after
    assert all(date(2026, 10, d) in days.holidays for d in range(1, 8))


def test_a_transfer_dated_the_friday_before_national_day_is_due_on_12_october() -> None:
    # From Friday 25 Sep (itself a holiday): 28, 29, 30 Sep, 8, 9, 10 (Sat, 调休), 12 Oct.
    due = deadline("regulator_accept", transfer("2026-09-25"))
    assert due.due_at == end_of(date(2026, 10, 12))
    assert not due.provisional
    assert due.calendar_version == CALENDAR.version
    weekdays_only = deadline("regulator_accept", transfer("2026-09-25"), MONDAY_FRIDAY)
    assert weekdays_only.due_at == end_of(date(2026, 10, 6))  # what plain weekdays would say


def test_the_make_up_sunday_counts_as_a_working_day() -> None:
    # Friday 18 Sep: 20 (Sun, 调休), 21, 22, 23, 24, 28, 29 Sep.
    due = deadline("regulator_accept", transfer("2026-09-18"))
    assert due.due_at == end_of(date(2026, 9, 29))


def test_negotiation_and_mediation_count_10_and_45_working_days_from_the_transfer() -> None:
    ten = deadline("regulator_negotiate", transfer("2026-09-25"))
    assert ten.due_at == end_of(CALENDAR.add_working_days(date(2026, 9, 25), 10))
    assert ten.due_at == end_of(date(2026, 10, 15))
    forty_five = deadline("regulator_mediate", transfer("2026-03-02"))
    assert forty_five.due_at == end_of(CALENDAR.add_working_days(date(2026, 3, 2), 45))


def test_without_a_transfer_date_the_clock_counts_from_receipt_and_says_so() -> None:
    received = datetime(2026, 9, 25, 1, 0, tzinfo=UTC)  # 09:00 Shanghai, Friday
    start, note = sla.start_instant(clause("regulator_accept"), transfer(None), received, received)
    assert start == received
    assert note is not None
    assert "receipt" in note


# --- years the calendar does not hold: Mon–Fri, provisional, revised once loaded ----------


def test_a_deadline_running_into_2027_is_counted_mon_to_fri_and_provisional() -> None:
    # Thursday 24 Dec 2026 + 10: 25, 28, 29, 30, 31 Dec, 1 (Fri), 4, 5, 6, 7 Jan 2027.
    due = deadline("regulator_negotiate", transfer("2026-12-24"))
    assert due.due_at == end_of(date(2027, 1, 7))
    assert due.provisional


def test_loading_2027_revises_the_provisional_deadline() -> None:
    clock = {
        "starts_at": shanghai(date(2026, 12, 24)).isoformat(),
        "within": {"working_days": 10},
        "pauses": [],
    }
    loaded = CALENDAR.with_year(2027, [date(2027, 1, 1)], [])
    revised = sla.redue(clock, loaded)
    assert revised.due_at == end_of(date(2027, 1, 8))
    assert not revised.provisional
    assert revised.calendar_version == loaded.version != CALENDAR.version


def test_elapsed_clauses_need_no_calendar_and_are_never_provisional() -> None:
    due = deadline("acknowledge", {"channel": "phone"})
    assert due.due_at == datetime(2026, 3, 3, 2, 0, tzinfo=UTC)  # 24 h [002 承诺书]
    assert not due.provisional
    assert due.calendar_version is None


# --- never crash on a date -----------------------------------------------------------------


@pytest.mark.parametrize(
    "start",
    [datetime(9999, 12, 30, tzinfo=UTC), datetime(9999, 12, 31, 15, 59, tzinfo=UTC)],
)
def test_a_deadline_past_year_9999_is_none_with_a_reason(start: datetime) -> None:
    due = sla.due_time({"working_days": 45}, start, [], CALENDAR)
    assert due.due_at is None
    assert due.reason
    assert "no deadline" in due.reason
    hours = sla.due_time({"hours": 72}, start, [], CALENDAR)
    assert hours.due_at is None
    assert hours.reason


def test_a_far_past_transfer_counts_mon_to_fri_provisionally() -> None:
    due = deadline("regulator_accept", transfer("1900-01-01"))
    assert due.due_at == end_of(date(1900, 1, 10))
    assert due.provisional


@pytest.mark.parametrize("bad", ["not-a-date", "2026-02-30", "+10000-01-01"])
def test_an_unusable_transfer_date_falls_back_to_receipt(bad: str) -> None:
    received = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    start, note = sla.start_instant(clause("regulator_accept"), transfer(bad), received, received)
    assert start == received
    assert note
    assert "unusable" in note


# --- pauses: time waiting for appraisal or inspection does not count ----------------------


def test_a_paused_elapsed_clock_is_due_later_by_the_time_paused() -> None:
    start = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    pause = (start + timedelta(hours=3), start + timedelta(hours=8))
    due = sla.due_time({"hours": 24}, start, [pause], CALENDAR)
    assert due.due_at == start + timedelta(hours=29)


def test_a_paused_working_day_clock_moves_by_the_working_days_paused() -> None:
    start = shanghai(date(2026, 3, 2))  # Monday
    plain = sla.due_time({"working_days": 7}, start, [], CALENDAR).due_at
    assert plain == end_of(date(2026, 3, 11))
    two_days = (shanghai(date(2026, 3, 3), time(10)), shanghai(date(2026, 3, 5), time(9)))
    assert sla.due_time({"working_days": 7}, start, [two_days], CALENDAR).due_at == end_of(
        date(2026, 3, 13)
    )
    weekend = (shanghai(date(2026, 3, 6), time(17)), shanghai(date(2026, 3, 9), time(9)))
    assert sla.due_time({"working_days": 7}, start, [weekend], CALENDAR).due_at == end_of(
        date(2026, 3, 12)
    )  # Friday to Monday: one working day (Monday) paused
    same_day = (shanghai(date(2026, 3, 3), time(10)), shanghai(date(2026, 3, 3), time(16)))
    assert sla.due_time({"working_days": 7}, start, [same_day], CALENDAR).due_at == plain


# --- which clauses apply -------------------------------------------------------------------


def test_the_plan_clock_runs_for_complex_cases_only() -> None:
    phone = {"channel": "phone"}
    assert [c.name for c in sla.clauses_on_receipt(DEFAULT_POLICY, phone, "normal")] == [
        "acknowledge"
    ]
    names = [c.name for c in sla.clauses_on_receipt(DEFAULT_POLICY, phone, "high")]
    assert names == ["acknowledge", "plan"]  # 复杂问题72小时 [002 承诺书]


def test_regulator_transfers_get_the_three_regulator_clocks() -> None:
    names = [c.name for c in sla.clauses_on_receipt(DEFAULT_POLICY, transfer("2026-09-25"), "high")]
    assert names == [
        "acknowledge",
        "plan",
        "regulator_accept",
        "regulator_negotiate",
        "regulator_mediate",
    ]


def test_a_brand_promise_is_data_on_site_repair_within_24_hours() -> None:
    haier = SlaPolicy(
        version="haier-2026-1",
        clauses=[
            *DEFAULT_POLICY.clauses,
            Clause(
                name="onsite_repair",
                sources=["phone", "web", "app"],
                within=Elapsed(hours=24),
                starts_at="OfferAccepted",
                met_by=["RemedyFulfilled"],
                source_doc="000 海尔: 24小时上门维修",
            ),
        ],
    )
    web = {"channel": "web"}
    assert [c.name for c in sla.clauses_on_event(haier, "OfferAccepted", web, "normal")] == [
        "onsite_repair"
    ]
    assert sla.clauses_on_event(haier, "OfferAccepted", transfer("2026-03-02"), "normal") == []


@pytest.mark.parametrize(
    "change",
    [
        {"met_by": ["NoSuchEvent"]},
        {"sources": ["fax"]},
        {"within": {"hours": 1, "working_days": 1}},
        {"within": {}},
        {"starts_at": "Whenever"},
    ],
)
def test_a_policy_naming_what_routing_does_not_know_is_refused(change: dict[str, Any]) -> None:
    body = {"name": "x", "sources": ["phone"], "within": {"hours": 1}, "met_by": ["ApologyIssued"]}
    with pytest.raises(ValidationError):
        Clause.model_validate({**body, **change})


def test_a_clause_name_used_twice_is_found() -> None:
    twice = SlaPolicy(version="v", clauses=[clause("acknowledge"), clause("acknowledge")])
    assert twice.repeated_names() == ["acknowledge"]  # the load refuses it (409)
    assert DEFAULT_POLICY.repeated_names() == []


def test_the_schema_names_every_event_a_policy_may_use() -> None:
    assert set(get_args(EventType)) == KNOWN_EVENTS


# --- breaches and escalation ---------------------------------------------------------------


def clock(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": status,
        "due_at": "2026-03-03T02:00:00+00:00",
        "escalations": 0,
        "next_escalation_at": None,
        "escalation": {"levels": ["supervisor", "crisis"], "again_after_s": 3600.0},
        **extra,
    }


def test_a_running_clock_is_due_at_its_deadline_and_not_before() -> None:
    deadline_at = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
    assert not sla.is_due(clock("running"), deadline_at - timedelta(microseconds=1))
    assert sla.is_due(clock("running"), deadline_at)
    assert not sla.is_due(clock("paused"), deadline_at + timedelta(days=9))
    assert not sla.is_due(clock("met"), deadline_at + timedelta(days=9))


def test_a_breached_clock_escalates_again_after_the_interval_up_to_the_top() -> None:
    now = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
    assert sla.next_escalation(clock("running"), now) == now + timedelta(hours=1)
    assert sla.next_escalation(clock("breached", escalations=1), now) is None
    once = clock("breached", escalations=1, next_escalation_at=now.isoformat())
    assert sla.is_due(once, now)
    assert not sla.is_due(clock("breached"), now)


def test_the_chain_goes_handler_supervisor_crisis_team() -> None:
    assert sla.next_level(None) == "supervisor"
    assert sla.next_level("supervisor") == "crisis"
    assert sla.next_level("crisis") is None
    # Who it reaches is the brand's roster's: the supervisor, then the top of the chain.
    assert escalation_target(DEFAULT_ROSTER, "frontline", 1) == ("senior", "senior-chen")
    top = len(DEFAULT_ROSTER.escalation_chain)
    assert escalation_target(DEFAULT_ROSTER, "senior", top) == ("crisis", "crisis-lead-liu")


@pytest.mark.parametrize("within", [{"hours": 10**20}, {"seconds": 2**63}, {"working_days": 10**9}])
def test_an_absurd_limit_is_refused_not_overflowed(within: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Within).validate_python(within)


@pytest.mark.parametrize(
    "field", [{"within": {"seconds": False}}, {"complex_only": "true"}, {"pausable": 1}]
)
def test_numbers_and_flags_take_their_json_types_only(field: dict[str, Any]) -> None:
    body = {"name": "x", "sources": ["phone"], "within": {"hours": 1}, "met_by": ["ApologyIssued"]}
    with pytest.raises(ValidationError):
        Clause.model_validate_json(json.dumps({**body, **field}))


def test_a_whole_number_written_as_a_float_is_a_number() -> None:
    assert TypeAdapter(Within).validate_json('{"working_days": 7.0}').working_days == 7
