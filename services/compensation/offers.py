"""What to propose to the consumer: the seam between the policy engine and the offer flow.

`propose` turns a complaint's recorded facts (ComplaintReceived, operator findings, the
product's repair history, the consumer's demands and counter-proposal) into proposals under
one brand policy version. It knows nothing of authority, approvals or rounds: the flow in
`application.py` splits proposals by the handler's limit, asks for approval above it, gives
option ids and expiries, and records the offer.

Pure and deterministic: the decision date is an input (the Shanghai date of the recorded
upstream event), never the clock; the output order is fixed.

SEAM (lead, issue 19): the signatures below are agreed between the policy work (which owns
this module's internals) and the offer flow (which calls it).

How `propose` decides (each proposal names its rule, basis, ground and the policy version):
1. Entitlements (`entitlements.entitlements`) from the recorded facts: 三包, distance sales,
   statutory damages from operator findings, ordinary loss, the parcel cap. Every kind owed
   is proposed (为客户提供选择 [003]) whether or not it was demanded, once per kind: the
   most generous rule, then the stronger ground (law > regulation > ... > brand). A fault
   nobody has attributed (no performance_fault / main_part_fault / consumer_caused finding)
   counts as responsibility unclear: the brand takes it on (三个为主 "分不清责任的,以我为主").
2. The consumer's demands (ask before proposing): a demand the law grants is already there
   under its rule. Beyond it: exchange or refund where arguable (no consumer_caused finding,
   三个为主 "可换可不换的,以换为主;可退可不退的,以退为主") and repair are proposed on the
   brand's ground; a compensation demand within the catalogue's largest limit is proposed as
   the brand's goodwill; anything else (a refund when the fault is the consumer's, a sum
   above the catalogue) is proposed with `needs_approval_reason` set: the flow asks for
   approval before offering it. An apology demand becomes a written apology (0 fen).
3. 重作 for services whose category the policy lists [002 "消费者提出重作、退货、退款要求的,
   经营者应当给予重作"], unless the fault is the consumer's.
4. The counter-proposal: within an entitlement of its kind, or within the catalogue's limit
   for its kind (compensation: the largest limit), it is proposed as asked; beyond, it is
   proposed flagged for approval.
5. Goodwill from the brand's catalogue, on top of the above, never instead [003 消法 第五十三条]:
   voucher, gift, discount always; shipping costs with a goods remedy or a distance sale;
   转卡 for the policy's prepaid categories.
Alternatives (refund, exchange, repair, redo) come first; damages and compensation are owed
on top of the alternative chosen; goodwill last. Amounts are integer fen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.compensation.entitlements import (
    KINDS,
    Entitlement,
    Facts,
    entitlements,
    goodwill_offers,
)
from services.compensation.policy import GROUNDS, RemedyPolicy, product_category
from shared.money import format_fen

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
    # Beyond the law and the brand's policy (a demand or counter above the catalogue): the
    # flow asks for approval before offering it, whatever the handler's authority.
    needs_approval_reason: str | None = None


@dataclass(frozen=True)
class Situation:
    """Everything recorded that a proposal may rest on."""

    received: dict[str, Any]  # the ComplaintReceived payload (2.0 shape)
    decision_date: date
    findings: frozenset[str] = frozenset()
    repairs: RepairHistory = field(default_factory=RepairHistory)
    counter: Counter | None = None


ALTERNATIVES = ("refund", "exchange", "repair", "redo")
ON_TOP = ("damages", "compensation", "apology")
GOODWILL = ("voucher", "gift", "discount", "shipping", "card_transfer")
ORDER = ALTERNATIVES + ON_TOP + GOODWILL
SANXING = "seed 002 三个为主 \"可换可不换的,以换为主;可退可不退的,以退为主;分不清责任的,以我为主\""
REDO_BASIS = "seed 002 上海条例 \"消费者提出重作、退货、退款要求的,经营者应当给予重作\""
CHOICE_BASIS = "seed 003 为客户提供选择"
GOODWILL_BASIS = "seed 003 消法 第五十三条 (goodwill on top of a remedy, never instead)"
FAULT_FINDINGS = frozenset({"performance_fault", "main_part_fault", "consumer_caused"})


def propose(policy: RemedyPolicy, situation: Situation) -> list[Proposal]:
    """The proposals for this situation under `policy`, in a fixed order (see above)."""
    received = situation.received
    order = received.get("order") or {}
    price = _fen(order.get("price_fen"))
    category = product_category(policy, (received.get("product") or {}).get("category"))
    findings = situation.findings
    consumer_caused = "consumer_caused" in findings
    facts = _facts(policy, situation)
    owed = _best_per_kind(entitlements(policy, facts))
    out: list[Proposal] = [_from_entitlement(e) for e in owed]
    have = {p.kind for p in out}

    def add(proposal: Proposal) -> None:
        if proposal.kind not in have:
            have.add(proposal.kind)
            out.append(proposal)

    for demand in received.get("demands") or []:
        proposal = _for_demand(policy, demand, price, consumer_caused,
                               facts.responsibility_unclear)
        if proposal is not None:
            add(proposal)
    if category in policy.redo_categories and not consumer_caused:
        add(_brand(policy, "redo", 0, "service_redo", REDO_BASIS,
                   "此项服务可为您免费重作。"))
    counter = _for_counter(policy, situation.counter, owed, price)
    goods = bool(have & {"refund", "exchange", "repair"})
    extras = _goodwill(policy, price, goods, order.get("sale_channel") == "distance", category)
    rank = {kind: index for index, kind in enumerate(ORDER)}
    out.sort(key=lambda p: rank.get(p.kind, len(ORDER)))
    if counter is not None:
        out.append(counter)
    return out + extras


def _facts(policy: RemedyPolicy, situation: Situation) -> Facts:
    """The recorded facts, read with defaults so a 1.x-shaped ComplaintReceived works too."""
    received = situation.received
    order = received.get("order") or {}
    decided = situation.decision_date
    recorded = _date(order.get("purchase_date"))
    # Without a (plausible) purchase date no 三包 period can be counted: no 三包 entitlement
    # (the brand's 三个为主 proposals for the demands still apply).
    dated = recorded is not None and recorded <= decided
    purchased = recorded if recorded is not None and dated else decided
    fault = _date(received.get("fault_date"))
    if fault is not None and not purchased <= fault <= decided:
        fault = None  # a recorded day outside the purchase..decision span is not used
    findings = situation.findings
    declared = order.get("declared_value_fen")
    return Facts(
        price_fen=_fen(order.get("price_fen")),
        purchase_date=purchased,
        decision_date=decided,
        category=(
            product_category(policy, (received.get("product") or {}).get("category"))
            if dated
            else None
        ),
        delivery_date=_date(order.get("delivery_date")),
        fault_date=fault,
        distance_sale=order.get("sale_channel") == "distance",
        # A main part's fault is a performance fault with the main part's longer warranty.
        performance_fault=bool(findings & {"performance_fault", "main_part_fault"}),
        main_part_fault="main_part_fault" in findings,
        # 三个为主 "分不清责任的,以我为主": a fault nobody attributed is the brand's to take on.
        responsibility_unclear="responsibility_unclear" in findings
        or not (findings & FAULT_FINDINGS),
        repairs_in_warranty=situation.repairs.repairs_in_warranty,
        days_in_repair=situation.repairs.days_in_repair,
        findings=frozenset(f for f in ("fraud", "unsafe_food") if f in findings),
        loss_fen=_fen(received.get("loss_fen")),
        parcel_lost="parcel_lost" in findings,
        declared_value_fen=None if declared is None else _fen(declared),
        insured=bool(order.get("insured")),
    )


def _best_per_kind(found: list[Entitlement]) -> list[Entitlement]:
    """One entitlement per kind: the largest amount, then the stronger ground, then rule id."""
    best: dict[str, Entitlement] = {}
    for e in sorted(found, key=lambda e: (-e.amount_fen, GROUNDS.index(e.ground), e.rule_id)):
        best.setdefault(e.kind, e)
    return [best[kind] for kind in KINDS if kind in best]


def _from_entitlement(e: Entitlement) -> Proposal:
    return Proposal(e.kind, e.amount_fen, e.rule_id, e.basis, e.ground, e.statutory,
                    e.policy_version, e.explanation)


def _brand(
    policy: RemedyPolicy, kind: str, amount: int, rule_id: str, basis: str, explanation: str,
    needs_approval_reason: str | None = None,
) -> Proposal:
    return Proposal(kind, amount, rule_id, basis, "brand", False, policy.version, explanation,
                    needs_approval_reason)


def _catalogue_cap(policy: RemedyPolicy, kind: str | None = None) -> int:
    """The catalogue's limit for a goodwill kind, or its largest limit (kind None)."""
    limits = [g.max_fen for g in policy.goodwill if kind is None or g.kind == kind]
    return max(limits, default=0)


def _for_demand(
    policy: RemedyPolicy,
    demand: dict[str, Any],
    price: int,
    consumer_caused: bool,
    unclear: bool,
) -> Proposal | None:
    kind = demand.get("kind")
    if kind in ("refund", "exchange"):
        amount = price if kind == "refund" else 0
        what = "退货，退款" + format_fen(price) if kind == "refund" else "换货"
        if consumer_caused:
            return _brand(policy, kind, amount, f"demand_{kind}_beyond_policy", CHOICE_BASIS,
                          f"按您的要求为您{what}（需主管批准）。",
                          "经认定为使用不当，超出三包及品牌政策范围的要求")
        why = "问题责任难以分清，由我方承担" if unclear else (
            "本着以换为主的原则" if kind == "exchange" else "本着以退为主的原则"
        )
        return _brand(policy, kind, amount, f"sanxing_{kind}", SANXING,
                      f"{why}，可按您的要求{what}。")
    if kind == "repair":
        if consumer_caused:
            return _brand(policy, "repair", 0, "demand_repair_beyond_policy", CHOICE_BASIS,
                          "按您的要求为您修理（需主管批准）。",
                          "经认定为使用不当，超出三包范围的免费修理")
        return _brand(policy, "repair", 0, "demand_repair", CHOICE_BASIS,
                      "按您的要求为您免费修理。")
    if kind == "compensation":
        amount = _fen(demand.get("amount_fen"))
        if amount == 0:
            return None
        cap = _catalogue_cap(policy)
        if amount <= cap:
            return _brand(policy, "compensation", amount, "demand_within_catalogue",
                          GOODWILL_BASIS, f"按您的要求给予补偿{format_fen(amount)}。")
        return _brand(policy, "compensation", amount, "demand_beyond_catalogue", CHOICE_BASIS,
                      f"您要求的补偿{format_fen(amount)}需主管批准后答复。",
                      f"要求的补偿超出法定权益及品牌目录上限 {format_fen(cap)}")
    if kind == "apology":
        return _brand(policy, "apology", 0, "demand_apology", CHOICE_BASIS,
                      "按您的要求向您出具书面致歉。")
    return None


def _for_counter(
    policy: RemedyPolicy, counter: Counter | None, owed: list[Entitlement], price: int
) -> Proposal | None:
    """The counter as asked: within an entitlement or the catalogue, else flagged."""
    if counter is None or counter.kind not in ORDER:
        return None
    kind = counter.kind
    entitled = next((e for e in owed if e.kind == kind), None)
    asked = _fen(counter.amount_fen) if counter.amount_fen is not None else (
        entitled.amount_fen if entitled is not None else price if kind == "refund" else 0
    )
    shown = format_fen(asked)
    if entitled is not None and asked <= entitled.amount_fen:
        return Proposal(kind, asked, "counter_within_entitlement", entitled.basis,
                        entitled.ground, entitled.statutory, policy.version,
                        f"接受您的还价：{shown}，在您依法享有的权益范围内。")
    cap = _catalogue_cap(policy, kind if kind in GOODWILL else None)
    if kind in (*GOODWILL, "compensation") and asked <= cap:
        return _brand(policy, kind, asked, "counter_within_catalogue", GOODWILL_BASIS,
                      f"接受您的还价：{shown}。")
    if kind in ("exchange", "repair", "redo", "apology") and asked == 0:
        return _brand(policy, kind, 0, "counter_no_cost", CHOICE_BASIS, "按您的还价处理。")
    return _brand(policy, kind, asked, "counter_beyond_policy", CHOICE_BASIS,
                  f"您的还价{shown}需主管批准后答复。",
                  "还价超出法定权益及品牌目录上限")


def _goodwill(
    policy: RemedyPolicy, price: int, goods: bool, distance: bool, category: str | None
) -> list[Proposal]:
    out: list[Proposal] = []
    for offer in goodwill_offers(policy, price):
        if offer.kind == "shipping" and not (goods or distance):
            continue
        if offer.kind == "card_transfer" and category not in policy.prepaid_categories:
            continue
        explanation = offer.explanation
        if offer.kind == "card_transfer":
            explanation = "预付卡可为您办理转卡，余额转给您指定的人使用。"
        out.append(_brand(policy, offer.kind, offer.amount_fen, f"goodwill_{offer.kind}",
                          GOODWILL_BASIS, explanation))
    return out


def _fen(value: Any) -> int:
    """A recorded amount as non-negative integer fen (absent, negative or not a number: 0)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None
