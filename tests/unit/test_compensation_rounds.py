"""Unit tests for offer rounds (services/compensation/rounds.py) and repair history keys.

Authority [001 主管批示]: nothing above the handler's limit is offered unapproved; the whole
round waits so the consumer gets one offer; a statutory option waits, never dropped.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest

from services.compensation import rounds
from services.compensation.domain import CompensationCase, OfferNotStanding
from services.compensation.offers import Counter, Proposal
from services.compensation.policy import default_policy
from services.compensation.repairs import in_warranty, product_key
from shared.inputs import input_clock
from shared.store import EventMeta, derive_id

DAY = date(2026, 3, 2)
COMPLAINT = "c0ffee00-1234-4abc-8def-0123456789ab"
META = EventMeta("acme", "ab" * 16, None)


def proposal(kind: str, amount: int, statutory: bool = False) -> Proposal:
    ground = "law" if statutory else "brand"
    return Proposal(kind, amount, f"r-{kind}", "basis", ground, statutory, "2026.1", "说明")


REFUND_AND_VOUCHER = [proposal("refund", 459_900), proposal("voucher", 2_000)]


def test_options_within_authority_are_offered_at_once_with_derived_ids_and_expiry() -> None:
    plan = rounds.plan_round(COMPLAINT, 1, [proposal("repair", 0), proposal("exchange", 0),
                             proposal("voucher", 2_000)], 50_000, DAY)  # fmt: skip
    assert plan.above == []
    assert plan.offer_id == str(derive_id(COMPLAINT, "offer", 1))
    assert [o["option_id"] for o in plan.options] == [
        str(derive_id(plan.offer_id, 0)),
        str(derive_id(plan.offer_id, 1)),
    ]
    # each option is a whole remedy: the brand's gesture comes with it, not instead of it
    assert [(o["kind"], o["amount_fen"]) for o in plan.options] == [
        ("repair", 2_000), ("exchange", 2_000)
    ]
    assert [p["kind"] for p in plan.options[0]["includes"]] == ["voucher"]
    offer = rounds.offer_kwargs(plan.as_dict(), DAY)
    assert offer["expires_on"] == "2026-03-17"  # 15 calendar days
    assert {o["expires_on"] for o in offer["options"]} == {"2026-03-17"}
    assert offer["options"][0]["rule_id"] == "r-repair"


def test_one_option_above_authority_holds_the_whole_round_for_approval() -> None:
    plan = rounds.plan_round(COMPLAINT, 1, REFUND_AND_VOUCHER, 50_000, DAY)
    assert [o["kind"] for o in plan.above] == ["refund"]
    assert "¥500.00" in plan.reason
    assert "refund ¥4,619.00" in plan.reason  # the refund and the voucher that comes with it


def test_every_option_above_authority_still_asks_nothing_is_dropped() -> None:
    plan = rounds.plan_round(COMPLAINT, 1, [proposal("refund", 90_000)], 0, DAY)
    assert len(plan.above) == 1


def test_a_statutory_option_above_authority_waits_and_is_marked() -> None:
    plan = rounds.plan_round(COMPLAINT, 1, [proposal("damages", 1_379_700, statutory=True)],
                             50_000, DAY)  # fmt: skip
    assert plan.above[0]["statutory"] is True
    assert "(1 statutory)" in plan.reason


def test_denied_options_are_left_out_and_the_expiry_runs_from_the_decision_day() -> None:
    plan = rounds.plan_round(COMPLAINT, 1, REFUND_AND_VOUCHER, 50_000, DAY)
    offer = rounds.offer_kwargs(plan.as_dict(), date(2026, 3, 5), denied=True)
    # the refund denied, nothing else stood: the brand's gesture alone, never an empty offer
    assert [(o["kind"], o["amount_fen"]) for o in offer["options"]] == [("voucher", 2_000)]
    assert offer["expires_on"] == "2026-03-20"
    granted = rounds.offer_kwargs(plan.as_dict(), date(2026, 3, 5))
    assert [(o["kind"], o["amount_fen"]) for o in granted["options"]] == [("refund", 461_900)]
    mixed = rounds.plan_round(COMPLAINT, 1, [*REFUND_AND_VOUCHER[:1], proposal("repair", 0),
                              REFUND_AND_VOUCHER[1]], 50_000, DAY)  # fmt: skip
    partly = rounds.offer_kwargs(mixed.as_dict(), DAY, denied=True)
    assert [o["kind"] for o in partly["options"]] == ["repair"]


def test_a_counter_above_authority_is_escalated_and_one_within_is_left_to_the_engine() -> None:
    counter = Counter("compensation", 90_000)
    above = rounds.plan_round(COMPLAINT, 2, [proposal("voucher", 2_000)], 50_000, DAY,
                              replaces_offer_id="o-1", counter=counter)  # fmt: skip
    assert [(o["kind"], o["rule_id"]) for o in above.above] == [
        ("compensation", rounds.COUNTER_RULE)
    ]
    assert above.replaces_offer_id == "o-1"
    within = rounds.plan_round(COMPLAINT, 2, [proposal("voucher", 2_000)], 50_000, DAY,
                               counter=Counter("voucher", 3_000))  # fmt: skip
    assert within.above == []
    assert [o["kind"] for o in within.options] == ["voucher"]


def test_negotiation_is_bounded_after_max_rounds_a_supervisor_decides() -> None:
    fifth = rounds.plan_round(COMPLAINT, rounds.MAX_ROUNDS, [proposal("voucher", 2_000)],
                              50_000, DAY)  # fmt: skip
    assert fifth.above == []
    sixth = rounds.plan_round(COMPLAINT, rounds.MAX_ROUNDS + 1, [proposal("voucher", 2_000)],
                              50_000, DAY)  # fmt: skip
    assert len(sixth.above) == 1
    assert "a supervisor decides" in sixth.reason


def test_an_offer_stands_through_its_expiry_day_and_not_after() -> None:
    assert not rounds.expired("2026-03-17", date(2026, 3, 17))
    assert rounds.expired("2026-03-17", date(2026, 3, 18))
    assert not rounds.expired(None, date(2099, 1, 1))


def test_the_notice_is_chinese_with_the_amount_and_reference() -> None:
    text = rounds.notice("refund", 459_900, "REF-1")
    assert "退款" in text
    assert "¥4,599.00" in text
    assert "REF-1" in text
    assert "¥" not in rounds.notice("repair", 0, "R-2")


def test_repairs_are_keyed_by_brand_and_serial_else_order_reference() -> None:
    by_serial = product_key("acme", {"product": {"serial": " hr-1 "}})
    assert by_serial == product_key("acme", {"product": {"serial": "HR-1"}})
    assert by_serial != product_key("other", {"product": {"serial": "HR-1"}})
    by_order = product_key("acme", {"product": {}, "order": {"order_ref": "JD-9"}})
    assert by_order is not None
    assert by_order != by_serial
    assert product_key("acme", {"product": {}, "order": {}}) is None


def test_a_repair_counts_within_the_whole_unit_warranty_of_seed_002() -> None:
    policy = default_policy()
    fridge = policy.category("refrigerator")
    assert fridge is not None
    received = {
        "product": {"category": "冰箱 refrigerator"},
        "order": {"purchase_date": "2025-03-01"},
    }
    bought = date(2025, 3, 1)
    last_day = date.fromordinal(bought.toordinal() + fridge.whole_unit_warranty_days)
    assert in_warranty(policy, received, last_day)
    assert not in_warranty(policy, received, date.fromordinal(last_day.toordinal() + 1))
    # unknown purchase date or category: the brand takes it on (三个为主 [003])
    assert in_warranty(policy, {"product": {"category": "?"}, "order": {}}, date(2099, 1, 1))


def test_an_old_round_is_refused_with_the_offer_that_replaced_it() -> None:
    with input_clock(datetime(2026, 3, 2, tzinfo=UTC)):
        case = CompensationCase(id=uuid4(), meta=META)
        option = {"option_id": "x", "kind": "voucher", "amount_fen": 1, "description": "d"}
        case.offer_remedies(meta=META, offer_id="o-1", options=[option])
        case.offer_remedies(meta=META, offer_id="o-2", options=[option], round=2)
    assert [r["status"] for r in case.rounds] == ["superseded", "open"]
    with pytest.raises(OfferNotStanding, match="replaced by offer o-2"):
        case.option("o-1", "x")
    assert case.option("o-2", "x")["kind"] == "voucher"


def _waiting_case() -> CompensationCase:
    case = CompensationCase(id=uuid4(), meta=META)
    option = {"option_id": "x", "kind": "refund", "amount_fen": 90_000, "description": "d"}
    case.request_approval(
        meta=META, approval_id="a-1", offer_round=1, handler_id="h", authority_fen=0,
        options=[option], reason="r", plan={}, requested_at="2026-03-02T00:00:00+00:00",
    )  # fmt: skip
    return case


def test_a_withdrawal_or_a_newer_round_ends_a_pending_approval_undecided() -> None:
    with input_clock(datetime(2026, 3, 2, tzinfo=UTC)):
        withdrawn = _waiting_case()
        withdrawn.record_input(meta=META, contract={"type": "ComplaintWithdrawn", "payload": {}})
        replaced = _waiting_case()
        replaced.offer_remedies(meta=META, offer_id="o-2", options=[], round=1)
        granted = _waiting_case()
        granted.grant_approval(meta=META, approval_id="a-1", approved_by="s", reason="ok",
                               options=[])  # fmt: skip
        granted.offer_remedies(meta=META, offer_id="o-1", options=[], round=1)
    assert withdrawn.approvals["a-1"]["status"] == "withdrawn"
    assert withdrawn.offer_status == "withdrawn"
    assert replaced.approvals["a-1"]["status"] == "superseded"
    assert granted.approvals["a-1"]["status"] == "granted"
    assert [c.pending_approval for c in (withdrawn, replaced, granted)] == [None, None, None]
