"""The downstream services' case cache never serves a stale case (SQLite and PostgreSQL).

A case is cached once its events are recorded and fast-forwarded on every load, so an
event another process sharing the store recorded on the same case is seen: the next
input neither misses it nor conflicts with it. A handler that fails half-way leaves the
cached case as it was recorded.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.persistence import Tracking

from services.compensation.application import CompensationApplication
from shared.contracts import ContractEvent, make_contract
from shared.service import open_application
from shared.settings import Settings
from shared.store import derive_id
from tests.integration.test_consumer import received
from tests.platform import SPECS


def _contract(event_type: str, first: ContractEvent, payload: dict[str, Any]) -> ContractEvent:
    return make_contract(
        event_id=derive_id(event_type, first.complaint_id),
        event_type=event_type,
        complaint_id=first.complaint_id,
        brand_id=first.brand_id,
        occurred_at=datetime.now(UTC),
        trace_id=first.trace_id,
        causation_id=str(first.event_id),
        payload=payload,
    )


def _compensation(settings: Settings) -> CompensationApplication:
    app = open_application(SPECS["compensation"], settings)
    assert isinstance(app, CompensationApplication)
    return app


def test_a_case_recorded_by_another_process_is_fast_forwarded_not_served_stale(
    settings: Settings,
) -> None:
    here, there = _compensation(settings), _compensation(settings)  # two processes, one store
    assert here.repository.cache is not None
    first = received(uuid.uuid4())
    assigned = _contract(
        "HandlerAssigned",
        first,
        {"team": "frontline", "handler_id": "handler-li", "authority_fen": 500_000},
    )
    assert here.process_contract(first, Tracking("INTAKE", 1))
    assert here.process_contract(assigned, Tracking("ROUTING", 1))
    case = here.case(first.complaint_id)
    assert case is not None
    assert case.offer is not None
    assert case.offer_status == "open"
    version = case.version
    assert first.complaint_id in here.repository.cache.cache  # cached once recorded

    # The other process records the consumer's acceptance on the same case.
    accept = _contract(
        "ConsumerActed",
        first,
        {
            "action": "accept",
            "offer_id": case.offer["offer_id"],
            "option_id": case.offer["options"][0]["option_id"],
        },
    )
    assert there.process_contract(accept, Tracking("INTAKE", 2))

    # Here, the next input on that case sees the acceptance and appends after it.
    withdrawn = _contract("ComplaintWithdrawn", first, {"reason": "solved"})
    assert here.process_contract(withdrawn, Tracking("INTAKE", 3))
    seen = here.case(first.complaint_id)
    assert seen is not None
    assert seen.offer_status == "accepted"
    assert seen.withdrawn
    assert seen.version > version + 1
    fresh = _compensation(settings).case(first.complaint_id)  # rebuilt from the store alone
    assert fresh is not None
    assert fresh.version == seen.version
    assert (fresh.offer_status, fresh.withdrawn) == (seen.offer_status, seen.withdrawn)
    for app in (here, there):
        app.close()


def test_a_handler_failing_half_way_leaves_the_cached_case_as_recorded(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _compensation(settings)
    first = received(uuid.uuid4())
    assert app.process_contract(first, Tracking("INTAKE", 1))
    recorded = app.case(first.complaint_id)
    assert recorded is not None

    def fail(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("the policy broke half-way")

    monkeypatch.setattr("services.compensation.apology.render", fail)
    assigned = _contract(
        "HandlerAssigned",
        first,
        {"team": "frontline", "handler_id": "handler-li", "authority_fen": 500_000},
    )
    with pytest.raises(RuntimeError):
        app.process_contract(assigned, Tracking("ROUTING", 1))  # record_input ran, then failed
    after = app.case(first.complaint_id)
    assert after is not None
    assert (after.version, after.assignment) == (recorded.version, None)
    monkeypatch.undo()
    assert app.process_contract(assigned, Tracking("ROUTING", 1))  # the retry works
    offered = app.case(first.complaint_id)
    assert offered is not None
    assert offered.offer_status == "open"
    app.close()
