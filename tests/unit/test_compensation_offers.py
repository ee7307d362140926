"""The policy engine behind `offers.propose` and the apology: each test cites its seed (file +
quoted phrase) or its law and article. Amounts are hand-computed in fen; dates are facts.
"""

from __future__ import annotations

import itertools
import json
from datetime import date, timedelta
from typing import Any

import pytest

from services.compensation import apology
from services.compensation.offers import Counter, Proposal, RepairHistory, Situation, propose
from services.compensation.policy import (
    DEFAULT_DOCUMENT,
    PolicyError,
    RemedyPolicy,
    default_policy,
    parse_policy,
)
from services.compensation.policy_store import refusals

BOUGHT = date(2026, 1, 1)


def _on(day: int) -> date:
    return BOUGHT + timedelta(days=day)


def _received(
    category: str = "microwave", price: int = 100_000, demands: list[dict[str, Any]] | None = None,
    **more: Any,
) -> dict[str, Any]:
    order = {"price_fen": price, "purchase_date": BOUGHT.isoformat(), "sale_channel": "in_store"}
    order.update(more.pop("order", {}))
    return {
        "channel": "phone",
        "subject_ref": "subject-7",
        "product": {"category": category},
        "order": order,
        "description": "坏了",
        "demands": demands or [],
        **more,
    }


def _situation(received: dict[str, Any], day: int, *findings: str, **more: Any) -> Situation:
    return Situation(received, _on(day), frozenset(findings), **more)


def _rows(found: list[Proposal]) -> list[tuple[str, int, str]]:
    return [(p.kind, p.amount_fen, p.rule_id) for p in found]


def _one(found: list[Proposal], kind: str) -> Proposal:
    (match,) = [p for p in found if p.kind == kind]
    return match


def _brand(**changes: Any) -> RemedyPolicy:
    document: dict[str, Any] = json.loads(DEFAULT_DOCUMENT.read_text(encoding="utf-8"))
    document.update(brand="acme", version="acme-1", ground="brand")
    document.update(changes)
    return parse_policy(json.dumps(document))


# --- 三包 [seed 002 上海条例 "在保修期内经两次修理仍不能正常使用的"] ---------------------------


def test_two_failed_repairs_in_warranty_give_exchange_or_a_depreciated_refund() -> None:
    # 微波炉 0.05%/日 [002 折旧率]: 200 days held, 10 in repair → 190 × 5 bp × ¥1,000 = ¥95.
    repairs = RepairHistory(repairs_in_warranty=2, days_in_repair=10)
    found = propose(default_policy(),
                    _situation(_received(), 200, "performance_fault", repairs=repairs))
    assert _rows(found)[:3] == [
        ("refund", 90_500, "sanbao_two_repairs"),
        ("exchange", 0, "sanbao_two_repairs"),
        ("repair", 0, "sanbao_warranty_repair"),
    ]
    refund = _one(found, "refund")
    assert refund.statutory
    assert refund.ground == "regulation"
    assert "两次修理" in refund.basis
    assert refund.policy_version == "2026.1"
    assert "¥905.00" in refund.explanation


def test_one_repair_in_warranty_gives_repair_only() -> None:
    found = propose(default_policy(), _situation(
        _received(), 200, "performance_fault", repairs=RepairHistory(repairs_in_warranty=1)
    ))
    assert [p.kind for p in found if p.kind in ("refund", "exchange", "repair")] == ["repair"]


# --- statutory damages --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "damages"),
    [(10_000, 50_000), (16_666, 50_000), (16_667, 50_001), (50_000, 150_000)],
)
def test_fraud_refunds_the_price_and_pays_three_times_it_at_least_500_yuan(
    price: int, damages: int
) -> None:
    # 消法 第五十五条: "价款...的三倍；增加赔偿的金额不足五百元的，为五百元"
    found = propose(default_policy(), _situation(_received("jewelry", price), 30, "fraud"))
    assert _rows(found)[:2] == [
        ("refund", price, "cpl_art55_fraud"),
        ("damages", damages, "cpl_art55_fraud"),
    ]
    assert all(p.statutory and p.ground == "law" for p in found[:2])
    assert "第五十五条" in _one(found, "damages").basis


@pytest.mark.parametrize(
    ("price", "loss", "damages"),
    [
        (5_000, 0, 100_000),  # 10 × ¥50 = ¥500 < the ¥1,000 floor
        (20_000, 0, 200_000),  # 10 × the price
        (1_000, 50_000, 150_000),  # 3 × the loss beats 10 × the price and the floor
    ],
)
def test_unsafe_food_pays_the_loss_and_ten_times_the_price_or_three_times_the_loss(
    price: int, loss: int, damages: int
) -> None:
    # 食安法 第一百四十八条: "价款十倍或者损失三倍的赔偿金；增加赔偿的金额不足一千元的，为一千元"
    found = propose(default_policy(),
                    _situation(_received("food", price, loss_fen=loss), 5, "unsafe_food"))
    assert _one(found, "damages").amount_fen == damages
    assert _one(found, "damages").rule_id == "fsl_art148_unsafe_food"
    if loss:
        assert _one(found, "compensation").amount_fen == loss
    else:
        assert "compensation" not in [p.kind for p in found]


# --- distance sales [002 上海条例 "消费者自收到商品之日起七日内要求退货的"; 消法 第二十五条] ---


@pytest.mark.parametrize(("day", "refunded"), [(10, True), (11, False)])
def test_distance_sale_is_returned_within_seven_days_of_receipt(day: int, refunded: bool) -> None:
    received = _received(
        "jewelry", 30_000, order={"sale_channel": "distance", "delivery_date": "2026-01-04"}
    )
    found = propose(default_policy(), _situation(received, day))
    refunds = [p for p in found if p.kind == "refund"]
    if refunded:  # delivered on day 3, decided 7 days later
        assert [(p.amount_fen, p.rule_id, p.ground) for p in refunds] == [
            (30_000, "distance_sale_return", "law")
        ]
        assert _one(found, "shipping").amount_fen == 5_000  # goodwill on top
    else:
        assert refunds == []


# --- the unvalued parcel [003 "按不保值快件的最高金额25美元给予简先生赔偿"] ------------------


def test_a_lost_unvalued_parcel_is_compensated_up_to_the_carriers_cap() -> None:
    found = propose(default_policy(),
                    _situation(_received("parcel", 0, loss_fen=100_000), 2, "parcel_lost"))
    parcel = _one(found, "compensation")
    assert (parcel.amount_fen, parcel.rule_id, parcel.ground) == (
        17_971, "unvalued_parcel_cap", "contract"
    )
    assert not parcel.statutory
    assert "25USD" in parcel.explanation


def test_a_lost_declared_parcel_is_compensated_at_its_declared_value() -> None:
    received = _received("parcel", 0, loss_fen=100_000, order={"declared_value_fen": 30_000})
    found = propose(default_policy(), _situation(received, 2, "parcel_lost"))
    assert _one(found, "compensation").amount_fen == 30_000


# --- precedence [002 处理消费者投诉的依据: law > regulation > standard > contract > brand] ----


def test_a_brand_may_give_more_than_the_law_and_what_only_it_gives_is_not_statutory() -> None:
    generous = _brand(sanbao=[{**json.loads(DEFAULT_DOCUMENT.read_text())["sanbao"][-1],
                               "refund_days": 30, "exchange_days": 30}])
    assert refusals("acme", generous) == []
    found = propose(generous, _situation(_received(), 20, "performance_fault"))
    refund, repair = _one(found, "refund"), _one(found, "repair")
    assert (refund.ground, refund.statutory, refund.policy_version) == ("brand", False, "acme-1")
    assert (repair.ground, repair.statutory) == ("regulation", True)  # the law grants it too


def test_a_brand_document_less_generous_than_the_law_is_refused_naming_the_rule() -> None:
    stingy = _brand(distance_return_days=3, sanbao=[
        {**json.loads(DEFAULT_DOCUMENT.read_text())["sanbao"][-1], "refund_days": 3}
    ])
    found = dict(refusals("acme", stingy))
    assert set(found) == {"distance_return_days", "sanbao.microwave.refund_days"}
    assert "below 7" in found["distance_return_days"]
    assert set(dict(refusals("other", _brand()))) == {"brand"}
    assert set(dict(refusals("acme", _brand(ground="law")))) == {"ground"}


def test_the_stronger_ground_wins_a_tie_between_rules_of_one_kind() -> None:
    # A fraud at day 3: the 三包 refund (regulation) and 消法 55 (law) both give the price.
    found = propose(default_policy(), _situation(_received(price=30_000), 3, "fraud"))
    assert _one(found, "refund").rule_id == "cpl_art55_fraud"


# --- 三个为主 and the consumer's demands [002 "可换可不换的,以换为主;...分不清责任的,以我为主"] --


def test_a_fault_nobody_attributed_is_taken_on_by_the_brand_and_a_1x_complaint_works() -> None:
    received = {  # 1.x shape: no sale_channel, loss_fen, fault_date, delivery_date
        "channel": "phone",
        "product": {"category": "microwave"},
        "order": {"price_fen": 30_000, "purchase_date": "2026-01-01"},
        "demands": [{"kind": "refund"}],
    }
    found = propose(default_policy(), _situation(received, 3))
    refund = _one(found, "refund")
    assert (refund.amount_fen, refund.rule_id) == (30_000, "sanbao_refund_period")
    assert "由我方承担" in refund.explanation


def test_demands_beyond_entitlements_are_goodwill_within_the_catalogue_else_need_approval() -> None:
    demands = [{"kind": "exchange"}, {"kind": "compensation", "amount_fen": 80_000}]
    found = propose(default_policy(), _situation(_received("jewelry", 30_000, demands), 100))
    exchange = _one(found, "exchange")
    assert (exchange.rule_id, exchange.ground, exchange.needs_approval_reason) == (
        "sanxing_exchange", "brand", None
    )
    comp = _one(found, "compensation")
    assert (comp.amount_fen, comp.rule_id, comp.needs_approval_reason) == (
        80_000, "demand_within_catalogue", None
    )
    demands[1]["amount_fen"] = 100_001  # above the catalogue's largest limit (¥1,000)
    over = _one(propose(default_policy(), _situation(_received("jewelry", 30_000, demands), 100)),
                "compensation")
    assert over.rule_id == "demand_beyond_catalogue"
    assert over.needs_approval_reason is not None


def test_a_refund_demanded_when_the_fault_is_the_consumers_waits_for_approval() -> None:
    found = propose(default_policy(), _situation(
        _received(demands=[{"kind": "refund"}]), 3, "consumer_caused"
    ))
    refund = _one(found, "refund")
    assert refund.needs_approval_reason is not None
    assert not refund.statutory


def test_services_are_redone_unless_the_consumer_caused_the_fault() -> None:
    # 002 上海条例 "消费者提出重作、退货、退款要求的,经营者应当给予重作"
    found = propose(default_policy(), _situation(_received("dry_cleaning", 8_000), 2))
    assert _one(found, "redo").rule_id == "service_redo"
    found = propose(default_policy(), _situation(_received("dry_cleaning", 8_000), 2,
                                                 "consumer_caused"))
    assert "redo" not in [p.kind for p in found]


def test_goodwill_comes_on_top_of_what_is_owed_never_instead() -> None:
    # 003 消法 第五十三条: a voucher alone is not a remedy; 转卡 for prepaid cards only.
    found = propose(default_policy(), _situation(_received(), 3, "performance_fault"))
    kinds = [p.kind for p in found]
    assert kinds == ["refund", "exchange", "repair", "voucher", "gift", "discount", "shipping"]
    assert [p.amount_fen for p in found[3:]] == [5_000, 20_000, 10_000, 5_000]
    card = propose(default_policy(), _situation(_received("prepaid_card", 50_000), 3))
    assert "card_transfer" in [p.kind for p in card]


# --- the counter-proposal -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counter", "rule", "flagged"),
    [
        (Counter("refund", 20_000), "counter_within_entitlement", False),
        (Counter("refund", None), "counter_within_entitlement", False),
        (Counter("voucher", 30_000), "counter_within_catalogue", False),
        (Counter("compensation", 90_000), "counter_within_catalogue", False),
        (Counter("compensation", 500_000), "counter_beyond_policy", True),
        (Counter("voucher", 60_000), "counter_beyond_policy", True),
    ],
)
def test_a_counter_within_entitlements_or_the_catalogue_is_proposed_else_flagged(
    counter: Counter, rule: str, flagged: bool
) -> None:
    found = propose(default_policy(),
                    _situation(_received(price=30_000), 3, "performance_fault", counter=counter))
    answer = [p for p in found if p.rule_id.startswith("counter_")]
    assert [p.rule_id for p in answer] == [rule]
    assert (answer[0].needs_approval_reason is not None) is flagged
    expected = counter.amount_fen if counter.amount_fen is not None else 30_000
    assert answer[0].amount_fen == expected


# --- every proposal -------------------------------------------------------------------------


def test_every_proposal_is_integer_fen_with_rule_basis_ground_version_and_chinese_line() -> None:
    received = _received("jewelry", 30_000, [{"kind": "refund"}, {"kind": "apology"},
                                            {"kind": "compensation", "amount_fen": 1_000}],
                         loss_fen=2_000)
    found = propose(default_policy(), _situation(received, 3, "fraud",
                                                 counter=Counter("gift", 5_000)))
    assert found
    for p in found:
        assert isinstance(p.amount_fen, int)
        assert p.amount_fen >= 0
        assert p.rule_id
        assert p.basis
        assert p.ground in ("law", "regulation", "standard", "contract", "brand")
        assert p.statutory == (p.ground in ("law", "regulation"))
        assert p.policy_version == "2026.1"
        assert "\n" not in p.explanation
        assert any("\u4e00" <= ch <= "\u9fff" for ch in p.explanation)


def test_the_order_is_fixed_whatever_the_order_of_the_demands() -> None:
    demands = [{"kind": "refund"}, {"kind": "apology"}, {"kind": "exchange"},
               {"kind": "compensation", "amount_fen": 5_000}]
    results = {
        tuple(propose(default_policy(), _situation(_received("jewelry", 9_000, list(p)), 40)))
        for p in itertools.permutations(demands)
    }
    assert len(results) == 1


# --- the apology [002 先处理情感，后处理事件] -----------------------------------------------


def test_the_apology_is_chinese_with_variables_filled_and_no_admission_or_pii() -> None:
    message, version = apology.render(default_policy(), _received(), "h-17")
    assert version == "2026.1/apology-1/default"
    assert "您" in message
    assert "微波炉" in message
    assert "h-17" in message
    assert "我们" in message  # the default document names no brand
    for word in ("责任", "赔偿", "subject-7", "{"):
        assert word not in message


def test_the_brand_template_for_the_channel_and_its_names_are_used() -> None:
    policy = _brand(apology={
        "version": "ap-2",
        "brand_name_zh": "顶好",
        "by_channel": {"social_media": "{address}好，{brand}就{category}一事向{address}致歉。"},
        "category_names_zh": {"jewelry": "首饰"},
    })
    message, version = apology.render(policy, _received("jewelry", channel="social_media"), "h")
    assert (message, version) == ("您好，顶好就首饰一事向您致歉。", "acme-1/ap-2/social_media")
    message, version = apology.render(policy.apology, _received("jewelry"), "h")
    assert version == "ap-2/default"
    assert "顶好" in message


@pytest.mark.parametrize(
    ("template", "named"),
    [
        ("{address}好，我们对此承担全部责任。", "apology.default"),
        ("{address}好，我们会赔偿。", "apology.default"),
        ("{name}您好", "unknown variable"),
    ],
)
def test_a_template_admitting_fault_or_naming_unknown_variables_is_refused(
    template: str, named: str
) -> None:
    with pytest.raises(PolicyError, match=named):
        _brand(apology={"default": template})


def test_pathological_documents_are_refused_before_any_work() -> None:
    # A format spec would let a template allocate without bound; an exponent in the rate
    # would make a huge exact fraction: both are refused at load (422), never run.
    with pytest.raises(PolicyError, match="no conversion or format spec"):
        _brand(apology={"default": "{address:>999999999}"})
    with pytest.raises(PolicyError, match="is not a decimal"):
        _brand(parcel_cap={**default_policy().parcel_cap.model_dump(), "rate": "1e999999"})


def test_the_packaged_brand_example_loads_for_its_brand() -> None:
    # `aftersales compensation policy load --brand acme services/compensation/data/...`
    example = DEFAULT_DOCUMENT.parent / "policy_brand_example.json"
    policy = parse_policy(example.read_bytes())
    assert refusals("acme", policy) == []
    message, version = apology.render(policy, _received(channel="social_media"), "h-1")
    assert version == "acme-2026.1/acme-apology-1/social_media"
    assert "艾克美" in message


def test_a_main_part_fault_is_repaired_free_within_the_main_parts_longer_warranty() -> None:
    # seed 002 三包规定 "主要部件三包期": 彩色电视机 整机 1 年; its main part longer (3 years).
    found = propose(default_policy(), _situation(_received("color_tv", 300_000), 500,
                                                 "main_part_fault"))
    assert [(p.kind, p.rule_id) for p in found][:1] == [("repair", "sanbao_warranty_repair")]
    found = propose(default_policy(), _situation(_received("color_tv", 300_000), 500,
                                                 "performance_fault"))
    assert "repair" not in [p.kind for p in found]  # the whole unit's year is over


def test_without_a_purchase_date_no_sanbao_period_is_counted() -> None:
    # 部分商品修理更换退货责任规定 第八条 counts "自售出之日起": no sale date, no period.
    received = _received(demands=[{"kind": "exchange"}])
    del received["order"]["purchase_date"]
    found = propose(default_policy(), _situation(received, 3, "performance_fault"))
    assert [p.rule_id for p in found if p.kind in ("refund", "exchange", "repair")] == [
        "sanxing_exchange"
    ]
    exchange = _one(found, "exchange")
    assert exchange.explanation.startswith("本着以换为主的原则")  # the fault is attributed
