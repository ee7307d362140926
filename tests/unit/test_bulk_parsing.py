"""A regulator's batch body: refused whole only when it is not a batch; otherwise item by item."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.intake.bulk import MAX_TRANSFERS, RefusedItem, parse_batch, summary
from services.intake.schemas import RegulatorTransfer
from shared.errors import PayloadTooLarge, Unprocessable


def item(number: str, phone: str = "13700002222") -> dict[str, Any]:
    return {
        "transfer_number": number,
        "deadline_working_days": 7,
        "brand_id": "bathhouse",
        "complaint": {
            "consumer": {"name": "张女士", "phone": phone},
            "product": {"category": "预付卡"},
            "description": "充值卡不能使用",
            "demands": [{"kind": "refund"}],
        },
    }


def body(items: list[Any]) -> bytes:
    return json.dumps({"transfers": items}, ensure_ascii=False).encode()


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b'{"transfers": []}', b'{"x": 1}'])
def test_a_body_that_is_not_a_batch_is_refused_whole(raw: bytes) -> None:
    with pytest.raises(Unprocessable):
        parse_batch(raw)


def test_more_than_5000_transfers_is_too_large() -> None:
    with pytest.raises(PayloadTooLarge):
        parse_batch(body([{}] * (MAX_TRANSFERS + 1)))


def test_each_item_is_validated_on_its_own_without_echoing_the_consumer() -> None:
    parsed = parse_batch(body([item("A-1"), item("A-2", phone="x-secret-x"), 7]))

    assert isinstance(parsed[0], RegulatorTransfer)
    refused = parsed[1]
    assert isinstance(refused, RefusedItem)
    assert refused.transfer_number == "A-2"
    assert refused.detail.startswith("complaint.consumer.phone:")
    assert refused.errors[0]["loc"][:3] == ["body", "transfers", 1]
    assert "secret" not in json.dumps(refused.errors)
    assert isinstance(parsed[2], RefusedItem)
    assert parsed[2].transfer_number is None


def test_the_summary_counts_created_existing_and_refused() -> None:
    results = [{"status": s} for s in (201, 201, 200, 422, 409)]
    assert {k: v for k, v in summary(results).items() if k != "results"} == {
        "created": 2,
        "existing": 1,
        "refused": 2,
    }
