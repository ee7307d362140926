"""Remedy policy engine: each test cites its seed (file + quoted phrase) or its law and article.

Amounts are hand-computed in fen. Pure domain tests: no services, no clock (dates are facts).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest

from services.compensation.entitlements import (
    Entitlement,
    Facts,
    depreciated_refund_fen,
    entitlements,
    goodwill_offers,
)
from services.compensation.policy import (
    DEFAULT_DOCUMENT,
    PolicyError,
    RemedyPolicy,
    default_policy,
    load_brand_policy,
    parse_policy,
)

BOUGHT = date(2026, 1, 1)


def _on(day: int) -> date:
    return BOUGHT + timedelta(days=day)


def _fault(category: str, price: int, day: int, **more: Any) -> Facts:
    return Facts(
        price_fen=price,
        purchase_date=BOUGHT,
        decision_date=_on(day),
        category=category,
        performance_fault=True,
        **more,
    )


def _kinds(found: list[Entitlement]) -> list[tuple[str, int, str]]:
    return [(e.kind, e.amount_fen, e.rule_id) for e in found]


def _brand(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DEFAULT_DOCUMENT.read_text(encoding="utf-8"))
    document.update(brand="acme", version="acme-1", ground="brand")
    document.update(changes)
    return document


def _category(document: dict[str, Any], name: str) -> dict[str, Any]:
    entry: dict[str, Any] = next(c for c in document["sanbao"] if c["category"] == name)
    return entry


# --- the packaged baseline [002 三包规定 "名称 整机三包期 ... 折旧率"] --------------------------


def test_default_policy_has_the_seed_table_rows_with_their_source() -> None:
    # seed 002: "自行车 彩色电视机 黑白电视机 家用录像机 摄像机 收录机 电子琴 家用电冰箱 洗衣机
    # 电风扇 微波炉" and "0.05% 0.1% 0.05% 0.1% 0.1% 0.05% ..." per day; 收录机 整机 0.5 年.
    policy = default_policy()
    names = [c.name_zh for c in policy.sanbao]
    assert names == [
        "自行车", "彩色电视机", "黑白电视机", "家用录像机", "摄像机", "收录机",
        "电子琴", "家用电冰箱", "洗衣机", "电风扇", "微波炉",
    ]  # fmt: skip
    rates = [c.depreciation_bp_per_day for c in policy.sanbao]
    assert rates == [5, 10, 5, 10, 10, 5, 5, 5, 5, 5, 5]
    radio = policy.category("radio_cassette")
    assert radio is not None
    assert radio.whole_unit_warranty_days == 183
    tv = policy.category("color_tv")
    assert tv is not None
    assert tv.whole_unit_warranty_days == 365
    assert all("002" in c.source for c in policy.sanbao)


def test_default_policy_statutory_rules_are_the_laws_in_force() -> None:
    # 消法 第五十五条: 三倍, 不足五百元的为五百元;
    # 食安法 第一百四十八条: 价款十倍或者损失三倍, 不足一千元的为一千元.
    policy = default_policy()
    fraud = policy.statutory_rule("fraud")
    food = policy.statutory_rule("unsafe_food")
    assert fraud is not None
    assert (fraud.article, fraud.price_multiple, fraud.floor_fen) == ("第五十五条", 3, 50_000)
    assert food is not None
    assert (food.article, food.price_multiple, food.loss_multiple, food.floor_fen) == (
        "第一百四十八条", 10, 3, 100_000,
    )  # fmt: skip


# --- 三包 periods [部分商品修理更换退货责任规定 (1995) 第八、九条; seed 002 三包规定] ---------


def test_fault_within_seven_days_gives_refund_exchange_or_repair() -> None:
    found = entitlements(default_policy(), _fault("color_tv", 300_000, 7))
    assert _kinds(found) == [
        ("refund", 300_000, "sanbao_refund_period"),
        ("exchange", 0, "sanbao_refund_period"),
        ("repair", 0, "sanbao_refund_period"),
    ]
    assert all(e.statutory and e.policy_version == "2026.1" for e in found)


def test_fault_on_day_eight_to_fifteen_gives_exchange_or_repair_no_refund() -> None:
    for day in (8, 15):
        found = entitlements(default_policy(), _fault("color_tv", 300_000, day))
        assert _kinds(found) == [
            ("exchange", 0, "sanbao_exchange_period"),
            ("repair", 0, "sanbao_exchange_period"),
        ]


def test_fault_within_whole_unit_warranty_gives_free_repair_only() -> None:
    # seed 002 彩色电视机 整机三包期 1 (年): day 365 is inside, day 366 outside.
    found = entitlements(default_policy(), _fault("color_tv", 300_000, 365))
    assert _kinds(found) == [("repair", 0, "sanbao_warranty_repair")]
    assert entitlements(default_policy(), _fault("color_tv", 300_000, 366)) == []


def test_main_part_fault_uses_the_main_part_warranty() -> None:
    # seed 002 "主要部件三包期": 彩色电视机 3 年 (1095 days) against 整机 1 年.
    facts = _fault("color_tv", 300_000, 400, main_part_fault=True)
    assert _kinds(entitlements(default_policy(), facts)) == [
        ("repair", 0, "sanbao_warranty_repair")
    ]
    late = _fault("color_tv", 300_000, 1096, main_part_fault=True)
    assert entitlements(default_policy(), late) == []


# --- two repairs [002 上海条例 "在保修期内经两次修理仍不能正常使用的"] + 折旧率 -----------------


def test_two_failed_repairs_give_exchange_or_depreciated_refund_100_days() -> None:
    # 彩色电视机 折旧率 0.1%/日 = 10 bp: 300000 × 10 × 100 / 10000 = 30000 → 270000 fen.
    found = entitlements(default_policy(), _fault("color_tv", 300_000, 100, repairs_in_warranty=2))
    assert _kinds(found) == [
        ("refund", 270_000, "sanbao_two_repairs"),
        ("exchange", 0, "sanbao_two_repairs"),
        ("repair", 0, "sanbao_warranty_repair"),
    ]
    assert "两次修理" in found[0].basis


def test_one_repair_is_not_enough_for_exchange_or_refund() -> None:
    found = entitlements(default_policy(), _fault("color_tv", 300_000, 100, repairs_in_warranty=1))
    assert _kinds(found) == [("repair", 0, "sanbao_warranty_repair")]


def test_depreciation_excludes_days_in_repair_and_rounds_for_the_consumer() -> None:
    # 家用电冰箱 0.05%/日 = 5 bp: 100 days less 20 in repair = 80: 450000×5×80/10000 = 18000.
    facts = _fault("refrigerator", 450_000, 100, repairs_in_warranty=2, days_in_repair=20)
    refunds = [e for e in entitlements(default_policy(), facts) if e.kind == "refund"]
    assert [e.amount_fen for e in refunds] == [432_000]
    # 12345 × 5 × 3 / 10000 = 18.5175 fen charged: 18 (down), refund 12327.
    fridge = default_policy().category("refrigerator")
    assert fridge is not None
    assert depreciated_refund_fen(fridge, 12_345, 3) == 12_327


def test_unclear_responsibility_is_taken_on_by_the_brand() -> None:
    # seed 002 三个为主 "分不清责任的,以我为主".
    facts = Facts(
        price_fen=100_000, purchase_date=BOUGHT, decision_date=_on(3),
        category="washing_machine", responsibility_unclear=True,
    )  # fmt: skip
    found = entitlements(default_policy(), facts)
    assert [e.kind for e in found] == ["refund", "exchange", "repair"]
    assert "以我方承担" in found[0].explanation or "由我方承担" in found[0].explanation
    no_fault = Facts(price_fen=100_000, purchase_date=BOUGHT, decision_date=_on(3))
    assert entitlements(default_policy(), no_fault) == []


# --- distance sales [002 上海条例 "自收到商品之日起七日内要求退货的"; 消法 第二十五条] --------


def test_distance_sale_returns_within_seven_days_of_receipt() -> None:
    def facts(day: int) -> Facts:
        return Facts(
            price_fen=59_900, purchase_date=BOUGHT, decision_date=_on(day),
            delivery_date=_on(4), distance_sale=True,
        )  # fmt: skip

    assert _kinds(entitlements(default_policy(), facts(11))) == [
        ("refund", 59_900, "distance_sale_return")
    ]
    assert entitlements(default_policy(), facts(12)) == []
    shop = Facts(
        price_fen=59_900, purchase_date=BOUGHT, decision_date=_on(5), delivery_date=_on(4)
    )
    assert entitlements(default_policy(), shop) == []


# --- statutory damages --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "damages"),
    [(10_000, 50_000), (16_666, 50_000), (16_667, 50_001), (40_000, 120_000)],
)
def test_fraud_refund_plus_three_times_price_at_least_500_yuan(price: int, damages: int) -> None:
    # 消法 第五十五条: 价款的三倍; 增加赔偿的金额不足五百元的，为五百元.
    facts = Facts(
        price_fen=price, purchase_date=BOUGHT, decision_date=_on(30),
        findings=frozenset({"fraud"}),
    )  # fmt: skip
    found = entitlements(default_policy(), facts)
    assert _kinds(found) == [
        ("refund", price, "cpl_art55_fraud"),
        ("damages", damages, "cpl_art55_fraud"),
    ]
    assert all(e.ground == "law" and "第五十五条" in e.basis for e in found)


@pytest.mark.parametrize(
    ("price", "loss", "damages"),
    [
        (5_000, 0, 100_000),  # 10 × 5000 = 50000 < floor
        (20_000, 10_000, 200_000),  # 10 × price wins
        (1_000, 50_000, 150_000),  # 3 × loss wins
        (9_000, 30_000, 100_000),  # 90000 and 90000 both under the floor
    ],
)
def test_unsafe_food_loss_plus_ten_times_price_or_three_times_loss_at_least_1000_yuan(
    price: int, loss: int, damages: int
) -> None:
    # 食安法 第一百四十八条: 赔偿损失外, 价款十倍或者损失三倍的赔偿金; 不足一千元的，为一千元.
    facts = Facts(
        price_fen=price, purchase_date=BOUGHT, decision_date=_on(2), loss_fen=loss,
        findings=frozenset({"unsafe_food"}),
    )  # fmt: skip
    expected = [("damages", damages, "fsl_art148_unsafe_food")]
    if loss:
        expected.append(("compensation", loss, "fsl_art148_unsafe_food"))
    assert _kinds(entitlements(default_policy(), facts)) == expected


def test_ordinary_loss_is_compensated_as_it_is() -> None:
    # seed 002 "损害多少赔偿多少".
    facts = Facts(price_fen=0, purchase_date=BOUGHT, decision_date=_on(1), loss_fen=12_345)
    assert _kinds(entitlements(default_policy(), facts)) == [
        ("compensation", 12_345, "ordinary_loss")
    ]


def test_unvalued_parcel_is_capped_at_the_carriers_25_usd() -> None:
    # seed 003 "按不保值快件的最高金额25美元给予简先生赔偿": 2500 cents × 7.1884 = 17971 fen.
    cap = default_policy().parcel_cap
    assert (cap.cap_fen, cap.source_currency, cap.source_amount_minor) == (17_971, "USD", 2_500)

    def facts(loss: int, declared: int | None = None) -> Facts:
        return Facts(
            price_fen=0, purchase_date=BOUGHT, decision_date=_on(16), loss_fen=loss,
            parcel_lost=True, declared_value_fen=declared,
        )  # fmt: skip

    assert _kinds(entitlements(default_policy(), facts(30_000))) == [
        ("compensation", 17_971, "unvalued_parcel_cap")
    ]
    assert entitlements(default_policy(), facts(10_000))[0].amount_fen == 10_000
    assert entitlements(default_policy(), facts(80_000, declared=50_000))[0].amount_fen == 50_000


# --- documents: validation and precedence [002 处理消费者投诉的依据] ------------------------


def test_a_brand_policy_less_generous_than_the_law_is_refused_naming_the_rule() -> None:
    # law > 地方性法规 > 标准 > 合同 > 经营者对外公开的有关承诺: never less than the law.
    shorter = _brand()
    _category(shorter, "color_tv")["refund_days"] = 5
    with pytest.raises(PolicyError, match=r"sanbao color_tv\.refund_days 5 is below 7"):
        load_brand_policy(json.dumps(shorter))
    stingy = _brand()
    stingy["statutory"][0]["price_multiple"] = 1
    with pytest.raises(PolicyError, match=r"price_multiple 1 is below 3.*第五十五条"):
        load_brand_policy(json.dumps(stingy))
    low_floor = _brand()
    low_floor["statutory"][1]["floor_fen"] = 50_000
    with pytest.raises(PolicyError, match=r"floor_fen 50000 is below 100000.*第一百四十八条"):
        load_brand_policy(json.dumps(low_floor))
    for change, message in (
        ({"repairs_before_replacement": 3}, "repairs_before_replacement 3 exceeds 2"),
        ({"distance_return_days": 3}, "distance_return_days 3 is below 7"),
        ({"statutory": _brand()["statutory"][:1]}, "fsl_art148_unsafe_food .* is missing"),
    ):
        with pytest.raises(PolicyError, match=message):
            load_brand_policy(json.dumps(_brand(**change)))
    steep = _brand()
    _category(steep, "refrigerator")["depreciation_bp_per_day"] = 6
    with pytest.raises(PolicyError, match="depreciation_bp_per_day 6 exceeds 5"):
        load_brand_policy(json.dumps(steep))


def test_a_more_generous_brand_policy_is_accepted_and_recorded_by_version() -> None:
    generous = _brand()
    _category(generous, "color_tv")["refund_days"] = 30
    _category(generous, "color_tv")["exchange_days"] = 30
    policy = load_brand_policy(json.dumps(generous))
    found = entitlements(policy, _fault("color_tv", 300_000, 20))
    assert _kinds(found) == [
        ("refund", 300_000, "sanbao_refund_period"),
        ("exchange", 0, "sanbao_refund_period"),
        ("repair", 0, "sanbao_refund_period"),
    ]
    assert {e.policy_version for e in found} == {"acme-1"}
    # The brand's promise (day 20 refund, exchange) is its own ground; the law owes the repair.
    assert [e.ground for e in found] == ["brand", "brand", "regulation"]
    by_law = entitlements(policy, _fault("color_tv", 300_000, 200))
    assert [e.ground for e in by_law] == ["regulation"]


def test_a_new_version_never_alters_a_past_decision() -> None:
    facts = _fault("color_tv", 300_000, 100, repairs_in_warranty=2)
    before = entitlements(default_policy(), facts)
    kinder = _brand(version="acme-2")
    _category(kinder, "color_tv")["depreciation_bp_per_day"] = 5
    after = entitlements(load_brand_policy(json.dumps(kinder)), facts)
    assert [e.amount_fen for e in after if e.kind == "refund"] == [285_000]  # 300000 - 15000
    assert entitlements(default_policy(), facts) == before
    assert [e.amount_fen for e in before if e.kind == "refund"] == [270_000]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: _category(d, "bicycle").update(exchange_days=3), "periods must nest"),
        (
            lambda d: _category(d, "bicycle").update(main_part_warranty_days=10),
            "shorter than the whole-unit warranty",
        ),
        (lambda d: d["parcel_cap"].update(cap_fen=18_000), "is not 2500 USD cents"),
        (lambda d: d["parcel_cap"].update(rate="abc"), "is not a decimal"),
        (lambda d: d["sanbao"].append(dict(d["sanbao"][0])), "'bicycle' appears twice"),
        (lambda d: d["goodwill"][0].update(min_fen=99_999), "min_fen 99999 > max_fen"),
        (lambda d: d.update(unknown=1), "unknown"),
        (lambda d: _category(d, "bicycle").update(refund_days=-1), r"sanbao\.0\.refund_days"),
    ],
)
def test_invalid_documents_are_refused_with_a_message_naming_the_field(
    mutate: Any, message: str
) -> None:
    document = _brand()
    mutate(document)
    with pytest.raises(PolicyError, match=message):
        parse_policy(json.dumps(document))


def test_explanations_are_one_chinese_line_and_output_is_deterministic() -> None:
    facts = Facts(
        price_fen=300_000, purchase_date=BOUGHT, decision_date=_on(100), category="color_tv",
        performance_fault=True, repairs_in_warranty=2, loss_fen=5_000,
        findings=frozenset({"fraud", "unsafe_food"}),
    )  # fmt: skip
    found = entitlements(default_policy(), facts)
    assert len(found) >= 6
    for entitlement in found:
        assert "\n" not in entitlement.explanation
        assert any("\u4e00" <= ch <= "\u9fff" for ch in entitlement.explanation)
    assert entitlements(default_policy(), facts) == found
    assert isinstance(default_policy(), RemedyPolicy)


def test_facts_refuse_negative_amounts_and_a_decision_before_the_purchase() -> None:
    with pytest.raises(ValueError, match="price_fen"):
        Facts(price_fen=-1, purchase_date=BOUGHT, decision_date=BOUGHT)
    with pytest.raises(ValueError, match="before purchase_date"):
        Facts(price_fen=1, purchase_date=BOUGHT, decision_date=_on(-1))


@pytest.mark.parametrize(
    ("price", "voucher"),
    [(10_000, 2_000), (300_000, 15_000), (2_000_000, 50_000)],
)
def test_goodwill_voucher_is_five_percent_within_the_catalogue_limits(
    price: int, voucher: int
) -> None:
    # seed 002 "赠送礼品及优惠卡等"; the catalogue: 代金券 5% (500 bp), at least ¥20, at most ¥500.
    offers = {o.kind: o for o in goodwill_offers(default_policy(), price)}
    assert offers["voucher"].amount_fen == voucher
    assert offers["shipping"].amount_fen == 5_000
    assert offers["gift"].amount_fen == 20_000
    assert offers["card_transfer"].amount_fen == 0
    assert offers["discount"].amount_fen == min(price // 10, 100_000)
    assert all(o.policy_version == "2026.1" for o in offers.values())
    with pytest.raises(ValueError, match="price_fen"):
        goodwill_offers(default_policy(), -1)


def test_periods_count_to_the_day_the_fault_appeared_refund_stays_arguable() -> None:
    # seed 002 三个为主 "可退可不退的,以退为主": a fault on day 6, decided on day 40, is still
    # a refund-period fault; a refund is full price (no 折旧 inside the refund period).
    facts = _fault("color_tv", 300_000, 40, fault_date=_on(6))
    assert _kinds(entitlements(default_policy(), facts)) == [
        ("refund", 300_000, "sanbao_refund_period"),
        ("exchange", 0, "sanbao_refund_period"),
        ("repair", 0, "sanbao_refund_period"),
    ]
    # Two repairs: within warranty by the fault day (365), depreciated to the decision (400):
    # 300000 × 10 × 400 / 10000 = 120000 → 180000 fen.
    late = _fault("color_tv", 300_000, 400, fault_date=_on(365), repairs_in_warranty=2)
    refunds = [e.amount_fen for e in entitlements(default_policy(), late) if e.kind == "refund"]
    assert refunds == [180_000]
    with pytest.raises(ValueError, match="fault_date"):
        _fault("color_tv", 300_000, 10, fault_date=_on(11))
