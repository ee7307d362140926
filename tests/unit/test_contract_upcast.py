"""ComplaintReceived 2.0 and its upcaster from 1.x: every reader gets the 2.0 shape.

A 1.0 or 1.1 message, live from an old intake or recorded in a service's stored inputs, is
read as 2.0 (sale channel "unknown", the new facts not known, media_reach derived and
flagged as assumed); the upcast is idempotent, keeps unknown fields, keeps the version the
message was published at, and refuses what was invalid at 1.x. Stored events holding a
recorded contract decode upcast (`ContractUpcastingMapper`), and intake's own stored
ComplaintReceived v1 loads as v2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent
from pydantic import Field

from services.routing.severity import assess
from shared.contracts import (
    ContractError,
    ContractEvent,
    make_contract,
    parse_contract,
    parse_publish_as,
    publish_as,
    upcast_recorded,
)
from shared.contracts.base import Payload
from shared.contracts.intake import ComplaintReceived, upcast_complaint_received
from shared.inputs import UpstreamInput
from shared.settings import Settings, persistence_env

COMPLAINT_ID = UUID("c0ffee00-1234-4abc-8def-0123456789ab")
V1_0: dict[str, Any] = {  # as a 1.0 intake published it: no received_by, no media_reach
    "channel": "phone",
    "subject_ref": "subject-1",
    "product": {"category": "microwave", "model": None, "serial": None},
    "order": {"purchase_date": "2026-02-01", "price_fen": 30_000, "merchant": None},
    "description": "加热不了",
    "demands": [{"kind": "refund", "amount_fen": None}],
    "attachments": [],
    "media_exposure": False,
    "injury": False,
    "regulator": None,
    "group_id": None,
    "nuisance": False,
}
V1_1 = {**V1_0, "received_by": "desk-2", "media_reach": None, "media_exposure": True}


def envelope(payload: dict[str, Any], version: str) -> dict[str, Any]:
    return {
        "event_id": str(UUID(int=7)),
        "type": "ComplaintReceived",
        "schema_version": version,
        "service": "intake",
        "complaint_id": str(COMPLAINT_ID),
        "brand_id": "acme",
        "occurred_at": "2026-03-02T02:00:00+00:00",
        "trace_id": "ab" * 16,
        "causation_id": None,
        "correlation_id": str(COMPLAINT_ID),
        "payload": payload,
    }


def wire(payload: dict[str, Any], version: str) -> bytes:
    return json.dumps(envelope(payload, version)).encode()


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_a_1x_message_is_read_in_the_2_0_shape(version: str) -> None:
    parsed = parse_contract(wire(V1_0, version))
    assert parsed.schema_version == version, "the version it was published at is kept"
    read = ComplaintReceived.model_validate(parsed.payload)  # valid 2.0 as it stands
    assert read.model_dump(mode="json") == parsed.payload, "canonical 2.0, every field"
    assert parsed.payload["order"]["sale_channel"] == "unknown"
    assert parsed.payload["order"]["delivery_date"] is None
    assert parsed.payload["order"]["declared_value_fen"] is None
    assert parsed.payload["order"]["insured"] is False
    assert parsed.payload["loss_fen"] is None
    assert parsed.payload["fault_date"] is None
    assert parsed.payload["media_reach"] == "none"
    assert parsed.payload["media_reach_assumed"] is False
    assert parsed.payload["order"]["purchase_date"] == "2026-02-01", "1.x facts kept"
    assert parsed.payload["received_by"] is None


def test_media_exposure_without_a_reach_is_read_as_local_and_flagged_assumed() -> None:
    parsed = parse_contract(wire(V1_1, "1.1"))
    assert parsed.payload["media_reach"] == "local"
    assert parsed.payload["media_reach_assumed"] is True
    assert parsed.payload["media_exposure"] is True
    regional = parse_contract(wire({**V1_1, "media_reach": "regional"}, "1.1")).payload
    assert (regional["media_reach"], regional["media_reach_assumed"]) == ("regional", False)


def test_routing_assesses_an_upcast_complaint_as_it_assessed_the_1x_one() -> None:
    """Replay exactness: severity factors of a recorded 1.1 input do not change."""
    upcast = upcast_complaint_received(V1_1)
    assert assess(upcast) == assess(V1_1)
    assert assess(upcast).factors == ["media or social exposure"]
    explicit = upcast_complaint_received({**V1_1, "media_reach": "local"})
    assert assess(explicit).factors == ["media or social exposure (local reach)"]


def test_the_upcast_is_idempotent_and_keeps_unknown_fields() -> None:
    once = upcast_complaint_received({**V1_1, "loyalty_tier": "gold"})
    assert upcast_complaint_received(once) == once
    assert once["loyalty_tier"] == "gold"
    again = parse_contract(wire(once, "1.1"))  # a recorded upcast envelope, read again
    assert again.payload == once


def test_a_2_0_message_is_not_touched() -> None:
    order = {**V1_0["order"], "sale_channel": "distance"}
    current = upcast_complaint_received(V1_0) | {"order": order}
    parsed = parse_contract(wire(current, "2.0"))
    assert parsed.payload == current
    assert parsed.payload["order"]["sale_channel"] == "distance"


def test_a_2_0_message_without_the_sale_channel_is_refused() -> None:
    with pytest.raises(ContractError, match="payload of ComplaintReceived is not valid"):
        parse_contract(wire({**V1_0, "media_reach": "none"}, "2.0"))


def test_an_invalid_1x_message_is_still_refused() -> None:
    with pytest.raises(ContractError, match="payload of ComplaintReceived is not valid"):
        parse_contract(wire({**V1_0, "channel": "fax"}, "1.1"))
    with pytest.raises(ContractError, match="payload of ComplaintReceived is not valid"):
        parse_contract(wire({**V1_0, "order": {"price_fen": -1}}, "1.0"))


def test_upcast_recorded_reads_a_recorded_1x_contract_and_leaves_the_rest() -> None:
    old = envelope(V1_1, "1.1")
    read = upcast_recorded(old)
    assert read is not old
    assert old["payload"] == V1_1, "the recorded dict is not mutated"
    assert read["payload"] == upcast_complaint_received(V1_1)
    assert read["schema_version"] == "1.1"
    current = envelope(read["payload"], "2.0")
    assert upcast_recorded(current) is current
    other = {**envelope({"reason": "r"}, "1.0"), "type": "ComplaintWithdrawn"}
    assert upcast_recorded(other) is other


def test_a_stored_input_recorded_at_1x_decodes_upcast(tmp_path: Path) -> None:
    """Through the services' mapper: the bytes stay, the decoded contract is 2.0."""
    from services.followup.application import FollowupApplication

    settings = Settings(environment="test", data_dir=tmp_path / "data")
    app = FollowupApplication(env=persistence_env("followup", settings))
    try:
        state = {
            "timestamp": datetime(2026, 3, 2, 2, 0, tzinfo=UTC),
            "stream": "INTAKE",
            "sequence": 3,
            "contract": envelope(V1_1, "1.1"),
        }
        topic = "shared.UpstreamInput.UpstreamEventReceived"
        stored = StoredEvent(UUID(int=9), 1, topic, app.mapper.transcoder.encode(state))
        decoded = app.mapper.to_domain_event(stored)
        assert isinstance(decoded, UpstreamInput.Event)
        assert vars(decoded)["contract"]["payload"] == upcast_complaint_received(V1_1)
        assert json.loads(stored.state)["contract"]["payload"] == V1_1
    finally:
        app.close()


# --- rolling upgrade: publish 2.0 under the 1.1 label until every consumer reads 2.x ------


@pytest.fixture
def published_as_1_1() -> Iterator[None]:
    publish_as("ComplaintReceived=1.1")
    try:
        yield
    finally:
        publish_as("")


class _OrderV1(Payload):
    price_fen: int | None = Field(default=None, ge=0)


class _ComplaintReceivedV1_1(Payload):
    """What a consumer built for 1.1 validates (its fields; unknown ones are kept)."""

    channel: str
    subject_ref: str
    order: _OrderV1
    demands: list[dict[str, Any]]
    media_reach: Literal["none", "private", "local", "regional", "national"] | None = None


def test_publishing_as_1_1_is_read_by_old_and_new_consumers(published_as_1_1: None) -> None:
    current = upcast_complaint_received(V1_0) | {
        "order": {**V1_0["order"], "sale_channel": "distance"},
        "loss_fen": 1200,
    }
    event = make_contract(
        event_id=UUID(int=8),
        event_type="ComplaintReceived",
        complaint_id=COMPLAINT_ID,
        brand_id="acme",
        occurred_at=datetime(2026, 3, 2, 2, 0, tzinfo=UTC),
        trace_id="ab" * 16,
        causation_id=None,
        payload=current,
    )
    assert event.schema_version == "1.1", "the label a 1.x consumer accepts"
    old_reader = _ComplaintReceivedV1_1.model_validate(event.payload)
    assert old_reader.model_dump()["order"]["sale_channel"] == "distance", "kept, unknown"
    new_reader = parse_contract(event.to_json())
    assert new_reader.payload == event.payload, "the idempotent upcast changes nothing"
    assert new_reader.payload["media_reach_assumed"] is False
    other = build_withdrawn()
    assert other.schema_version == "1.0", "other types keep their own version"


def build_withdrawn() -> ContractEvent:
    return make_contract(
        event_id=UUID(int=9),
        event_type="ComplaintWithdrawn",
        complaint_id=COMPLAINT_ID,
        brand_id="acme",
        occurred_at=datetime(2026, 3, 2, 2, 0, tzinfo=UTC),
        trace_id="ab" * 16,
        causation_id=None,
        payload={"reason": "r"},
    )


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("HandlerAssigned=0.9", "'HandlerAssigned' has no older major"),
        ("Nope=1.0", "'Nope' has no older major"),
        ("ComplaintReceived=2.0", "ComplaintReceived 2.0 is not an older major"),
        ("ComplaintReceived=one", "is not MAJOR.MINOR"),
    ],
)
def test_publish_as_names_what_is_wrong(spec: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_publish_as(spec)
    assert publish_as("") == {}
    assert build_withdrawn().schema_version == "1.0"
