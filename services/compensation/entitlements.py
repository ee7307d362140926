"""What the consumer is entitled to, from a remedy policy and the complaint's recorded facts.

Pure: the decision date is a fact (never the clock); amounts are integer fen; the output is in
a fixed order so a replay under the same policy version gives identical entitlements.

Rules (each entitlement names its rule, its law/article or seed, and the policy version):
- 三包 [seed 002 三包规定; 部分商品修理更换退货责任规定 (1995) 第八、九、十条]: a performance
  fault within the refund period → refund, exchange or repair at the consumer's choice; later
  within the exchange period → exchange or repair; within the warranty (whole unit, or main
  part for a main-part fault) → free repair; still faulty after two repairs within warranty →
  exchange or refund [002 上海条例 "在保修期内经两次修理仍不能正常使用的"]. A refund after the
  refund period is charged the category's daily depreciation from the invoice date [002 折旧率],
  the days spent in repair excepted, rounded down in the consumer's favour.
- Distance sales: return within 7 days of receipt [002 上海条例 "自收到商品之日起七日内"; 消法
  第二十五条, which needs no reason].
- 三个为主 [002 "可换可不换的,以换为主;可退可不退的,以退为主;分不清责任的,以我为主"]: an
  unclear responsibility is taken on by the brand (the fault counts as a performance fault),
  and the periods count to the recorded day the fault appeared, not the day of the decision.
- Statutory damages (消法 第五十五条 fraud; 食安法 第一百四十八条 unsafe food) from operator
  findings; ordinary loss compensated as it is [002 "损害多少赔偿多少"]; a lost parcel without
  a declared value is compensated up to the carrier's cap [003 "不保值快件的最高金额25美元"].
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

from shared.money import format_fen

from .policy import (
    BASIS_POINTS,
    Ground,
    RemedyPolicy,
    SanbaoCategory,
    StatutoryKind,
    StatutoryRule,
    default_policy,
    effective_category,
)

EntitlementKind = Literal["refund", "exchange", "repair", "damages", "compensation"]
KINDS: tuple[EntitlementKind, ...] = ("refund", "exchange", "repair", "damages", "compensation")
SANBAO_SOURCE = "部分商品修理更换退货责任规定 (1995); seed 002 三包规定"
LOSS_SOURCE = "seed 002 我国损害赔偿制度 \"损害多少赔偿多少\""


@dataclass(frozen=True)
class Facts:
    """The recorded facts a decision rests on; dates are the recorded ones, never today."""

    price_fen: int
    purchase_date: date
    decision_date: date
    category: str | None = None
    delivery_date: date | None = None
    fault_date: date | None = None
    distance_sale: bool = False
    performance_fault: bool = False
    main_part_fault: bool = False
    responsibility_unclear: bool = False
    repairs_in_warranty: int = 0
    days_in_repair: int = 0
    findings: frozenset[StatutoryKind] = frozenset()
    loss_fen: int = 0
    parcel_lost: bool = False
    declared_value_fen: int | None = None
    insured: bool = False

    def __post_init__(self) -> None:
        for name in ("price_fen", "loss_fen", "repairs_in_warranty", "days_in_repair"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, not {value!r}")
        if self.declared_value_fen is not None and self.declared_value_fen < 0:
            raise ValueError("declared_value_fen must be non-negative")
        if self.decision_date < self.purchase_date:
            raise ValueError("decision_date is before purchase_date")
        if self.fault_date is not None and not (
            self.purchase_date <= self.fault_date <= self.decision_date
        ):
            raise ValueError("fault_date must lie between purchase_date and decision_date")


@dataclass(frozen=True)
class Entitlement:
    kind: EntitlementKind
    amount_fen: int
    rule_id: str
    basis: str
    ground: Ground
    policy_version: str
    explanation: str

    @property
    def statutory(self) -> bool:
        """Owed by law or regulation: a handler's limit never removes it, it waits for approval."""
        return self.ground in ("law", "regulation")


def entitlements(policy: RemedyPolicy, facts: Facts) -> list[Entitlement]:
    """Every remedy the facts entitle the consumer to under `policy`, in a fixed order.

    Where two rules give the same kind, both are listed (each with its own rule); the offer
    chooses among them. Order: kind (refund, exchange, repair, damages, compensation), then
    amount (largest first), then rule id.
    """
    found: list[Entitlement] = []
    found += _sanbao(policy, facts)
    found += _distance_return(policy, facts)
    for finding in sorted(facts.findings):
        rule = policy.statutory_rule(finding) or default_policy().statutory_rule(finding)
        if rule is not None:
            found += _statutory(policy, rule, facts)
    if not facts.findings:
        found += _ordinary_loss(policy, facts)
    return sorted(found, key=lambda e: (KINDS.index(e.kind), -e.amount_fen, e.rule_id))


def depreciated_refund_fen(category: SanbaoCategory, price_fen: int, days: int) -> int:
    """The price less the daily depreciation for `days` (rounded down: the consumer's favour)."""
    charge = price_fen * category.depreciation_bp_per_day * max(days, 0) // BASIS_POINTS
    return max(price_fen - charge, 0)


def _make(
    policy: RemedyPolicy,
    kind: EntitlementKind,
    amount: int,
    rule_id: str,
    basis: str,
    explanation: str,
    ground: Ground | None = None,
) -> Entitlement:
    return Entitlement(
        kind=kind,
        amount_fen=amount,
        rule_id=rule_id,
        basis=basis,
        ground=ground or _ground(policy),
        policy_version=policy.version,
        explanation=explanation,
    )


def _ground(policy: RemedyPolicy) -> Ground:
    return policy.ground


def _sanbao(policy: RemedyPolicy, facts: Facts) -> list[Entitlement]:
    """三包 under the brand's periods; what the statutory baseline also grants stays statutory."""
    found = _sanbao_under(policy, facts)
    baseline = default_policy()
    if policy is baseline or policy.ground in ("law", "regulation"):
        return found
    # A kind the law also grants here stays owed by law (the brand may only add to it).
    by_law = {e.kind for e in _sanbao_under(baseline, facts)}
    return [replace(e, ground="regulation") if e.kind in by_law else e for e in found]


def _sanbao_under(policy: RemedyPolicy, facts: Facts) -> list[Entitlement]:
    if facts.category is None or not (facts.performance_fault or facts.responsibility_unclear):
        return []
    category = effective_category(policy, facts.category)
    if category is None:
        return []
    # The periods count to the day the fault appeared when it is recorded: a refund still
    # arguable when the complaint is decided is given (三个为主 "可退可不退的,以退为主" [002]);
    # depreciation counts to the decision date.
    days = ((facts.fault_date or facts.decision_date) - facts.purchase_date).days
    held = (facts.decision_date - facts.purchase_date).days
    warranty = (
        category.main_part_warranty_days
        if facts.main_part_fault
        else category.whole_unit_warranty_days
    )
    price = facts.price_fen
    name = category.name_zh
    unclear = "（责任难以分清，由我方承担）" if not facts.performance_fault else ""
    out: list[Entitlement] = []
    if days <= category.refund_days:
        head = f"{name}售出{days}天内出现性能故障{unclear}，"
        out.append(
            _make(policy, "refund", price, "sanbao_refund_period", f"{SANBAO_SOURCE} 第八条",
                  f"{head}可选择全额退货，退款{format_fen(price)}。")
        )
        out.append(
            _make(policy, "exchange", 0, "sanbao_refund_period", f"{SANBAO_SOURCE} 第八条",
                  f"{head}可选择免费换货。")
        )
        out.append(
            _make(policy, "repair", 0, "sanbao_refund_period", f"{SANBAO_SOURCE} 第八条",
                  f"{head}可选择免费修理。")
        )
        return out
    if days <= category.exchange_days:
        head = f"{name}售出{days}天内出现性能故障{unclear}，"
        out.append(
            _make(policy, "exchange", 0, "sanbao_exchange_period", f"{SANBAO_SOURCE} 第九条",
                  f"{head}可选择免费换货。")
        )
        out.append(
            _make(policy, "repair", 0, "sanbao_exchange_period", f"{SANBAO_SOURCE} 第九条",
                  f"{head}可选择免费修理。")
        )
        return out
    if days > warranty:
        return out
    if facts.repairs_in_warranty >= policy.repairs_before_replacement:
        refund = depreciated_refund_fen(category, price, held - facts.days_in_repair)
        head = f"{name}在三包期内已修理{facts.repairs_in_warranty}次仍不能正常使用{unclear}，"
        out.append(
            _make(policy, "exchange", 0, "sanbao_two_repairs", policy.repairs_source,
                  f"{head}可免费换货。")
        )
        out.append(
            _make(policy, "refund", refund, "sanbao_two_repairs", policy.repairs_source,
                  f"{head}也可退货，按发票日起折旧后退款{format_fen(refund)}。")
        )
    out.append(
        _make(policy, "repair", 0, "sanbao_warranty_repair", f"{SANBAO_SOURCE} 三包有效期",
              f"{name}在三包有效期内（售出{days}天），可享受免费修理{unclear}。")
    )
    return out


def _distance_return(policy: RemedyPolicy, facts: Facts) -> list[Entitlement]:
    if not facts.distance_sale or facts.delivery_date is None:
        return []
    days = (facts.decision_date - facts.delivery_date).days
    if not 0 <= days <= policy.distance_return_days:
        return []
    return [
        _make(policy, "refund", facts.price_fen, "distance_sale_return", policy.distance_source,
              f"网购、邮购等远程购买的商品，收货{days}天内可退货，退款"
              f"{format_fen(facts.price_fen)}。", ground="law")
    ]


def _statutory(policy: RemedyPolicy, rule: StatutoryRule, facts: Facts) -> list[Entitlement]:
    cite = f"{rule.law} {rule.article}"
    what = "经营者存在欺诈行为" if rule.finding == "fraud" else "经认定食品不符合安全标准"
    out: list[Entitlement] = []
    if rule.refund_price and facts.price_fen > 0:
        out.append(
            _make(policy, "refund", facts.price_fen, rule.rule_id, cite,
                  f"{what}，依{cite}退还价款{format_fen(facts.price_fen)}。", ground="law")
        )
    if rule.compensate_loss and facts.loss_fen > 0:
        out.append(
            _make(policy, "compensation", facts.loss_fen, rule.rule_id, cite,
                  f"{what}，依{cite}赔偿损失{format_fen(facts.loss_fen)}。", ground="law")
        )
    damages = max(
        facts.price_fen * rule.price_multiple, facts.loss_fen * rule.loss_multiple, rule.floor_fen
    )
    out.append(
        _make(policy, "damages", damages, rule.rule_id, cite,
              f"{what}，依{cite}另行支付赔偿金{format_fen(damages)}"
              f"（不低于{format_fen(rule.floor_fen)}）。", ground="law")
    )
    return out


def _ordinary_loss(policy: RemedyPolicy, facts: Facts) -> list[Entitlement]:
    if facts.parcel_lost and not facts.insured and facts.declared_value_fen is None:
        cap = policy.parcel_cap
        amount = min(facts.loss_fen, cap.cap_fen) if facts.loss_fen else cap.cap_fen
        return [
            _make(policy, "compensation", amount, "unvalued_parcel_cap", cap.source,
                  f"未保价快件按承运方最高限额（{cap.source_amount_minor // 100}"
                  f"{cap.source_currency}，按{cap.rate}折合）赔偿{format_fen(amount)}。",
                  ground="contract")
        ]
    if facts.parcel_lost and facts.declared_value_fen is not None:
        declared = facts.declared_value_fen
        amount = min(facts.loss_fen, declared) if facts.loss_fen else declared
        return [
            _make(policy, "compensation", amount, "declared_value_parcel", LOSS_SOURCE,
                  f"保价快件按声明价值赔偿{format_fen(amount)}。", ground="contract")
        ]
    if facts.loss_fen <= 0:
        return []
    return [
        _make(policy, "compensation", facts.loss_fen, "ordinary_loss", LOSS_SOURCE,
              f"按实际损失赔偿{format_fen(facts.loss_fen)}。", ground="law")
    ]


@dataclass(frozen=True)
class GoodwillOffer:
    """A gesture from the brand's catalogue (never an entitlement: the brand's own ground)."""

    kind: str
    amount_fen: int
    policy_version: str
    explanation: str


def goodwill_offers(policy: RemedyPolicy, price_fen: int) -> list[GoodwillOffer]:
    """The catalogue's gestures for a price: its share of the price, kept within [min, max];
    an item without a share (gift, shipping) is offered at its limit.

    A goodwill gesture comes on top of what is owed, never instead of it (a voucher alone is
    not a remedy for a prepaid service, 消法 第五十三条 [003]); the offer adds it to entitlements.
    """
    if isinstance(price_fen, bool) or not isinstance(price_fen, int) or price_fen < 0:
        raise ValueError(f"price_fen must be a non-negative integer, not {price_fen!r}")
    offers: list[GoodwillOffer] = []
    for item in policy.goodwill:
        share = price_fen * item.percent_bp // BASIS_POINTS if item.percent_bp else item.max_fen
        amount = min(max(share, item.min_fen), item.max_fen)
        if amount == 0 and item.kind != "card_transfer":
            continue
        what = f"{item.name_zh}{format_fen(amount)}" if amount else item.name_zh
        offers.append(
            GoodwillOffer(
                kind=item.kind,
                amount_fen=amount,
                policy_version=policy.version,
                explanation=f"为表歉意，另赠{what}。",
            )
        )
    return offers
