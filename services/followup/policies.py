"""Followup policies: when and how to revisit, on China's working-day calendar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from shared.calendar import WorkCalendar, business_date, packaged_calendar
from shared.store import derive_id

REVISIT_AFTER_WORKING_DAYS = 3  # revisit once the remedy has had time to be carried out
ACKNOWLEDGE_WITHIN = timedelta(hours=24)  # [002 承诺书]
PLAN_WITHIN = timedelta(hours=72)  # complex cases: a full plan within 72 hours [002 承诺书]


def promise_clocks(received_at: datetime) -> tuple[datetime, datetime]:
    """When the consumer must have been acknowledged, and have a full plan."""
    return received_at + ACKNOWLEDGE_WITHIN, received_at + PLAN_WITHIN


@dataclass(frozen=True)
class RevisitPlan:
    revisit_id: str
    due_date: date
    channel: str
    calendar_covered: bool
    calendar_version: str


def plan_revisit(
    cause_event_id: str, agreed_at: datetime, calendar: WorkCalendar | None = None
) -> RevisitPlan:
    """Step 10: a phone revisit N Shanghai working days after the remedy was agreed."""
    calendar = calendar or packaged_calendar()
    start = business_date(agreed_at)
    due = calendar.add_working_days(start, REVISIT_AFTER_WORKING_DAYS)
    return RevisitPlan(
        revisit_id=str(derive_id(cause_event_id, "revisit")),
        due_date=due,
        channel="phone",
        calendar_covered=calendar.covers(start) and calendar.covers(due),
        calendar_version=calendar.version,
    )
