"""SLA clocks, pure: which clauses apply, when each is due, pauses, breaches and escalation.

No clock and no I/O: times come from the recorded input being processed, the working-day
calendar is passed in (`shared.calendar.WorkCalendar`, the packaged years plus those
loaded), so a replay recomputes every deadline exactly. Deadlines in working days end at
23:59:59.999999 Shanghai [DOMAIN.md: regulator deadlines count in working days, 调休
included]; a deadline running into a year the calendar does not hold is counted Mon–Fri
and marked provisional, to be revised when the year is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from services.routing.sla_policy import Clause, SlaPolicy
from shared.calendar import SHANGHAI, WorkCalendar, business_date

COMPLEX_SEVERITIES = ("high", "critical")
LEVEL_RANK = {"handler": 0, "supervisor": 1, "crisis": 2}
# Clock states: running → met | breached (→ met late) | stopped; running ⇄ paused.
OPEN_STATES = ("running", "paused", "breached")
Span = tuple[datetime, datetime]


@dataclass(frozen=True)
class Due:
    """When a clock is due; None with the reason when no deadline can be computed."""

    due_at: datetime | None
    provisional: bool
    calendar_version: str | None
    reason: str | None = None


def source_of(payload: Mapping[str, Any]) -> str:
    """The source a clause names: "regulator" for transfers, else the channel."""
    return "regulator" if payload.get("regulator") else str(payload.get("channel", ""))


def applies(clause: Clause, payload: Mapping[str, Any], severity: str | None) -> bool:
    """Whether a clause covers this complaint (its source; complex cases only if so marked)."""
    if source_of(payload) not in clause.sources:
        return False
    return not clause.complex_only or severity in COMPLEX_SEVERITIES


def clauses_on_receipt(
    policy: SlaPolicy, payload: Mapping[str, Any], severity: str | None
) -> list[Clause]:
    """The clauses whose clocks start when the complaint (or the transfer) arrives."""
    return [
        c
        for c in policy.clauses
        if c.starts_at in ("received", "transferred") and applies(c, payload, severity)
    ]


def clauses_on_event(
    policy: SlaPolicy, event_type: str, payload: Mapping[str, Any], severity: str | None
) -> list[Clause]:
    """The clauses whose clocks start at an event of `event_type`."""
    return [
        c for c in policy.clauses if c.starts_at == event_type and applies(c, payload, severity)
    ]


def start_instant(
    clause: Clause, payload: Mapping[str, Any], received_at: datetime, event_at: datetime
) -> tuple[datetime, str | None]:
    """When the clock starts, and a note when the transfer date could not be used.

    "transferred" counts from the regulator's transfer date (00:00 Shanghai of that day);
    without one, from the moment the complaint was received.
    """
    if clause.starts_at == "received":
        return received_at, None
    if clause.starts_at != "transferred":
        return event_at, None
    transferred_on = (payload.get("regulator") or {}).get("transferred_on")
    if not transferred_on:
        return received_at, "no transfer date given: counted from receipt"
    try:
        day = date.fromisoformat(str(transferred_on))
        return datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(UTC), None
    except (ValueError, OverflowError):
        return received_at, f"transfer date {str(transferred_on)[:32]!r} unusable: from receipt"


def due_time(
    within: Mapping[str, Any],
    starts_at: datetime,
    pauses: Sequence[Span],
    calendar: WorkCalendar,
) -> Due:
    """The deadline of a clock started at `starts_at` and paused over `pauses`.

    Elapsed limits add the paused time; working-day limits add the working days paused
    (working days after the day paused, up to the day resumed). Never raises on a date.
    """
    try:
        working_days = within.get("working_days")
        if working_days is None:
            paused = sum((end - start for start, end in pauses), timedelta())
            return Due(starts_at + _elapsed(within) + paused, False, None)
        extra = sum(
            calendar.working_days_between(business_date(start), business_date(end))
            for start, end in pauses
        )
        due_at = calendar.deadline_after(starts_at, int(working_days) + max(0, extra))
        days = [business_date(starts_at), business_date(due_at)]
        days += [business_date(t) for span in pauses for t in span]
        provisional = not all(calendar.covers(date(y, 1, 1)) for y in _years(days))
        return Due(due_at, provisional, calendar.version)
    except (OverflowError, ValueError) as error:
        reason = f"no deadline: {type(error).__name__} ({str(error)[:80]})"
        return Due(None, False, calendar.version, reason)


def _elapsed(within: Mapping[str, Any]) -> timedelta:
    return timedelta(
        hours=within.get("hours") or 0,
        minutes=within.get("minutes") or 0,
        seconds=within.get("seconds") or 0,
    )


def _years(days: Sequence[date]) -> range:
    return range(min(d.year for d in days), max(d.year for d in days) + 1)


# --- the state of one clock, as the aggregate keeps it ---------------------------------


def iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat()


def parse(at: str | None) -> datetime | None:
    return None if at is None else datetime.fromisoformat(at)


def pauses_of(clock: Mapping[str, Any]) -> list[Span]:
    return [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in clock["pauses"]]


def redue(clock: Mapping[str, Any], calendar: WorkCalendar, extra: Sequence[Span] = ()) -> Due:
    """A clock's deadline recomputed on `calendar`, with its pauses (and `extra` ones)."""
    started = datetime.fromisoformat(clock["starts_at"])
    return due_time(clock["within"], started, [*pauses_of(clock), *extra], calendar)


def is_due(clock: Mapping[str, Any], now: datetime) -> bool:
    """A running clock past its deadline (to breach), or a breached one due to escalate."""
    if clock["status"] == "running":
        due_at = parse(clock["due_at"])
        return due_at is not None and due_at <= now
    if clock["status"] == "breached":
        following = parse(clock.get("next_escalation_at"))
        return following is not None and following <= now
    return False


def next_escalation(clock: Mapping[str, Any], now: datetime) -> datetime | None:
    """When the clause escalates again after one done at `now` (None: end of the chain)."""
    escalation = clock["escalation"]
    again_s = escalation.get("again_after_s")
    if again_s is None or clock["escalations"] + 1 >= len(escalation["levels"]):
        return None
    try:
        return now + timedelta(seconds=again_s)
    except OverflowError:
        return None


def next_level(current: str | None) -> str | None:
    """The level above the case's current one on the chain handler → supervisor → crisis."""
    rank = LEVEL_RANK.get(current or "handler", 0)
    above = [level for level, r in LEVEL_RANK.items() if r == rank + 1]
    return above[0] if above else None


def earliest_due(clocks: Mapping[str, Mapping[str, Any]]) -> datetime | None:
    """The earliest deadline of the running clocks, None when none runs."""
    dues = [parse(c["due_at"]) for c in clocks.values() if c["status"] == "running"]
    return min((d for d in dues if d is not None), default=None)
