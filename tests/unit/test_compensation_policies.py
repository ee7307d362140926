"""Unit tests for compensation's policies: apology first, then remedies as a choice.

先处理情感，后处理事件 [000, 001]; ask what the consumer wants (为客户提供选择 [003 1.4]);
never promise above the handler's authority (主管批示 [001]).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import Tracking

from services.compensation.application import CompensationApplication
from services.compensation.policies import (
    GOODWILL_MIN_FEN,
    apology_message,
    remedy_options,
)
from shared.contracts import ContractEvent, make_contract
from shared.store import derive_id

CAUSE = "0b6f3c57-4f0e-5a43-9d0a-7d1b1f6f2c11"
COMPLAINT_ID = UUID("3f2b8f7e-0c4d-4a51-8e6b-5d3c2a1f0e9d")
FRONTLINE_AUTHORITY = 50_000


def received(price_fen: int | None = 30_000, *demands: dict[str, Any]) -> dict[str, Any]:
    return {
        "product": {"category": "microwave"},
        "order": {"price_fen": price_fen},
        "demands": list(demands),
    }


def kinds(options: list[Any]) -> list[str]:
    return [o.kind for o in options]


# --- step 6: apology first ------------------------------------------------------------


def test_apology_names_the_product_and_does_not_admit_fault_000_001() -> None:
    message = apology_message(received())
    assert "sorry" in message.lower()
    assert "microwave" in message
    for admission in ("our fault", "we are responsible", "we admit", "liable"):
        assert admission not in message.lower()


def contract(
    event_type: str, number: int, payload: dict[str, Any], cause: str | None = None
) -> ContractEvent:
    return make_contract(
        event_id=UUID(int=number),
        event_type=event_type,
        complaint_id=COMPLAINT_ID,
        brand_id="acme",
        occurred_at=datetime(2026, 3, 2, 2, number, tzinfo=UTC),
        trace_id="ab" * 16,
        causation_id=cause,
        payload=payload,
    )


# An in-memory SQLite store (its approvals read model needs SQL): no file, no server.
MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": ":memory:"}


def test_apology_is_issued_before_remedies_are_offered_000_001() -> None:
    app = CompensationApplication(env=MEMORY)
    complaint = contract(
        "ComplaintReceived",
        1,
        {
            "channel": "phone",
            "subject_ref": "subject-1",
            "product": {"category": "microwave"},
            "order": {"price_fen": 30_000, "sale_channel": "in_store"},
            "description": "加热不了",
            "demands": [{"kind": "repair"}],
            "media_reach": "none",
        },
    )
    assigned = contract(
        "HandlerAssigned",
        2,
        {"team": "frontline", "handler_id": "handler-li", "authority_fen": FRONTLINE_AUTHORITY},
        cause=str(complaint.event_id),
    )
    app.process_contract(complaint, Tracking("INTAKE", 1))
    app.process_contract(assigned, Tracking("ROUTING", 1))
    published = [c for _, c in app.contracts_since(1, 100) if c is not None]
    assert [c.type for c in published] == ["ApologyIssued", "RemedyOptionsOffered"]
    assert published[0].payload["handler_id"] == "handler-li"
    assert all(c.causation_id == str(assigned.event_id) for c in published)


@pytest.mark.parametrize("handler_first", [False, True], ids=["complaint-last", "handler-last"])
def test_the_offer_id_does_not_depend_on_which_stream_delivered_last(handler_first: bool) -> None:
    app = CompensationApplication(env=MEMORY)
    complaint = contract(
        "ComplaintReceived",
        1,
        {"channel": "phone", "subject_ref": "s-1", "product": {"category": "microwave"},
         "order": {"price_fen": 30_000, "sale_channel": "in_store"}, "description": "x",
         "demands": [{"kind": "repair"}], "media_reach": "none"},
    )  # fmt: skip
    assigned = contract(
        "HandlerAssigned",
        2,
        {"team": "frontline", "handler_id": "handler-li", "authority_fen": FRONTLINE_AUTHORITY},
    )
    inputs = [(assigned, "ROUTING"), (complaint, "INTAKE")]
    for upstream, stream in inputs if handler_first else inputs[::-1]:
        app.process_contract(upstream, Tracking(stream, 1), observed_at=datetime.now(UTC))
    offered = [c for _, c in app.contracts_since(1, 100) if c and c.type == "RemedyOptionsOffered"]
    assert offered[0].payload["offer_id"] == str(derive_id(COMPLAINT_ID, "offer", 1))


# --- step 7: remedies as a choice -----------------------------------------------------


def test_consumers_demanded_kinds_are_offered_first_in_their_order_003() -> None:
    _, options = remedy_options(
        CAUSE, 1, received(30_000, {"kind": "repair"}, {"kind": "refund"}), FRONTLINE_AUTHORITY
    )
    assert kinds(options) == ["repair", "refund", "voucher"]


def test_refund_and_exchange_are_worth_the_price_and_compensation_what_was_asked() -> None:
    demands = (
        {"kind": "refund"},
        {"kind": "exchange"},
        {"kind": "compensation", "amount_fen": 8_000},
    )
    _, options = remedy_options(CAUSE, 1, received(30_000, *demands), FRONTLINE_AUTHORITY)
    assert [(o.kind, o.amount_fen) for o in options] == [
        ("refund", 30_000),
        ("exchange", 30_000),
        ("compensation", 8_000),
        ("voucher", GOODWILL_MIN_FEN),
    ]


def test_the_same_demand_twice_is_offered_once() -> None:
    _, options = remedy_options(
        CAUSE, 1, received(30_000, {"kind": "refund"}, {"kind": "refund"}), FRONTLINE_AUTHORITY
    )
    assert kinds(options) == ["refund", "voucher"]


def test_demand_of_kind_other_is_not_turned_into_an_option() -> None:
    _, options = remedy_options(CAUSE, 1, received(30_000, {"kind": "other"}), FRONTLINE_AUTHORITY)
    assert kinds(options) == ["voucher"]


def test_nothing_above_the_handlers_authority_is_offered_001() -> None:
    demands = (
        {"kind": "refund"},
        {"kind": "compensation", "amount_fen": 80_000},
        {"kind": "repair"},
    )
    _, options = remedy_options(CAUSE, 1, received(100_000, *demands), FRONTLINE_AUTHORITY)
    assert kinds(options) == ["repair", "voucher"]  # the ¥1,000 refund and ¥800 need a supervisor


@pytest.mark.parametrize("authority_fen", [0, 1_999, 2_000, 50_000, 200_000])
@pytest.mark.parametrize("price_fen", [None, 0, 9_999, 60_000, 300_000, 4_000_000])
def test_every_offered_amount_is_within_authority(
    authority_fen: int, price_fen: int | None
) -> None:
    demands = (
        {"kind": "refund"},
        {"kind": "exchange"},
        {"kind": "compensation", "amount_fen": 45_000},
    )
    _, options = remedy_options(CAUSE, 1, received(price_fen, *demands), authority_fen)
    assert all(o.amount_fen <= authority_fen for o in options)


def test_goodwill_voucher_above_authority_is_left_out() -> None:
    _, options = remedy_options(
        CAUSE, 1, received(30_000, {"kind": "repair"}), GOODWILL_MIN_FEN - 1
    )
    assert kinds(options) == ["repair"]


@pytest.mark.parametrize(
    ("price_fen", "voucher_fen"),
    [
        (None, 2_000),  # unknown price: the ¥20 floor
        (0, 2_000),
        (30_000, 2_000),  # 5% of ¥300 is ¥15, below the floor
        (40_000, 2_000),  # 5% of ¥400 is exactly ¥20
        (60_000, 3_000),  # 5% of ¥600
        (123_457, 6_172),  # 5% rounded down to whole fen
    ],
)
def test_goodwill_voucher_is_the_larger_of_20_yuan_and_5_percent_of_price(
    price_fen: int | None, voucher_fen: int
) -> None:
    _, options = remedy_options(CAUSE, 1, received(price_fen), 200_000)
    assert [(o.kind, o.amount_fen) for o in options] == [("voucher", voucher_fen)]


def test_amounts_are_whole_fen_integers() -> None:
    demands = (
        {"kind": "refund"},
        {"kind": "compensation", "amount_fen": 1_234},
        {"kind": "apology"},
    )
    _, options = remedy_options(CAUSE, 1, received(123_457, *demands), 200_000)
    assert options
    for option in options:
        assert type(option.amount_fen) is int
        assert type(option.as_dict()["amount_fen"]) is int


def test_offer_and_option_ids_derive_from_complaint_and_round_so_replay_repeats_them() -> None:
    demand = received(30_000, {"kind": "refund"}, {"kind": "repair"})
    first_offer, first = remedy_options(CAUSE, 1, demand, FRONTLINE_AUTHORITY)
    again_offer, again = remedy_options(CAUSE, 1, demand, FRONTLINE_AUTHORITY)
    assert first_offer == again_offer == str(derive_id(CAUSE, "offer", 1))
    assert [o.option_id for o in first] == [o.option_id for o in again]
    assert [o.option_id for o in first] == [str(derive_id(first_offer, i)) for i in range(3)]


def test_another_complaint_gives_different_ids_and_options_are_unique() -> None:
    demand = received(30_000, {"kind": "refund"}, {"kind": "repair"})
    offer_a, options_a = remedy_options(CAUSE, 1, demand, FRONTLINE_AUTHORITY)
    offer_b, options_b = remedy_options(str(UUID(int=99)), 1, demand, FRONTLINE_AUTHORITY)
    assert offer_a != offer_b
    ids = [o.option_id for o in options_a + options_b]
    assert len(set(ids)) == len(ids)


def test_options_fit_the_remedy_options_offered_contract() -> None:
    offer_id, options = remedy_options(
        CAUSE, 1, received(30_000, {"kind": "repair"}), FRONTLINE_AUTHORITY
    )
    event = contract(
        "RemedyOptionsOffered", 3, {"offer_id": offer_id, "options": [o.as_dict() for o in options]}
    )
    assert event.payload["options"][0]["description"]
