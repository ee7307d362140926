"""Unit tests for routing's policies: judge & classify, assess, route (DOMAIN.md steps 2–4).

Cases come from the seeds: the bath-house prepaid cards of 29 consumers [003 line 4],
the 78 consumers of one fruit-voucher merchant [003], and 花王's shampoo allergy
complaint, handled by a crisis team the same night [003].
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from services.routing.policies import (
    LARGE_AMOUNT_FEN,
    Severity,
    assess,
    classify,
)
from services.routing.roster import DEFAULT_ROSTER, choose

# [003] verbatim (traditional characters, as in the seed) and in simplified characters.
BATH_HOUSE_SEED = (
    "29位消費者在上海海蘭雲天花園式浴場辦理了「充值消費卡」,該浴場於2008年10月初重新裝修後更名"
    "為「阿狄麗娜國際會所」,當他們再次前往店內消費時,卻被告知原消費卡不能繼續使用,"
    "必須再充值1000元更換新卡"
)
BATH_HOUSE_SIMPLIFIED = "浴场重新装修后更名，我们办理的预付消费卡不能继续使用，要求再交1000元换新卡"
SHAMPOO_ALLERGY = "使用洗发水之后头皮发痒并出现红色小颗粒，我是过敏体质"


def complaint(description: str = "", category: str = "general", **extra: Any) -> dict[str, Any]:
    """A ComplaintReceived payload, as routing receives it."""
    return {
        "channel": "phone",
        "subject_ref": "subject-1",
        "product": {"category": category},
        "order": extra.pop("order", {}),
        "description": description,
        "demands": extra.pop("demands", []),
        **extra,
    }


# --- step 2: classification ---------------------------------------------------------


@pytest.mark.parametrize("description", [BATH_HOUSE_SEED, BATH_HOUSE_SIMPLIFIED])
def test_bath_house_stored_value_card_is_a_prepaid_card_complaint_003(description: str) -> None:
    result = classify(complaint(description, category="洗浴服务"))
    assert result.category == "prepaid_card"
    assert result.dimension == "reliability"
    assert result.reasons
    assert all(r.startswith("mentions ") for r in result.reasons)


def test_kao_shampoo_allergy_is_a_product_quality_complaint_003() -> None:
    result = classify(complaint(SHAMPOO_ALLERGY, category="洗发水"))
    assert result.category == "product_quality"
    assert "mentions 过敏" in result.reasons


@pytest.mark.parametrize(
    ("description", "category", "dimension"),
    [
        ("快递三天都没有送到", "delivery", "responsiveness"),
        ("店员态度恶劣，还辱骂顾客", "service_attitude", "empathy"),
        ("账单上多收了50元", "price_billing", "reliability"),
        ("合同条款和宣传不一致", "contract", "assurance"),
        ("维修了两次还是修不好", "repair_quality", "assurance"),
        ("The parcel never arrived", "delivery", "responsiveness"),
        ("The staff were RUDE to me", "service_attitude", "empathy"),
        ("I was overcharged on my bill", "price_billing", "reliability"),
    ],
)
def test_category_and_servqual_dimension_follow_the_keywords_000_002(
    description: str, category: str, dimension: str
) -> None:
    result = classify(complaint(description))
    assert (result.category, result.dimension) == (category, dimension)


def test_product_category_counts_as_text_when_the_description_says_little() -> None:
    assert classify(complaint("请尽快处理", category="会员卡")).category == "prepaid_card"


def test_repair_complaint_about_a_faulty_product_is_judged_as_repair_quality() -> None:
    # Both "维修" and "故障" match; the repair is what the consumer complains about.
    assert classify(complaint("故障送去维修后还是不行")).category == "repair_quality"


def test_complaint_without_a_category_keyword_is_other_with_the_reason_recorded() -> None:
    result = classify(complaint("我想咨询一下", category="general"))
    assert result.category == "other"
    assert result.reasons == ["no category keyword matched"]


def test_classification_is_the_same_every_time_for_the_same_complaint() -> None:
    received = complaint(BATH_HOUSE_SIMPLIFIED)
    assert classify(received) == classify(dict(received))


# --- step 3: severity ----------------------------------------------------------------


def test_ordinary_complaint_is_normal_severity_without_factors() -> None:
    assert assess(complaint("屏幕有坏点")) == Severity("normal", [])


def test_personal_injury_is_critical_kao_allergy_case_003() -> None:
    severity = assess(complaint(SHAMPOO_ALLERGY, injury=True))
    assert severity.level == "critical"
    assert "personal injury or safety" in severity.factors


def test_injury_stays_critical_and_keeps_every_other_factor() -> None:
    severity = assess(complaint("", injury=True, media_exposure=True, group_id="g-1"))
    assert severity.level == "critical"
    assert severity.factors == [
        "personal injury or safety",
        "media or social exposure",
        "group complaint",
    ]


REGULATOR = {
    "regulator_id": "sh-cpc",
    "transfer_number": "12315-2026-0001",
    "deadline_working_days": 7,
    "deadline_at": "2026-03-12T15:59:59+00:00",
}


@pytest.mark.parametrize(
    ("extra", "factor"),
    [
        ({"media_exposure": True}, "media or social exposure"),  # a phone video spreads [004]
        ({"regulator": REGULATOR}, "regulator transfer"),  # 消协/12315 transfer [002, 003]
        ({"group_id": "bath-house-29"}, "group complaint"),  # 29 / 78 consumers [003]
        ({"order": {"price_fen": LARGE_AMOUNT_FEN}}, "large amount"),
        ({"demands": [{"kind": "compensation", "amount_fen": 600_000}]}, "large amount"),
    ],
)
def test_each_aggravating_factor_raises_severity_to_high(
    extra: dict[str, Any], factor: str
) -> None:
    assert assess(complaint("", **extra)) == Severity("high", [factor])


def test_large_amount_threshold_is_five_thousand_yuan_inclusive() -> None:
    assert LARGE_AMOUNT_FEN == 500_000
    assert assess(complaint(order={"price_fen": 499_999})).level == "normal"
    assert assess(complaint(order={"price_fen": 500_000})).level == "high"


def test_missing_prices_and_amounts_count_as_zero() -> None:
    received = complaint(
        order={"price_fen": None}, demands=[{"kind": "refund", "amount_fen": None}]
    )
    assert assess(received).level == "normal"


# --- step 4: routing to a named handler (the brand's roster; the default one here) --------


@pytest.mark.parametrize(
    ("level", "team", "authority_fen"),
    [
        ("normal", "frontline", 50_000),
        ("high", "senior", 200_000),
        ("critical", "crisis", 2_000_000),
    ],
)
def test_severity_picks_the_team_and_its_authority(
    level: str, team: str, authority_fen: int
) -> None:
    chosen = choose(DEFAULT_ROSTER, str(UUID(int=7)), level, None, 0)
    assert (chosen.team, chosen.authority_fen) == (team, authority_fen)
    assert chosen.handler_id in {h.id for h in DEFAULT_ROSTER.team(team).handlers}


def test_injury_goes_straight_to_the_crisis_team_same_night_kao_003() -> None:
    severity = assess(complaint(SHAMPOO_ALLERGY, injury=True))
    chosen = choose(DEFAULT_ROSTER, str(UUID(int=1)), severity.level, "product_quality", 6_900)
    assert (chosen.team, chosen.handler_id) == ("crisis", "crisis-lead-liu")


def test_handlers_are_spread_across_the_team_by_complaint_id() -> None:
    picks = {choose(DEFAULT_ROSTER, str(UUID(int=n)), "normal", None, 0).handler_id
             for n in range(200)}  # fmt: skip
    assert picks == {h.id for h in DEFAULT_ROSTER.team("frontline").handlers}
