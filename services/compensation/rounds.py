"""Offer rounds, pure: proposals become a round's options, split by the handler's authority.

A round's options get ids derived from the offer id and their index, an expiry (the
decision date + `OFFER_VALIDITY_DAYS`), and the rule that produced them. Options above the
handler's authority make the whole round wait for a supervisor (主管批示 [001]): the
consumer then gets one offer, never a part now and a part later, and nothing above the
limit is offered unapproved. A statutory option is never dropped for authority: it waits
for approval like the rest, and a supervisor may not deny it (the law is not theirs to
deny). Negotiation is bounded: after `MAX_ROUNDS` offers the next round goes to a
supervisor whatever its amounts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from services.compensation.offers import GOODWILL, Counter, Proposal
from services.compensation.packages import COUNTER_RULES, Package, bundle
from shared.money import format_fen
from shared.store import derive_id

# Days an offer stands from its decision date (calendar days). No seed names a period; 15
# days matches the 15-day 三包 exchange window of seed 002 so an offer made on the last
# day of a window does not outlive the consumer's choice by much. A policy document may
# carry its own later (the POLICY work).
OFFER_VALIDITY_DAYS = 15
# Offers made before the next round needs a supervisor whatever its amounts.
MAX_ROUNDS = 5
COUNTER_RULE = "consumer_counter"
KIND_ZH = {
    "refund": "退款",
    "exchange": "换货",
    "repair": "维修",
    "redo": "重作",
    "damages": "赔偿金",
    "compensation": "赔偿",
    "apology": "书面道歉",
    "voucher": "代金券",
    "gift": "礼品",
    "discount": "折扣",
    "shipping": "运费补偿",
    "card_transfer": "转卡",
}


def offer_id_of(complaint_id: str, offer_round: int) -> str:
    """The offer id of a round: from the complaint and the round, whatever triggered it."""
    return str(derive_id(complaint_id, "offer", offer_round))


@dataclass(frozen=True)
class Plan:
    """A round as planned: its options and those that need a supervisor's approval."""

    offer_id: str
    offer_round: int
    options: list[dict[str, Any]]
    above: list[dict[str, Any]]  # option dicts needing approval (empty: offer at once)
    reason: str
    policy_version: str
    replaces_offer_id: str | None
    # The brand's gestures alone, offered when a denial leaves no option standing.
    fallback: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "offer_id": self.offer_id,
            "offer_round": self.offer_round,
            "options": self.options,
            "above": self.above,
            "reason": self.reason,
            "policy_version": self.policy_version,
            "replaces_offer_id": self.replaces_offer_id,
            "fallback": self.fallback,
        }


def plan_round(
    complaint_id: str,
    offer_round: int,
    proposals: list[Proposal],
    authority_fen: int,
    decision_date: date,
    replaces_offer_id: str | None = None,
    counter: Counter | None = None,
) -> Plan:
    """The round's options from the engine's proposals (and a counter it did not match)."""
    offer_id = offer_id_of(complaint_id, offer_round)
    version = proposals[0].policy_version if proposals else ""
    proposed = list(proposals)
    if not any(p.rule_id.startswith(COUNTER_RULES) for p in proposals):
        countered = _counter_proposal(counter, proposals, version)
        if countered is not None and countered.amount_fen > authority_fen:
            proposed.append(countered)  # escalated: a supervisor decides on the counter
    packages = bundle(proposed)
    options = [_option(offer_id, i, p, decision_date) for i, p in enumerate(packages)]
    above = [
        option
        for option, package in zip(options, packages, strict=True)
        if option["amount_fen"] > authority_fen or package.needs_approval_reason
    ]
    reason = _reason(above, authority_fen, packages)
    if offer_round > MAX_ROUNDS:
        above = list(options)
        reason = (
            f"round {offer_round} after {MAX_ROUNDS} rounds of negotiation: a supervisor decides"
        )
    # Kept with an approval only (a plan without one is offered at once and never denied).
    gestures = bundle([p for p in proposed if p.kind in GOODWILL]) if above else []
    fallback = [
        option
        for option in (
            _option(offer_id, len(options) + i, p, decision_date) for i, p in enumerate(gestures)
        )
        if option["amount_fen"] <= authority_fen
    ]
    return Plan(
        offer_id, offer_round, options, above, reason, version, replaces_offer_id, fallback
    )


def offer_kwargs(
    plan: dict[str, Any], decision_date: date, denied: bool = False
) -> dict[str, Any]:
    """`offer_remedies` arguments for a planned round, offered on `decision_date` (the
    expiry runs from the day it is offered); `denied` leaves the options awaiting approval
    out."""
    held = {o["option_id"] for o in plan["above"]} if denied else set()
    expires_on = (decision_date + timedelta(days=OFFER_VALIDITY_DAYS)).isoformat()
    standing = [o for o in plan["options"] if o["option_id"] not in held]
    if not standing:  # a denial left nothing: the brand's gestures alone, never an empty offer
        standing = list(plan.get("fallback") or [])
    options = [dict(o, expires_on=expires_on) for o in standing]
    return {
        "offer_id": plan["offer_id"],
        "options": options,
        "round": plan["offer_round"],
        "policy_version": plan["policy_version"] or None,
        "expires_on": expires_on,
        "replaces_offer_id": plan["replaces_offer_id"],
    }


def expired(expires_on: str | None, on: date) -> bool:
    """An offer expiring on `expires_on` no longer stands on `on` (the day after it)."""
    return expires_on is not None and on > date.fromisoformat(expires_on)


def notice(
    kind: str, amount_fen: int, reference: str, includes: list[dict[str, Any]] | None = None
) -> str:
    """The written notice to the consumer when a remedy is carried out (Chinese): the remedy
    chosen and every part that came with it."""
    parts = includes or []
    head = amount_fen - sum(int(p["amount_fen"]) for p in parts)
    what = KIND_ZH.get(kind, kind) + (f"（{format_fen(head)}）" if head > 0 else "")
    for part in parts:
        amount = f"{format_fen(part['amount_fen'])}" if part["amount_fen"] else ""
        what += f"、{KIND_ZH.get(part['kind'], part['kind'])}{amount}"
    return (
        f"尊敬的顾客：您选择的{what}已办理完成，凭证号 {reference}。"
        "如有任何疑问，请随时与我们联系。感谢您的耐心与理解。"
    )


def _counter_proposal(
    counter: Counter | None, proposals: list[Proposal], version: str
) -> Proposal | None:
    if counter is None or counter.amount_fen is None:
        return None
    if any(p.kind == counter.kind and p.amount_fen == counter.amount_fen for p in proposals):
        return None
    return Proposal(
        counter.kind,
        counter.amount_fen,
        COUNTER_RULE,
        "seed 003 为客户提供选择: the consumer's counter-proposal",
        "brand",
        False,
        version,
        "您提出的方案，经主管审批后答复。",
    )


def _option(offer_id: str, index: int, package: Package, day: date) -> dict[str, Any]:
    """One option: a whole remedy (its first part names it, `includes` lists the rest)."""
    head, explanation = package.head, package.explanation
    return {
        "option_id": str(derive_id(offer_id, index)),
        "kind": head.kind,
        "amount_fen": package.amount_fen,
        "description": explanation,
        "rule_id": head.rule_id,
        "basis": head.basis,
        "ground": head.ground,
        "statutory": package.statutory,
        "policy_version": head.policy_version,
        "explanation": explanation,
        "expires_on": (day + timedelta(days=OFFER_VALIDITY_DAYS)).isoformat(),
        "includes": package.includes(),
    }


def _reason(above: list[dict[str, Any]], authority_fen: int, packages: list[Package]) -> str:
    if not above:
        return ""
    beyond = [p.needs_approval_reason for p in packages if p.needs_approval_reason]
    if beyond and all(o["amount_fen"] <= authority_fen for o in above):
        return "beyond the law and the brand's policy: " + "; ".join(beyond)
    listed = ", ".join(f"{o['kind']} {format_fen(o['amount_fen'])}" for o in above)
    statutory = sum(1 for o in above if o["statutory"])
    law = f" ({statutory} statutory)" if statutory else ""
    return (
        f"{len(above)} option(s){law} above the handler's authority of "
        f"{format_fen(authority_fen)}: {listed}"
    )
