"""Bundling proposals into whole options: the consumer accepts one, and loses nothing owed."""

from __future__ import annotations

from services.compensation.offers import Proposal
from services.compensation.packages import bundle


def _p(kind: str, fen: int, rule: str = "r", statutory: bool = False,
       approval: str | None = None) -> Proposal:
    ground = "law" if statutory else "brand"
    return Proposal(kind, fen, rule, "basis", ground, statutory, "2026.1", f"{kind}。", approval)


def test_each_alternative_carries_the_damages_the_law_adds_to_it() -> None:
    # 消法 第五十五条: the refund of the price AND damages of 3× (at least ¥500): choosing the
    # refund must not cost the consumer the damages.
    refund = _p("refund", 12_000, "consumer_fraud", statutory=True)
    damages = _p("damages", 50_000, "consumer_fraud", statutory=True)
    voucher = _p("voucher", 2_000, "goodwill_voucher")
    gift = _p("gift", 20_000, "goodwill_gift")
    shipping = _p("shipping", 5_000, "goodwill_shipping")
    exchange = _p("exchange", 0, "sanbao_exchange_period", statutory=True)
    options = bundle([refund, exchange, damages, voucher, gift, shipping])
    assert [o.head.kind for o in options] == ["refund", "exchange"]
    assert [p.kind for p in options[0].parts] == ["refund", "damages", "voucher", "shipping"]
    assert options[0].amount_fen == 12_000 + 50_000 + 2_000 + 5_000
    assert options[0].statutory
    assert [i["kind"] for i in options[0].includes()] == ["damages", "voucher", "shipping"]


def test_a_lost_parcel_without_alternatives_is_one_option_of_what_is_owed() -> None:
    cap = _p("compensation", 18_000, "unvalued_parcel_cap")
    options = bundle([cap, _p("voucher", 2_000)])
    assert len(options) == 1
    assert [p.kind for p in options[0].parts] == ["compensation", "voucher"]


def test_with_nothing_owed_each_gesture_is_a_choice() -> None:
    options = bundle([_p("voucher", 2_000), _p("gift", 5_000)])
    assert [o.head.kind for o in options] == ["voucher", "gift"]
    assert [len(o.parts) for o in options] == [1, 1]


def test_a_counter_is_one_more_option_replacing_the_part_of_its_kind() -> None:
    repair = _p("repair", 0, "sanbao_warranty_repair", statutory=True)
    loss = _p("compensation", 30_000, "ordinary_loss")
    counter = _p("compensation", 80_000, "counter_beyond_policy", approval="above the catalogue")
    options = bundle([repair, loss, counter])
    assert len(options) == 2
    assert [p.amount_fen for p in options[0].parts] == [0, 30_000]
    assert [(p.kind, p.amount_fen) for p in options[1].parts] == [
        ("repair", 0), ("compensation", 80_000)
    ]
    assert options[1].needs_approval_reason == "above the catalogue"
    assert options[0].needs_approval_reason is None


def test_a_counter_for_another_alternative_is_an_option_of_its_own() -> None:
    repair = _p("repair", 0, "sanbao_warranty_repair", statutory=True)
    counter = _p("refund", 300_000, "counter_beyond_policy", approval="not owed")
    options = bundle([repair, counter])
    assert [o.head.kind for o in options] == ["repair", "refund"]
    assert options[1].amount_fen == 300_000
