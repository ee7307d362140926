"""The approvals read model: every approval a case asked for, pending ones listed per brand.

Rows are written with the events that change them (same transaction), so the list never
disagrees with the cases; `GET /v1/ops/approvals` pages the pending ones, oldest first.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.readmodels import Cmp, Column, Index, PageQuery, RowWrite, Table, Upsert

if TYPE_CHECKING:
    from services.compensation.domain import CompensationCase
    from shared.readmodels import ReadModelRecorder

APPROVALS = Table(
    "compensation_approvals",
    (
        Column("approval_id", "text", nullable=False),
        Column("complaint_id", "text", nullable=False),
        Column("brand_id", "text", nullable=False),
        Column("status", "text", nullable=False),  # pending, granted, denied, superseded
        Column("offer_round", "integer", nullable=False),
        Column("handler_id", "text", nullable=False),
        Column("authority_fen", "integer", nullable=False),
        Column("max_amount_fen", "integer", nullable=False),
        Column("statutory", "integer", nullable=False),  # 1: holds a statutory option
        Column("reason", "text", nullable=False),
        Column("requested_seq", "integer", nullable=False),  # case version when asked
        Column("requested_at", "timestamp", nullable=False),
    ),
    primary_key=("approval_id",),
    indexes=(Index(("brand_id", "status", "requested_at", "approval_id")),),
)
ORDER = ("requested_at", "approval_id")


def approval_rows(case: CompensationCase) -> list[RowWrite]:
    """The case's approval rows as they stand (a case asks for few approvals)."""
    rows: list[RowWrite] = []
    for number, approval in enumerate(case.approvals.values()):
        options = approval["options"]
        rows.append(
            Upsert(
                APPROVALS.name,
                {
                    "approval_id": approval["approval_id"],
                    "complaint_id": str(case.id),
                    "brand_id": case.brand_id,
                    "status": approval["status"],
                    "offer_round": approval["offer_round"],
                    "handler_id": approval["handler_id"],
                    "authority_fen": approval["authority_fen"],
                    "max_amount_fen": max((o["amount_fen"] for o in options), default=0),
                    "statutory": int(any(o.get("statutory") for o in options)),
                    "reason": approval["reason"],
                    "requested_seq": number,
                    "requested_at": datetime.fromisoformat(approval["requested_at"]),
                },
            )
        )
    return rows


def pending_page(
    recorder: ReadModelRecorder, brands: list[str] | None, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Pending approvals of `brands` (None: every brand), oldest first; the next cursor."""
    if brands == []:
        return [], None
    where: dict[str, Any] = {"status": "pending"}
    if brands is not None:
        where["brand_id"] = Cmp("in", brands)
    page = recorder.page(PageQuery(APPROVALS.name, ORDER, where, cursor, limit))
    return page.rows, page.cursor
