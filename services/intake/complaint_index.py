"""The complaint list (read model): a brand's complaints by queue and status, groups' members.

A table in intake's own store, written in the transaction that records the complaint's
events (and, for upstream status, the tracking position), so every intake process on one
database lists the same complaints and nothing is loaded into memory at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol
from uuid import UUID

from services.intake.domain import Complaint
from services.intake.errors import IntakeError
from shared.errors import InvalidParameter
from shared.readmodels import (
    Cmp,
    Column,
    Index,
    InvalidCursor,
    PageQuery,
    ReadModelRecorder,
    Table,
    Upsert,
)
from shared.readmodels.sql import encode_cursor
from shared.store import ServiceApplication

Queue = Literal["normal", "nuisance"]
COMPLAINTS = Table(
    "complaint_list",
    (
        Column("complaint_id", "text", nullable=False),
        Column("brand_id", "text", nullable=False),
        Column("status", "text", nullable=False),
        Column("received_at", "timestamp", nullable=False),
        Column("updated_at", "timestamp", nullable=False),
        Column("nuisance", "boolean", nullable=False),
        Column("subject_ref", "text", nullable=False),
        Column("group_id", "text"),
    ),
    primary_key=("complaint_id",),
    indexes=(
        Index(("brand_id", "nuisance", "received_at", "complaint_id")),
        Index(("brand_id", "nuisance", "status", "received_at", "complaint_id")),
        Index(("group_id", "received_at", "complaint_id")),
    ),
)
ORDER = ("received_at", "complaint_id")


class InvalidListCursor(InvalidParameter, IntakeError):
    """The list cursor was not handed out by this listing."""

    parameter = "cursor"


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
    """Complaints per brand for listing, kept from the log (blocking reads: use a thread)."""

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


def complaint_row(complaint: Complaint) -> Upsert:
    """The list row of a complaint as it stands (written with its new events)."""
    return Upsert(
        COMPLAINTS.name,
        {
            "complaint_id": str(complaint.id),
            "brand_id": complaint.brand_id,
            "status": complaint.status,
            "received_at": complaint.created_on,
            "updated_at": complaint.modified_on,
            "nuisance": complaint.nuisance,
            "subject_ref": complaint.subject_ref,
            "group_id": complaint.group_id,
        },
    )


class TableComplaintIndex:
    """The complaint list in the store's `complaint_list` table, paged by its indexes."""

    def __init__(self, store: ReadModelRecorder) -> None:
        self.store = store

    def members(self, brand_id: str, group_id: str) -> list[ComplaintRow]:
        rows = self.store.select_rows(
            COMPLAINTS.name, {"group_id": group_id, "brand_id": brand_id}, order_by=ORDER
        )
        return [_row(r) for r in rows]

    def page(
        self,
        brand_id: str,
        status: str | None,
        since: datetime | None,
        after: str | None,
        limit: int,
        queue: Queue = "normal",
    ) -> list[ComplaintRow]:
        where: dict[str, Any] = {"brand_id": brand_id, "nuisance": queue == "nuisance"}
        if status:
            where["status"] = status
        if since:
            where["received_at"] = Cmp(">=", since)
        query = PageQuery(COMPLAINTS.name, ORDER, where, _keyset(after), limit)
        try:
            page = self.store.page(query)
        except InvalidCursor as error:
            raise InvalidListCursor(str(error)) from None
        return [_row(r) for r in page.rows]


def backfill_complaints(app: ServiceApplication, page_size: int = 500) -> int:
    """Fill an empty list from the log (a store written before the table existed).

    Streams complaint ids page by page and upserts their rows in batches: nothing is
    held in memory, and a store whose list has rows is left alone (one indexed read).
    """
    store = app.read_models
    if store.select_rows(COMPLAINTS.name, {}, limit=1):
        return 0
    filled, start = 0, 1
    while True:
        found = app.recorder.select_notifications(
            start, page_size, topics=["intake.Complaint.ComplaintReceived"]
        )
        complaints = [app.get_or_none(UUID(str(n.originator_id))) for n in found]
        store.write([complaint_row(c) for c in complaints if isinstance(c, Complaint)])
        filled += len(complaints)
        if len(found) < page_size:
            return filled
        start = found[-1].id + 1


def cursor_of(row: ComplaintRow) -> str:
    """The cursor after `row`: its receive time and id."""
    return f"{row.received_at.isoformat()}|{row.complaint_id}"


def _keyset(after: str | None) -> str | None:
    if not after:
        return None
    at, _, complaint_id = after.partition("|")
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        raise InvalidListCursor("the cursor is not valid") from None
    if moment.tzinfo is None or not complaint_id:
        raise InvalidListCursor("the cursor is not valid")
    columns = [COMPLAINTS.column(n) for n in ORDER]
    return encode_cursor(columns, [moment, complaint_id])


def _row(row: dict[str, Any]) -> ComplaintRow:
    return ComplaintRow(
        complaint_id=UUID(row["complaint_id"]),
        brand_id=row["brand_id"],
        status=row["status"],
        received_at=row["received_at"],
        updated_at=row["updated_at"],
        nuisance=row["nuisance"],
        subject_ref=row["subject_ref"],
        group_id=row["group_id"],
    )
