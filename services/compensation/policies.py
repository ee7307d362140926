"""Compensation policies: pure functions choosing the apology and the remedies to offer.

First version: the consumer's own demands come first (ask what they want, 为客户提供选择
[003 1.4]), then a goodwill alternative; nothing above the handler's authority is
promised [001 主管批示]. The compensation issue brings 三包 and statutory rules as
versioned policy documents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.store import derive_id

GOODWILL_RATE_PERCENT = 5
GOODWILL_MIN_FEN = 2_000
DESCRIPTIONS = {
    "refund": "Full refund of the purchase price",
    "exchange": "Exchange for a new unit of the same model",
    "repair": "Free repair, with collection and return at our cost",
    "compensation": "Compensation as requested",
    "apology": "A formal written apology",
    "voucher": "Goodwill voucher for the inconvenience",
}


@dataclass(frozen=True)
class Option:
    option_id: str
    kind: str
    amount_fen: int
    description: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "option_id": self.option_id,
            "kind": self.kind,
            "amount_fen": self.amount_fen,
            "description": self.description,
        }


def apology_message(received: dict[str, Any]) -> str:
    """Step 6: apologise for the experience first; an apology is not an admission of fault."""
    category = received.get("product", {}).get("category", "product")
    return (
        f"We are sorry for the trouble with your {category}. We have recorded your "
        "complaint and a named handler is taking care of it."
    )


def remedy_options(
    complaint_id: str, offer_round: int, received: dict[str, Any], authority_fen: int
) -> tuple[str, list[Option]]:
    """Step 7: the options to offer, with ids derived from the complaint and the offer round.

    Not from the triggering event: the offer is made once both the complaint and its
    handler are known, whichever stream delivered last, and its id must not depend on that.
    """
    offer_id = str(derive_id(complaint_id, "offer", offer_round))
    price = (received.get("order") or {}).get("price_fen") or 0
    kinds: list[tuple[str, int]] = []
    for demand in received.get("demands", []):
        kind = demand["kind"]
        amount = _amount_for(kind, demand.get("amount_fen"), price)
        if kind != "other" and amount <= authority_fen and (kind, amount) not in kinds:
            kinds.append((kind, amount))
    goodwill = max(GOODWILL_MIN_FEN, price * GOODWILL_RATE_PERCENT // 100)
    if goodwill <= authority_fen:
        kinds.append(("voucher", goodwill))
    options = [
        Option(str(derive_id(offer_id, index)), kind, amount, DESCRIPTIONS.get(kind, kind))
        for index, (kind, amount) in enumerate(kinds)
    ]
    return offer_id, options


def _amount_for(kind: str, demanded: int | None, price: int) -> int:
    if kind in ("refund", "exchange"):
        return price
    if kind == "compensation":
        return demanded or 0
    return 0
