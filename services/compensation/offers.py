"""What to propose to the consumer: the seam between the policy engine and the offer flow.

`propose` turns a complaint's recorded facts (ComplaintReceived, operator findings, the
product's repair history, the consumer's demands and counter-proposal) into proposals under
one brand policy version. It knows nothing of authority, approvals or rounds: the flow in
`application.py` splits proposals by the handler's limit, asks for approval above it, gives
option ids and expiries, and records the offer.

Pure and deterministic: the decision date is an input (the Shanghai date of the recorded
upstream event), never the clock; the output order is fixed.

SEAM (lead, issue 19): the signatures below are agreed between the policy work (which owns
this module's internals) and the offer flow (which calls it). This first body keeps today's
behaviour (the consumer's demands, then a goodwill voucher) so both sides can start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.compensation.policy import RemedyPolicy

# Operator findings (LiabilityDetermined.finding) the policy engine understands.
FINDINGS = (
    "fraud",  # 消法 第五十五条
    "unsafe_food",  # 食安法 第一百四十八条
    "performance_fault",  # 三包: a fault of the product's performance
    "main_part_fault",  # 三包: a fault of a main part (its own, longer warranty)
    "responsibility_unclear",  # 三个为主: 分不清责任的,以我为主
    "parcel_lost",  # a parcel lost in carriage
    "consumer_caused",  # 人为使用不当: no 三包 entitlement
)


@dataclass(frozen=True)
class RepairHistory:
    """Repairs of this product (brand + serial) fulfilled before, from RemedyFulfilled."""

    repairs_in_warranty: int = 0
    days_in_repair: int = 0


@dataclass(frozen=True)
class Counter:
    """The consumer's counter-proposal to the previous round."""

    kind: str
    amount_fen: int | None


@dataclass(frozen=True)
class Proposal:
    """One remedy to propose, with the rule that produced it and a consumer-readable line."""

    kind: str  # refund, exchange, repair, redo, damages, compensation, apology, voucher,
    #            gift, discount, shipping, card_transfer
    amount_fen: int
    rule_id: str
    basis: str  # the law and article, or the seed / brand document
    ground: str  # law, regulation, standard, contract, brand
    statutory: bool  # owed by law or regulation: never dropped for authority, waits approval
    policy_version: str
    explanation: str  # Chinese, one line, for the consumer


@dataclass(frozen=True)
class Situation:
    """Everything recorded that a proposal may rest on."""

    received: dict[str, Any]  # the ComplaintReceived payload (2.0 shape)
    decision_date: date
    findings: frozenset[str] = frozenset()
    repairs: RepairHistory = field(default_factory=RepairHistory)
    counter: Counter | None = None


def propose(policy: RemedyPolicy, situation: Situation) -> list[Proposal]:
    """The proposals for this situation under `policy`, in a fixed order (placeholder body)."""
    received = situation.received
    price = (received.get("order") or {}).get("price_fen") or 0
    out: list[Proposal] = []
    seen: set[tuple[str, int]] = set()
    for demand in received.get("demands", []):
        kind = demand["kind"]
        amount = price if kind in ("refund", "exchange") else (
            demand.get("amount_fen") or 0 if kind == "compensation" else 0
        )
        if kind == "other" or (kind, amount) in seen:
            continue
        seen.add((kind, amount))
        out.append(
            Proposal(kind, amount, "consumer_demand", "seed 003 为客户提供选择", "brand", False,
                     policy.version, "按您的要求处理。")
        )
    voucher = max(2_000, price * 5 // 100)
    out.append(
        Proposal("voucher", voucher, "goodwill_voucher", "brand goodwill", "brand", False,
                 policy.version, "为表歉意，另赠代金券。")
    )
    return out
