"""The complaint list (read model): a brand's complaints by queue and status, groups' members.

`ComplaintIndex` is what the use cases and the API read; `InMemoryComplaintIndex` keeps
it in process memory, rebuilt from the store at start and updated on every save.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol
from uuid import UUID

from services.intake.domain import Complaint
from shared.store import ServiceApplication

Queue = Literal["normal", "nuisance"]


@dataclass
class ComplaintRow:
    complaint_id: UUID
    brand_id: str
    status: str
    received_at: datetime
    updated_at: datetime
    nuisance: bool = False
    subject_ref: str = ""
    group_id: str | None = None


class ComplaintIndex(Protocol):
    """Complaints per brand for listing, kept from the log."""

    def apply(self, complaint: Complaint) -> None:
        """Record the complaint's current state (new, or changed)."""

    def members(self, brand_id: str, group_id: str) -> list[ComplaintRow]:
        """A group's member complaints, oldest first."""

    def page(
        self,
        brand_id: str,
        status: str | None,
        since: datetime | None,
        after: str | None,
        limit: int,
        queue: Queue = "normal",
    ) -> list[ComplaintRow]:
        """A page of one queue, oldest first, after the cursor `after` (see `cursor_of`)."""


@dataclass
class InMemoryComplaintIndex:
    """Every complaint's row in a dict (rebuilt at start by `rebuild`)."""

    rows: dict[UUID, ComplaintRow] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def rebuild(self, app: ServiceApplication) -> None:
        """Load every complaint the store holds (blocking)."""
        seen: set[UUID] = set()
        for notification in app.recorder.select_notifications(
            1, 10_000_000, topics=["intake.Complaint.ComplaintReceived"]
        ):
            seen.add(notification.originator_id)  # type: ignore[arg-type]
        for complaint_id in seen:
            self.apply(app.repository.get(complaint_id))

    def apply(self, complaint: Complaint) -> None:
        with self.lock:
            row = self.rows.get(complaint.id)
            if row is None:
                self.rows[complaint.id] = ComplaintRow(
                    complaint.id,
                    complaint.brand_id,
                    complaint.status,
                    complaint.created_on,
                    complaint.modified_on,
                    complaint.nuisance,
                    complaint.subject_ref,
                    complaint.group_id,
                )
            else:
                row.status = complaint.status
                row.updated_at = complaint.modified_on
                row.nuisance = complaint.nuisance
                row.group_id = complaint.group_id

    def members(self, brand_id: str, group_id: str) -> list[ComplaintRow]:
        with self.lock:
            rows = [
                r for r in self.rows.values() if r.brand_id == brand_id and r.group_id == group_id
            ]
        return sorted(rows, key=_row_key)

    def page(
        self,
        brand_id: str,
        status: str | None,
        since: datetime | None,
        after: str | None,
        limit: int,
        queue: Queue = "normal",
    ) -> list[ComplaintRow]:
        nuisance = queue == "nuisance"
        with self.lock:
            rows = [
                r for r in self.rows.values() if r.brand_id == brand_id and r.nuisance == nuisance
            ]
        if status:
            rows = [r for r in rows if r.status == status]
        if since:
            rows = [r for r in rows if r.received_at >= since]
        rows.sort(key=_row_key)
        if after:
            rows = [r for r in rows if _row_key(r) > _cursor_key(after)]
        return rows[:limit]


def cursor_of(row: ComplaintRow) -> str:
    """The cursor after `row`: its receive time and id."""
    return f"{row.received_at.isoformat()}|{row.complaint_id}"


def _row_key(row: ComplaintRow) -> tuple[str, str]:
    return (row.received_at.isoformat(), str(row.complaint_id))


def _cursor_key(cursor: str) -> tuple[str, str]:
    at, _, complaint_id = cursor.partition("|")
    return (at, complaint_id)
