"""Contract events: what crosses the bus between services, versioned JSON.

A contract event is not a stored domain event: it is the published, stable shape of
one, with the envelope every consumer relies on (ids, trace, causation) and a payload
validated by the model registered for its type. Unknown fields are kept. Each type
has its own schema version, declared on its payload model (`SCHEMA_VERSION`); which
stored events are published as which type is each service's `published.py`.

Upcasting on read: a type whose major moved on registers an upcaster (`UPCASTERS`), and a
message of an older major is read in the current shape, its `schema_version` left as it
was published (the upcast is idempotent). The same upcast applies to contracts recorded
in stored events (`upcast_recorded`, called when a service decodes its stored events), so
an input recorded before the change reads, and replays, as it would arrive today.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts import compensation, followup, intake, routing
from shared.contracts.base import EventPayload

STREAMS = {
    "intake": "INTAKE",
    "routing": "ROUTING",
    "compensation": "COMPENSATION",
    "followup": "FOLLOWUP",
}
# The major version assumed for event types this build has no model for (passed through).
SUPPORTED_MAJOR = 1
VERSION_PATTERN = re.compile(r"^(\d+)\.(\d+)$")


@dataclass(frozen=True)
class ContractType:
    """One published event type: its name, the service that owns it and its payload model."""

    name: str
    service: str
    payload: type[EventPayload]

    @property
    def version(self) -> str:
        """The schema version this build publishes, e.g. "1.1"."""
        return self.payload.SCHEMA_VERSION

    @property
    def major(self) -> int:
        """The major version this build reads; a newer major is refused."""
        return major_of(self.version)


def major_of(version: str) -> int:
    match = VERSION_PATTERN.match(version)
    if match is None:
        raise ValueError(f"schema version {version!r} is not MAJOR.MINOR")
    return int(match.group(1))


def _types_of(service: str, module: ModuleType) -> dict[str, ContractType]:
    payloads: dict[str, type[EventPayload]] = module.PAYLOADS
    return {name: ContractType(name, service, model) for name, model in payloads.items()}


CONTRACT_TYPES: dict[str, ContractType] = {
    **_types_of("intake", intake),
    **_types_of("routing", routing),
    **_types_of("compensation", compensation),
    **_types_of("followup", followup),
}
PAYLOADS: dict[str, type[EventPayload]] = {t.name: t.payload for t in CONTRACT_TYPES.values()}
# type -> the upcaster reading an older major's payload as the current major.
UPCASTERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {**intake.UPCASTERS}
SERVICE_OF_TYPE: dict[str, str] = {t.name: t.service for t in CONTRACT_TYPES.values()}


# Rolling upgrade (consumers first): types published labelled with an older version that
# consumers not yet upgraded read, e.g. {"ComplaintReceived": "1.1"} (`publish_as`).
PUBLISH_AS: dict[str, str] = {}


def publish_as(spec: str) -> dict[str, str]:
    """Set which types this process publishes under an older version label, from
    "Type=MAJOR.MINOR,…" (AFTERSALES_PUBLISH_AS; empty: each type's own version).

    The payload stays the current one: a reader of the older major keeps its new fields as
    unknown fields (a newer minor to it), a current reader upcasts it, which changes nothing
    (the upcast is idempotent). Only a type with an upcaster, to an older major, qualifies.
    """
    chosen = parse_publish_as(spec)
    PUBLISH_AS.clear()
    PUBLISH_AS.update(chosen)
    return chosen


def parse_publish_as(spec: str) -> dict[str, str]:
    """"Type=MAJOR.MINOR,…" checked (see `publish_as`); ValueError saying what is wrong."""
    chosen: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, version = item.partition("=")
        contract_type = CONTRACT_TYPES.get(name.strip())
        if contract_type is None or name.strip() not in UPCASTERS:
            raise ValueError(f"{name.strip()!r} has no older major to publish as")
        if major_of(version.strip()) >= contract_type.major:
            raise ValueError(f"{name.strip()} {version.strip()} is not an older major")
        chosen[contract_type.name] = version.strip()
    return chosen


class ContractError(ValueError):
    """A message that is not a contract event this build can process."""


class ContractEvent(BaseModel):
    """The envelope of every event published on the bus."""

    model_config = ConfigDict(extra="allow", frozen=True)

    event_id: UUID
    type: str
    schema_version: str = "1.0"
    service: str
    complaint_id: UUID
    brand_id: str
    occurred_at: AwareDatetime
    trace_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    causation_id: str | None = None
    correlation_id: UUID
    payload: dict[str, Any]

    @property
    def stream(self) -> str:
        return STREAMS[self.service]

    @property
    def subject(self) -> str:
        return subject_for(self.service, self.brand_id, self.complaint_id, self.type)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def subject_for(service: str, brand_id: str, complaint_id: UUID | str, event_type: str) -> str:
    """`<service>.<brand>.<complaint_id>.<EventType>`: filterable per brand and complaint."""
    return f"{service}.{brand_id}.{complaint_id}.{event_type}"


def make_contract(
    *,
    event_id: UUID,
    event_type: str,
    complaint_id: UUID,
    brand_id: str,
    occurred_at: datetime,
    trace_id: str,
    causation_id: str | None,
    payload: dict[str, Any],
) -> ContractEvent:
    """Build a contract event at its type's schema version, validating its payload."""
    contract_type = CONTRACT_TYPES.get(event_type)
    if contract_type is None:
        raise ContractError(f"no contract registered for event type {event_type!r}")
    checked = contract_type.payload.model_validate(payload).model_dump(mode="json")
    return ContractEvent(
        event_id=event_id,
        type=event_type,
        schema_version=PUBLISH_AS.get(event_type, contract_type.version),
        service=contract_type.service,
        complaint_id=complaint_id,
        brand_id=brand_id,
        occurred_at=occurred_at,
        trace_id=trace_id,
        causation_id=causation_id,
        correlation_id=complaint_id,
        payload=checked,
    )


def parse_contract(data: bytes) -> ContractEvent:
    """Parse and check a message body; raise ContractError saying why it can't be used.

    Each type is checked against its own version: a newer minor is read (its unknown
    fields are kept), a newer major is refused.
    """
    try:
        event = ContractEvent.model_validate_json(data)
    except ValueError as error:
        raise ContractError(f"not a contract event: {error}") from error
    contract_type = CONTRACT_TYPES.get(event.type)
    supported = SUPPORTED_MAJOR if contract_type is None else contract_type.major
    match = VERSION_PATTERN.match(event.schema_version)
    if match is None:
        raise ContractError(
            f"schema version {event.schema_version!r} of {event.type} is not MAJOR.MINOR"
        )
    if int(match.group(1)) > supported:
        raise ContractError(
            f"schema version {event.schema_version} of {event.type} is newer than "
            f"this build supports (major {supported})"
        )
    if contract_type is not None:
        try:
            upcaster = UPCASTERS.get(event.type)
            if upcaster is not None and int(match.group(1)) < contract_type.major:
                return event.model_copy(update={"payload": upcaster(event.payload)})
            contract_type.payload.model_validate(event.payload)
        except (ValueError, TypeError) as error:
            raise ContractError(f"payload of {event.type} is not valid: {error}") from error
    return event


def upcast_recorded(contract: dict[str, Any]) -> dict[str, Any]:
    """A contract event recorded as a dict (in a stored event), its payload read in the
    current major's shape: the same dict when nothing is to be done, else a new one."""
    event_type = contract.get("type")
    upcaster = UPCASTERS.get(event_type) if isinstance(event_type, str) else None
    if upcaster is None:
        return contract
    match = VERSION_PATTERN.match(str(contract.get("schema_version", "1.0")))
    payload = contract.get("payload")
    if match is None or not isinstance(payload, dict):
        return contract
    if int(match.group(1)) >= CONTRACT_TYPES[str(event_type)].major:
        return contract
    return {**contract, "payload": upcaster(payload)}
