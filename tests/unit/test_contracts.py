"""Unit tests for shared.contracts: the versioned JSON events that cross the bus.

Payloads are validated on the way out, unknown fields are kept (a newer minor version
may add some), each type has its own version and a newer major of that type is refused
with a clear message, every type has a JSON example that validates, subjects are
filterable per brand and complaint, and no payload carries plaintext PII (the consumer
is a `subject_ref` into intake's vault).
"""

from __future__ import annotations

import json
import re
import types
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID

import pytest
from pydantic import BaseModel, ValidationError

from shared.contracts import (
    CONTRACT_TYPES,
    PAYLOADS,
    SERVICE_OF_TYPE,
    STREAMS,
    SUPPORTED_MAJOR,
    ContractError,
    ContractEvent,
    ContractType,
    make_contract,
    parse_contract,
    subject_for,
)
from shared.contracts.base import EventPayload

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "contracts" / "examples"

COMPLAINT_ID = UUID("c0ffee00-1234-4abc-8def-0123456789ab")
RECEIVED: dict[str, Any] = {
    "channel": "phone",
    "subject_ref": "subject-1",
    "product": {"category": "microwave"},
    "order": {"price_fen": 30_000, "sale_channel": "in_store"},
    "description": "加热不了",
    "demands": [{"kind": "refund"}],
    "media_reach": "none",
}


def build(
    event_type: str = "ComplaintReceived", payload: dict[str, Any] | None = None
) -> ContractEvent:
    return make_contract(
        event_id=UUID(int=1),
        event_type=event_type,
        complaint_id=COMPLAINT_ID,
        brand_id="acme",
        occurred_at=datetime(2026, 3, 2, 2, 0, tzinfo=UTC),
        trace_id="ab" * 16,
        causation_id=None,
        payload=RECEIVED if payload is None else payload,
    )


def wire(event: ContractEvent, **changes: Any) -> bytes:
    """The event's JSON as another build might have published it."""
    body = json.loads(event.to_json())
    body.update(changes)
    return json.dumps(body).encode()


# --- make_contract ---------------------------------------------------------------------------


def test_make_contract_fills_the_envelope_from_the_registry() -> None:
    event = build()
    assert event.service == "intake"
    assert event.stream == "INTAKE"
    assert event.correlation_id == COMPLAINT_ID
    assert event.schema_version == "2.0"  # 2.0: sale channel, loss, fault date, …
    assert event.payload["attachments"] == []  # defaults filled in by the payload model


@pytest.mark.parametrize(
    "bad",
    [
        {k: v for k, v in RECEIVED.items() if k != "subject_ref"},  # missing field
        {**RECEIVED, "channel": "fax"},  # not a channel
        {**RECEIVED, "order": {"price_fen": -1, "sale_channel": "in_store"}},  # negative amount
        {**RECEIVED, "demands": [{"kind": "free-lunch"}]},  # not a demand kind
        {**RECEIVED, "order": {"price_fen": 1}},  # 2.0: the sale channel is required
        {k: v for k, v in RECEIVED.items() if k != "media_reach"},  # 2.0: required
        {**RECEIVED, "loss_fen": -1},  # negative loss
        {**RECEIVED, "loss_fen": 1.5},  # fen are integers
        {**RECEIVED, "order": {"sale_channel": "in_store", "declared_value_fen": -5}},
        {**RECEIVED, "order": {"sale_channel": "vending"}},  # not a sale channel
    ],
    ids=[
        "missing-field",
        "unknown-channel",
        "negative-price",
        "unknown-demand",
        "no-sale-channel",
        "no-media-reach",
        "negative-loss",
        "fractional-fen",
        "negative-declared-value",
        "unknown-sale-channel",
    ],
)
def test_make_contract_refuses_an_invalid_payload(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        build(payload=bad)


def test_make_contract_refuses_an_unregistered_event_type() -> None:
    with pytest.raises(ContractError, match="no contract registered for event type 'Nope'"):
        build("Nope", {})


def test_make_contract_refuses_a_malformed_trace_id() -> None:
    with pytest.raises(ValidationError):
        make_contract(
            event_id=UUID(int=1),
            event_type="ComplaintWithdrawn",
            complaint_id=COMPLAINT_ID,
            brand_id="acme",
            occurred_at=datetime(2026, 3, 2, tzinfo=UTC),
            trace_id="not-a-trace",
            causation_id=None,
            payload={"reason": "x"},
        )


# --- unknown fields and versions -----------------------------------------------------------


def test_unknown_payload_field_is_kept_through_a_json_round_trip() -> None:
    event = build(payload={**RECEIVED, "loyalty_tier": "gold"})
    assert event.payload["loyalty_tier"] == "gold"
    assert parse_contract(event.to_json()).payload["loyalty_tier"] == "gold"


def test_unknown_envelope_field_is_kept_through_a_json_round_trip() -> None:
    parsed = parse_contract(wire(build(), region="cn-east"))
    assert json.loads(parsed.to_json())["region"] == "cn-east"


def test_reader_keeps_unknown_nested_fields_of_a_newer_writer() -> None:
    newer = wire(build(), payload={**RECEIVED, "product": {"category": "tv", "batch": "B7"}})
    assert parse_contract(newer).payload["product"]["batch"] == "B7"


def test_newer_minor_version_is_accepted() -> None:
    parsed = parse_contract(wire(build(), schema_version="2.7"))
    assert parsed.schema_version == "2.7"
    assert parsed.payload["description"] == "加热不了"


@pytest.mark.parametrize("version", ["3.0", "10.1"])
def test_newer_major_version_is_refused_with_a_clear_message(version: str) -> None:
    assert SUPPORTED_MAJOR == 1  # for types this build has no model for
    expected = (
        f"schema version {version} of ComplaintReceived is newer than this build supports (major 2)"
    )
    with pytest.raises(ContractError, match=re.escape(expected)):
        parse_contract(wire(build(), schema_version=version))


def test_malformed_version_is_refused_saying_so() -> None:
    with pytest.raises(ContractError, match="schema version 'one' of ComplaintReceived is not"):
        parse_contract(wire(build(), schema_version="one"))


# --- one version per type ----------------------------------------------------------------------


@pytest.mark.parametrize("event_type", sorted(PAYLOADS))
def test_every_type_declares_its_own_major_minor_version(event_type: str) -> None:
    model = PAYLOADS[event_type]
    assert "SCHEMA_VERSION" in vars(model), f"{event_type} inherits its version"
    assert re.fullmatch(r"\d+\.\d+", model.SCHEMA_VERSION)
    assert "SCHEMA_VERSION" not in model.model_fields, "a class constant, not a payload field"


def test_types_move_their_versions_independently() -> None:
    assert CONTRACT_TYPES["DuplicateLinked"].version == "1.0"
    assert CONTRACT_TYPES["ComplaintReceived"].version == "2.0"  # sale_channel, loss_fen, …
    assert CONTRACT_TYPES["ComplaintWithdrawn"].version == "1.0"
    assert CONTRACT_TYPES["RevisitScheduled"].version == "1.1"  # added offer_id
    revisit = build(
        "RevisitScheduled",
        {"revisit_id": "r", "due_date": "2026-03-09", "channel": "phone", "calendar_covered": True},
    )
    assert revisit.schema_version == "1.1"
    assert revisit.payload["offer_id"] is None, "optional in 1.1: absent means not known"
    assert build().schema_version == "2.0"
    assert build("ComplaintWithdrawn", {"reason": "r"}).schema_version == "1.0"


def test_a_message_of_an_older_minor_version_is_read_with_the_defaults_of_the_newer() -> None:
    old = wire(
        build(
            "RevisitScheduled",
            {"revisit_id": "r", "due_date": "d", "channel": "phone", "calendar_covered": False},
        ),
        schema_version="1.0",
    )
    body = json.loads(old)
    del body["payload"]["offer_id"]  # as a 1.0 writer published it
    parsed = parse_contract(json.dumps(body).encode())
    read = PAYLOADS["RevisitScheduled"].model_validate(parsed.payload)
    assert read.model_dump()["offer_id"] is None


class _TransferClosedV2(EventPayload):
    """A type already at major 2, to show majors are compared per type."""

    SCHEMA_VERSION: ClassVar[str] = "2.1"

    outcome: str


def test_the_major_a_consumer_reads_is_the_one_of_the_message_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed_type = ContractType("TransferClosed", "intake", _TransferClosedV2)
    monkeypatch.setitem(CONTRACT_TYPES, "TransferClosed", closed_type)
    monkeypatch.setitem(PAYLOADS, "TransferClosed", _TransferClosedV2)
    closed = wire(build(), type="TransferClosed", payload={"outcome": "ok"}, schema_version="2.7")
    assert parse_contract(closed).schema_version == "2.7"
    newer = wire(build(), type="TransferClosed", payload={"outcome": "ok"}, schema_version="3.0")
    with pytest.raises(ContractError, match=re.escape("newer than this build supports (major 2)")):
        parse_contract(newer)
    with pytest.raises(ContractError, match=re.escape("(major 2)")):
        parse_contract(wire(build(), schema_version="3.0"))  # ComplaintReceived is at 2.x


# --- one JSON example per published type ---------------------------------------------------------


def test_every_published_type_has_exactly_one_example() -> None:
    assert sorted(p.stem for p in EXAMPLES.glob("*.json")) == sorted(PAYLOADS)


@pytest.mark.parametrize("event_type", sorted(PAYLOADS))
def test_example_is_a_valid_contract_event_of_its_type_and_version(event_type: str) -> None:
    raw = (EXAMPLES / f"{event_type}.json").read_bytes()
    event = parse_contract(raw)  # envelope and payload validated
    contract_type = CONTRACT_TYPES[event_type]
    assert event.type == event_type
    assert event.service == contract_type.service
    assert event.schema_version == contract_type.version
    model = contract_type.payload
    assert set(model.model_fields) <= set(event.payload), "the example shows every field"
    canonical = model.model_validate(event.payload).model_dump(mode="json")
    assert canonical == event.payload, "no stray or non-canonical values in the example"
    assert json.loads(raw) == json.loads(event.to_json()), "the example survives a round trip"


def test_unparseable_message_is_a_contract_error() -> None:
    with pytest.raises(ContractError, match="not a contract event"):
        parse_contract(b"{not json")


def test_known_type_with_invalid_payload_is_a_contract_error() -> None:
    with pytest.raises(ContractError, match="payload of ComplaintReceived is not valid"):
        parse_contract(wire(build(), payload={**RECEIVED, "channel": "fax"}))


def test_event_type_this_build_does_not_know_is_passed_through() -> None:
    unknown = wire(build(), type="ComplaintEscalated", payload={"level": 2}, schema_version="1.0")
    parsed = parse_contract(unknown)
    assert parsed.type == "ComplaintEscalated"


# --- subjects --------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", sorted(PAYLOADS))
def test_subject_is_service_brand_complaint_and_event_type(event_type: str) -> None:
    service = SERVICE_OF_TYPE[event_type]
    subject = subject_for(service, "acme", COMPLAINT_ID, event_type)
    assert subject == f"{service}.acme.{COMPLAINT_ID}.{event_type}"
    assert subject.split(".") == [service, "acme", str(COMPLAINT_ID), event_type]
    assert service in STREAMS


def test_contract_event_subject_uses_its_own_envelope() -> None:
    assert build().subject == f"intake.acme.{COMPLAINT_ID}.ComplaintReceived"


# --- no plaintext PII --------------------------------------------------------------------------

PII_FIELD = re.compile(
    r"(^|_)(name|phone|mobile|tel|telephone|address|addr|id_number|id_card|idcard|email|wechat)($|_)"
)
# Field names that match the pattern but name an organisation, not a person.
NOT_PERSONAL = {"RegulatorTransferReceived.regulator_name"}


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    return []


def _fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> list[str]:
    seen.add(model)
    found = []
    for name, info in model.model_fields.items():
        found.append(f"{model.__name__}.{name}")
        for nested in _models_in(info.annotation):
            if nested not in seen:
                found.extend(_fields(nested, seen))
    return found


def test_payload_walk_reaches_nested_models() -> None:
    walked = _fields(PAYLOADS["ComplaintReceived"], set())
    assert {"Product.category", "Order.merchant", "Demand.kind"} <= set(walked)
    assert "RemedyOption.amount_fen" in _fields(PAYLOADS["RemedyOptionsOffered"], set())


def _pii_fields(model: type[BaseModel]) -> list[str]:
    return sorted(
        qualified
        for qualified in _fields(model, set())
        if PII_FIELD.search(qualified.split(".", 1)[1]) and qualified not in NOT_PERSONAL
    )


class _Contact(BaseModel):
    home_address: str


class _LeakyPayload(BaseModel):
    consumer_name: str
    mobile: str
    id_number: str
    contacts: list[_Contact] | None = None
    product_category: str


def test_pii_check_flags_names_phones_addresses_and_id_numbers_at_any_depth() -> None:
    assert _pii_fields(_LeakyPayload) == [
        "_Contact.home_address",
        "_LeakyPayload.consumer_name",
        "_LeakyPayload.id_number",
        "_LeakyPayload.mobile",
    ]


def test_no_contract_payload_has_a_plaintext_pii_field() -> None:
    suspicious = [field for model in PAYLOADS.values() for field in _pii_fields(model)]
    assert suspicious == [], f"plaintext PII in contract payloads: {suspicious}"
