"""Compensation's application over an in-memory store: apology first, then the offer.

先处理情感，后处理事件 [000, 001]. What is offered is tested where it is decided:
test_compensation_offers.py (the policy engine), test_compensation_packages.py (whole
options), test_compensation_rounds.py (authority and approvals, 主管批示 [001]).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import Tracking

from services.compensation.application import CompensationApplication
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
