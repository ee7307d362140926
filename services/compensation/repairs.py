"""A product's repair history (三包: still faulty after two repairs → exchange or refund).

A repair fulfilled within warranty counts for the product: brand + serial, or brand +
order reference when there is no serial. The history is an aggregate of its own, keyed by
`derive_id`, written in the transaction of the `RemedyFulfilled` that counts, and read
when a later complaint about the same product is offered remedies (`Situation.repairs`).
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from services.compensation.offers import RepairHistory
from services.compensation.policy import RemedyPolicy, effective_category
from shared.inputs import InputClocked
from shared.store import derive_id


def product_key(brand_id: str, received: dict[str, Any]) -> UUID | None:
    """The repair history's id for the complaint's product (None: nothing identifies it)."""
    serial = (received.get("product") or {}).get("serial")
    if serial:
        return derive_id("repairs", brand_id, "serial", str(serial).strip().upper())
    order_ref = (received.get("order") or {}).get("order_ref")
    if order_ref:
        return derive_id("repairs", brand_id, "order", str(order_ref).strip())
    return None


def in_warranty(policy: RemedyPolicy, received: dict[str, Any], on: date) -> bool:
    """Whether a repair done on `on` is within the whole-unit 三包 warranty.

    Without a purchase date or a known category the repair counts (三个为主 [003]: where
    responsibility is unclear, the brand takes it on)."""
    bought = (received.get("order") or {}).get("purchase_date")
    category_text = str((received.get("product") or {}).get("category") or "")
    category = None
    for word in category_text.lower().replace("_", " ").split():
        category = effective_category(policy, word)
        if category is not None:
            break
    if not bought or category is None:
        return True
    return (on - date.fromisoformat(str(bought))).days <= category.whole_unit_warranty_days


class ProductRepairs(Aggregate):
    """Repairs fulfilled for one product, each counted once (by its fulfilment id)."""

    TOPIC = "compensation.ProductRepairs"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "compensation.ProductRepairs.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "compensation.ProductRepairs.Created"

    @event("HistoryOpened", topic="compensation.ProductRepairs.HistoryOpened")
    def __init__(self, id: UUID, brand_id: str) -> None:
        self.brand_id = brand_id
        self.repairs: list[dict[str, Any]] = []

    @event("RepairCounted", topic="compensation.ProductRepairs.RepairCounted")
    def count(self, fulfilment_id: str, complaint_id: str, in_warranty: bool, on: str) -> None:
        self.repairs.append(
            {
                "fulfilment_id": fulfilment_id,
                "complaint_id": complaint_id,
                "in_warranty": in_warranty,
                "on": on,
            }
        )

    def counted(self, fulfilment_id: str) -> bool:
        return any(r["fulfilment_id"] == fulfilment_id for r in self.repairs)

    def history(self) -> RepairHistory:
        return RepairHistory(repairs_in_warranty=sum(1 for r in self.repairs if r["in_warranty"]))
