"""Intake's pure policies: duplicate contacts, group complaints, nuisance sources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.intake.policies import (
    DuplicatePolicy,
    GroupPolicy,
    MatchKeys,
    MerchantCase,
    NuisancePolicy,
    PriorCase,
    cases_to_group,
    find_duplicate,
    group_key,
    matched_fields,
    normalise_key,
    nuisance_reason,
)

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
FRIDGE = MatchKeys(merchant="苏宁", model="bcd-470", serial="hr2291")


def _prior(keys: MatchKeys, days_ago: float = 1, open_: bool = True, cid: str = "c1") -> PriorCase:
    return PriorCase(cid, keys, NOW - timedelta(days=days_ago), open_)


# --- normalisation and match keys -----------------------------------------------------


def test_merchant_names_match_across_width_case_spaces_and_punctuation() -> None:
    assert normalise_key("苏宁 易购（上海）") == normalise_key("苏宁易购(上海)")
    assert normalise_key("ＡＢＣ Shop") == normalise_key("abc-shop")
    assert normalise_key("  ") is None


def test_the_same_order_reference_is_the_same_order() -> None:
    a = MatchKeys.of({"order_ref": "JD-1001"}, {})
    b = MatchKeys.of({"order_ref": "jd 1001"}, {})
    assert matched_fields(a, b) == ["consumer.phone", "order.order_ref"]


def test_different_order_references_are_different_orders_even_at_the_same_shop() -> None:
    a = MatchKeys(order_ref="o-1", merchant="苏宁", model="bcd-470")
    b = MatchKeys(order_ref="o-2", merchant="苏宁", model="bcd-470")
    assert matched_fields(a, b) is None


def test_without_order_references_merchant_and_serial_decide() -> None:
    assert matched_fields(FRIDGE, FRIDGE) == ["consumer.phone", "order.merchant", "product.serial"]
    other_unit = MatchKeys(merchant="苏宁", model="bcd-470", serial="hr9999")
    assert matched_fields(FRIDGE, other_unit) is None


def test_merchant_and_model_match_when_a_serial_is_missing() -> None:
    no_serial = MatchKeys(merchant="苏宁", model="bcd-470")
    expected = ["consumer.phone", "order.merchant", "product.model"]
    assert matched_fields(no_serial, FRIDGE) == expected


def test_another_merchant_is_another_order() -> None:
    assert matched_fields(MatchKeys(merchant="国美", serial="hr2291"), FRIDGE) is None


# --- duplicates -----------------------------------------------------------------------


def test_a_repeat_about_an_open_complaint_within_the_window_is_a_duplicate() -> None:
    match = find_duplicate(FRIDGE, [_prior(FRIDGE)], NOW, DuplicatePolicy())
    assert match is not None
    assert match.complaint_id == "c1"
    assert "product.serial" in match.matched_fields


def test_a_repeat_about_a_closed_complaint_is_a_new_case() -> None:
    assert find_duplicate(FRIDGE, [_prior(FRIDGE, open_=False)], NOW, DuplicatePolicy()) is None


def test_a_repeat_outside_the_window_is_a_new_case() -> None:
    policy = DuplicatePolicy(window=timedelta(days=30))
    assert find_duplicate(FRIDGE, [_prior(FRIDGE, days_ago=31)], NOW, policy) is None


def test_the_most_recent_open_complaint_is_the_one_linked() -> None:
    priors = [_prior(FRIDGE, 5, cid="older"), _prior(FRIDGE, 1, cid="newer")]
    match = find_duplicate(FRIDGE, priors, NOW, DuplicatePolicy())
    assert match is not None
    assert match.complaint_id == "newer"


# --- nuisance (harassment: own queue, never in KPIs) [001 第五篇] ------------------------


def test_more_than_five_contacts_in_24_hours_is_nuisance() -> None:
    five = [NOW - timedelta(hours=h) for h in (1, 2, 3, 4, 5)]
    reason = nuisance_reason(five, NOW, False, NuisancePolicy(max_contacts=5))
    assert reason == "6 contacts within 24 h (more than 5)"


def test_five_contacts_in_24_hours_are_still_ordinary() -> None:
    four = [NOW - timedelta(hours=h) for h in (1, 2, 3, 4)]
    assert nuisance_reason(four, NOW, False, NuisancePolicy(max_contacts=5)) is None


def test_contacts_older_than_the_window_do_not_count() -> None:
    old = [NOW - timedelta(hours=25 + h) for h in range(10)]
    assert nuisance_reason(old, NOW, False, NuisancePolicy()) is None


def test_a_source_flagged_by_operations_is_nuisance_at_once() -> None:
    assert nuisance_reason([], NOW, True, NuisancePolicy()) == (
        "source flagged as nuisance by operations"
    )


# --- group complaints [003: 29 consumers vs a bath house, 78 vs a fruit-voucher firm] -----


def _case(n: int, subject: str | None = None, days_ago: float = 1) -> MerchantCase:
    return MerchantCase(f"c{n}", subject or f"s{n}", NOW - timedelta(days=days_ago))


def test_group_key_is_the_normalised_merchant_and_category() -> None:
    key = group_key({"merchant": "海兰云天 花园式浴场"}, {"category": "预付卡 Prepaid Card"})
    assert key == "海兰云天花园式浴场|预付卡prepaidcard"
    assert group_key({}, {"category": "预付卡"}) is None


def test_two_consumers_against_one_merchant_are_not_yet_a_group() -> None:
    assert cases_to_group([_case(1)], _case(2, days_ago=0), False, GroupPolicy()) == []


def test_the_third_consumer_forms_a_group_with_every_case_in_the_window() -> None:
    cases = [_case(1), _case(2)]
    new = _case(3, days_ago=0)
    members = cases_to_group(cases, new, False, GroupPolicy(min_consumers=3))
    assert [m.complaint_id for m in members] == ["c1", "c2", "c3"]


def test_one_consumer_complaining_three_times_is_not_a_group() -> None:
    cases = [_case(1, "same"), _case(2, "same")]
    assert cases_to_group(cases, _case(3, "same", 0), False, GroupPolicy()) == []


def test_cases_outside_the_window_do_not_count_towards_a_group() -> None:
    cases = [_case(1, days_ago=40), _case(2)]
    policy = GroupPolicy(min_consumers=3, window=timedelta(days=30))
    assert cases_to_group(cases, _case(3, days_ago=0), False, policy) == []


def test_once_a_group_exists_a_new_case_joins_it() -> None:
    new = _case(30, days_ago=0)
    assert cases_to_group([], new, True, GroupPolicy()) == [new]
