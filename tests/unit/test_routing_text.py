"""Routing's text understanding: rules as data, classification in either script, safety
signals (DOMAIN.md steps 2–3; issue 18 "Text understanding").

Each category is shown by a seed's own sentence, as the seed writes it (traditional
characters) and in simplified characters: both classify alike.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from services.routing.classification import classify
from services.routing.domain import RoutingCase
from services.routing.policies import assess
from services.routing.roster import DEFAULT_ROSTER, choose
from services.routing.rules import (
    DIMENSIONS,
    RulesDocument,
    compile_rules,
    default_document,
)

# (seed, category, traditional as the seed writes it, simplified twin)
SEED_CASES = [
    (
        "003 會所更名會員卡作廢",
        "prepaid_card",
        "29位消費者在上海海蘭雲天花園式浴場辦理了「充值消費卡」,該浴場於2008年10月初重新裝修後"
        "更名為「阿狄麗娜國際會所」,當他們再次前往店內消費時,卻被告知原消費卡不能繼續使用,"
        "必須再充值1000元更換新卡",
        "29位消费者在上海海兰云天花园式浴场办理了「充值消费卡」,该浴场于2008年10月初重新装修后"
        "更名为「阿狄丽娜国际会所」,当他们再次前往店内消费时,却被告知原消费卡不能继续使用,"
        "必须再充值1000元更换新卡",
    ),
    (
        "003 火車開了車票還未到",
        "delivery",
        "消費者簡先生於1月30日委託上海豐馳速遞有限公司,從上海快遞2張火車票到紹興。"
        "速遞公司人員表示2月2日將火車票送到,但直到2月15日火車票仍未送到。",
        "消费者简先生于1月30日委托上海丰驰速递有限公司,从上海快递2张火车票到绍兴。"
        "速递公司人员表示2月2日将火车票送到,但直到2月15日火车票仍未送到。",
    ),
    (
        "003 損壞快遞物品拒不處理",
        "delivery",
        "損壞快遞物品拒不處理。消費者劉先生於2008年6月29日委託猴子宅急送有限公司將一台電腦"
        "從上海送到湖北。然而,收件人打開包裝後卻發現電腦機箱的零件全部散了,電腦已無法正常使用。",
        "损坏快递物品拒不处理。消费者刘先生于2008年6月29日委托猴子宅急送有限公司将一台电脑"
        "从上海送到湖北。然而,收件人打开包装后却发现电脑机箱的零件全部散了,电脑已无法正常使用。",
    ),
    (
        "003 承諾優惠,結果不優惠",
        "price_billing",
        "店方表示原數碼照片每張沖印價格已由1.1元上調至1.4元,同時承認店內價目表未及時更換",
        "店方表示原数码照片每张冲印价格已由1.1元上调至1.4元,同时承认店内价目表未及时更换",
    ),
    (
        "000 海爾上門維修",
        "repair_quality",
        "很多客戶的洗衣機都是經過海爾連續三四次甚至5次的上門維修才解決問題的",
        "很多客户的洗衣机都是经过海尔连续三四次甚至5次的上门维修才解决问题的",
    ),
    (
        "003 顧客投訴的原因及類別",
        "service_attitude",
        "與店員服務有關的投訴包括:店員態度不友好,收銀作業不當",
        "与店员服务有关的投诉包括:店员态度不友好,收银作业不当",
    ),
    (
        "003 案例分析3 西裝",
        "product_quality",
        "來一顧客要求退換西裝,該西裝已購買1個多月,腋下撕裂",
        "来一顾客要求退换西装,该西装已购买1个多月,腋下撕裂",
    ),
    (
        "003 正當投訴范圍 2.",
        "contract",
        "產品規格、等級、數量等與合同規定或與貨物清單不符",
        "产品规格、等级、数量等与合同规定或与货物清单不符",
    ),
    (
        "002 食品安全法草案 (the seed is simplified; the traditional twin)",
        "food_safety",
        "三是《食品安全法草案》規定的按價款10倍賠償",
        "三是《食品安全法草案》规定的按价款10倍赔偿",
    ),
    (
        "003 案例分析5 中銀理財貴賓卡",
        "other",
        "中銀理財貴賓卡客戶,在全國中行系統內異地存取現金、轉賬免手續費",
        "中银理财贵宾卡客户,在全国中行系统内异地存取现金、转账免手续费",
    ),
]
KAO_SEED = (  # [003 案例分析4]: the crisis team flew out the same night
    "王 在晚上曾經接到一個膚質過敏型客戶的投訴,說其洗發水使用之後頭皮發癢並出現紅色小顆粒"
)
README_ALLERGY = "使用后头皮过敏，起了红疹"  # README's own example, issue 18


def complaint(description: str, category: str = "", **extra: Any) -> dict[str, Any]:
    """A ComplaintReceived payload, as routing receives it."""
    return {"product": {"category": category}, "description": description, **extra}


def decision(description: str) -> tuple[Any, ...]:
    c = classify(complaint(description))
    return (c.category, c.dimension, c.dimensions, c.well_founded, c.reasons, c.judgement)


@pytest.mark.parametrize(
    ("seed", "category", "traditional", "simplified"), SEED_CASES, ids=[c[0] for c in SEED_CASES]
)
def test_each_category_from_a_seed_case_classifies_alike_in_both_scripts(
    seed: str, category: str, traditional: str, simplified: str
) -> None:
    assert classify(complaint(traditional)).category == category, seed
    assert decision(traditional) == decision(simplified)


def test_every_classification_records_the_rules_version_it_used() -> None:
    result = classify(complaint(SEED_CASES[0][2]))
    assert result.rules_version == default_document().version


# --- safety signals ------------------------------------------------------------------------


def test_allergy_in_the_text_is_critical_with_the_words_as_reason_readme_example() -> None:
    result = classify(complaint(README_ALLERGY, category="洗发水"))
    assert result.safety_signals == ["过敏", "红疹"]
    severity = assess(complaint(README_ALLERGY), safety_signals=result.safety_signals)
    assert severity.level == "critical"
    assert severity.factors == ["personal injury or safety: 过敏、红疹"]
    chosen = choose(DEFAULT_ROSTER, "any", severity.level, result.category, 6_900)
    assert chosen.team == "crisis"  # although the injury flag is not set


def test_kao_allergy_seed_is_a_safety_case_named_as_the_seed_writes_it_003() -> None:
    result = classify(complaint(KAO_SEED, category="洗髮水"))
    assert result.category == "product_quality"
    assert result.safety_signals == ["過敏"]  # as written, traditional
    assert "mentions 过敏 (safety: allergy)" in result.reasons
    assert assess(complaint(KAO_SEED), result.safety_signals).level == "critical"


@pytest.mark.parametrize(
    ("text", "signal"),
    [
        ("熱水壺把手燙傷了孩子", "燙傷"),
        ("充電時手機爆炸了", "爆炸"),
        ("洗衣機漏電,我被電了一下", "漏電"),
        ("吃了以後食物中毒,去醫院掛了急診", "食物中毒"),
        ("电暖器突然冒烟起火", "冒烟"),
        ("因為故障導致車禍", "車禍"),  # [000] 三菱: a fault caused a car accident
    ],
)
def test_safety_words_in_either_script_are_signals(text: str, signal: str) -> None:
    assert signal in classify(complaint(text)).safety_signals


def test_a_complaint_without_safety_words_has_no_signal_and_stays_normal() -> None:
    result = classify(complaint("快递三天都没有送到"))
    assert result.safety_signals == []
    assert assess(complaint("快递三天都没有送到"), result.safety_signals).level == "normal"


# --- single characters, dimensions, judgement -----------------------------------------------


def test_single_characters_no_longer_over_match() -> None:
    """Issue 18: 坏 and 漏 alone over-matched; 漏发 is a delivery fault, not a leak."""
    assert classify(complaint("漏发了一件")).category == "delivery"
    assert classify(complaint("不知道好坏,先问问")).category == "other"
    assert classify(complaint("屋顶漏水了")).category == "product_quality"


def test_a_single_character_keyword_is_refused_naming_the_field() -> None:
    document = default_document().model_dump()
    document["categories"][0]["keywords"].append("坏")
    with pytest.raises(ValidationError) as refused:
        RulesDocument.model_validate(document)
    error = refused.value.errors()[0]
    assert error["loc"][:3] == ("categories", 0, "keywords")
    assert "single character" in error["msg"]


def test_a_traditional_single_character_is_refused_too() -> None:
    with pytest.raises(ValidationError):
        RulesDocument.model_validate(
            {
                "version": "1",
                "categories": [
                    {"category": "x_y", "keywords": ["壞"], "dimensions": ["reliability"]}
                ],
            }
        )


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["categories"].append(dict(d["categories"][0])),  # a category twice
        lambda d: d["categories"][0].update(category="other"),  # the fallback takes no rule
        lambda d: d["categories"][0].update(dimensions=["safety"]),  # not one of the 五度
        lambda d: d.update(version="has space"),
        lambda d: d.update(unexpected=True),
    ],
)
def test_an_invalid_document_is_refused(change: Any) -> None:
    document = default_document().model_dump()
    change(document)
    with pytest.raises(ValidationError):
        RulesDocument.model_validate(document)


def test_every_dimension_the_complaint_touches_is_listed_primary_first_000() -> None:
    text = "快递员态度恶劣,包装破损,承诺的时间没有送到,一直拖延,说不清原因"
    result = classify(complaint(text))
    assert result.category == "delivery"
    assert result.dimension == result.dimensions[0] == "responsiveness"
    assert sorted(result.dimensions) == sorted(DIMENSIONS)


def test_the_strongest_match_wins_hits_times_weight_ties_by_document_order() -> None:
    document = {
        "version": "t-1",
        "categories": [
            {"category": "first", "keywords": ["甲乙"], "dimensions": ["empathy"]},
            {"category": "second", "keywords": ["丙丁", "戊己"], "dimensions": ["tangibles"]},
            {"category": "heavy", "keywords": ["庚辛"], "dimensions": ["assurance"], "weight": 3},
        ],
    }
    rules = compile_rules(RulesDocument.model_validate(document).canonical())
    assert classify(complaint("甲乙 丙丁"), rules).category == "first"  # 1 × 1 each: order
    assert classify(complaint("甲乙 丙丁 戊己"), rules).category == "second"  # 2 × 1
    assert classify(complaint("丙丁 戊己 庚辛"), rules).category == "heavy"  # 1 × 3
    assert classify(complaint("甲乙"), rules).rules_version == "t-1"


def test_a_keyword_written_in_both_scripts_counts_once() -> None:
    document = {
        "version": "t-2",
        "categories": [
            {"category": "points", "keywords": ["积分", "積分"], "dimensions": ["reliability"]},
            {"category": "delivery", "keywords": ["快递", "物流"], "dimensions": ["tangibles"]},
        ],
    }
    rules = compile_rules(RulesDocument.model_validate(document).canonical())
    result = classify(complaint("积分 快递 物流"), rules)
    assert result.category == "delivery"  # 2 hits against 1, not a tie of 2
    assert result.reasons == ["mentions 快递", "mentions 物流", "mentions 积分 (points, outscored)"]


def test_repair_outscores_the_fault_it_repairs() -> None:
    assert classify(complaint("故障送去維修後還是不行")).category == "repair_quality"


def test_misuse_in_the_consumers_own_words_is_judged_unfounded_with_the_reason_002() -> None:
    """[002] faults come from technical problems 或者人为使用不当 (or misuse)."""
    result = classify(complaint("手機是我自己摔壞的,要求免費換新"))
    assert result.well_founded is False
    assert "自己摔坏" in result.judgement
    assert "misuse" in result.judgement


def test_a_safety_signal_is_never_judged_unfounded_on_the_text_alone() -> None:
    result = classify(complaint("说我使用不当,可孩子已经烫伤住院"))
    assert result.well_founded is True
    assert result.safety_signals == ["烫伤", "住院"]
    assert "never judged unfounded" in result.judgement


def test_without_a_keyword_the_complaint_is_other_and_well_founded_with_a_reason() -> None:
    result = classify(complaint("我想咨询一下"))
    assert (result.category, result.well_founded) == ("other", True)
    assert result.reasons == ["no category keyword matched"]
    assert result.judgement.startswith("Well-founded until a handler finds otherwise")


def test_the_packaged_default_is_valid_and_names_the_nine_categories() -> None:
    names = [c.category for c in default_document().categories]
    assert sorted([*names, "other"]) == sorted(
        [
            "product_quality",
            "repair_quality",
            "service_attitude",
            "price_billing",
            "delivery",
            "prepaid_card",
            "contract",
            "food_safety",
            "other",
        ]
    )
    json.dumps(default_document().model_dump())  # JSON all through


def test_a_v1_classification_is_read_with_its_one_dimension_and_no_rules_version() -> None:
    state = {"category": "delivery", "dimension": "responsiveness"}
    RoutingCase.ComplaintClassified.upcast_v1_v2(state)
    assert state["dimensions"] == ["responsiveness"]
    assert state["safety_signals"] == []
    assert state["rules_version"] is None
