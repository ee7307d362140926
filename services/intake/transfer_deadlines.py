"""A regulator transfer's deadline: N China working days from the regulator's transfer date.

The law counts from the day the 消协 / 12315 transferred the complaint, not from when the
request reached us. A span that runs into a year the calendar has no official data for is
counted Monday to Friday and marked provisional; when that year is loaded, intake revises
the deadline (`TransferDeadlineRevised`). Pure: the calendar and dates come in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent

from shared.calendar import WorkCalendar, business_date, end_of_business_day
from shared.store import EventMeta, ServiceApplication

TRANSFER_TOPIC = "intake.Complaint.RegulatorTransferReceived"


@dataclass(frozen=True)
class TransferDeadline:
    """When the regulator expects the outcome, and whether a year of it was assumed Mon–Fri."""

    transferred_on: date
    deadline_at: datetime
    provisional: bool
    calendar_version: str

    def as_record(self) -> dict[str, Any]:
        return {
            "transferred_on": self.transferred_on.isoformat(),
            "deadline_at": self.deadline_at.isoformat(),
            "deadline_provisional": self.provisional,
            "calendar_version": self.calendar_version,
        }


def transfer_deadline(
    calendar: WorkCalendar, transferred_on: date, working_days: int
) -> TransferDeadline:
    """The end of the Shanghai day `working_days` working days after the transfer date."""
    due = calendar.add_working_days(transferred_on, working_days)
    unknown = any(year not in calendar.years for year in range(transferred_on.year, due.year + 1))
    return TransferDeadline(transferred_on, end_of_business_day(due), unknown, calendar.version)


def transfer_date(stated: str | None, received_at: datetime) -> date:
    """The regulator's transfer date; absent, the Shanghai date the transfer was received."""
    return date.fromisoformat(stated) if stated else business_date(received_at)


def revise_deadlines(app: ServiceApplication, year: int, processing: ProcessingEvent[UUID]) -> int:
    """Recount the deadlines of transfers whose span may touch `year` (just loaded); record
    each that changed, or stopped being provisional. Returns how many were revised."""
    revised = 0
    for complaint_id in _transfers_near(app, year):
        complaint = app.repository.get(complaint_id)
        regulator = complaint.regulator or {}
        on = transfer_date(regulator.get("transferred_on"), complaint.created_on)
        recount = transfer_deadline(app.calendar, on, regulator["deadline_working_days"])
        if (recount.deadline_at.isoformat(), recount.provisional) == (
            regulator["deadline_at"],
            bool(regulator.get("deadline_provisional")),
        ):
            continue
        complaint.revise_transfer_deadline(
            meta=EventMeta(complaint.brand_id, complaint.trace_id, None),
            previous_deadline_at=regulator["deadline_at"],
            deadline_at=recount.deadline_at.isoformat(),
            deadline_provisional=recount.provisional,
            calendar_version=recount.calendar_version,
            loaded_year=year,
        )
        processing.collect_events(complaint)
        revised += 1
    return revised


def _transfers_near(app: ServiceApplication, year: int) -> Iterator[UUID]:
    """Transfers dated in `year` or the year before (a deadline is at most 60 working days
    away), read from the log's transfer events only."""
    for notification in app._select_all([TRANSFER_TOPIC]):
        recorded: Any = app.mapper.to_domain_event(notification)
        on = transfer_date(recorded.transferred_on, recorded.timestamp)
        if year - 1 <= on.year <= year:
            yield UUID(str(notification.originator_id))
