"""Contract events: what crosses the bus between services, versioned JSON.

A contract event is not a stored domain event: it is the published, stable shape of
one, with the envelope every consumer relies on (ids, trace, causation) and a payload
validated by the model registered for its type. Unknown fields are kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts import compensation, followup, intake, routing

STREAMS = {
    "intake": "INTAKE",
    "routing": "ROUTING",
    "compensation": "COMPENSATION",
    "followup": "FOLLOWUP",
}
SUPPORTED_MAJOR = 1

PAYLOADS: dict[str, type[BaseModel]] = {
    **intake.PAYLOADS,
    **routing.PAYLOADS,
    **compensation.PAYLOADS,
    **followup.PAYLOADS,
}
SERVICE_OF_TYPE: dict[str, str] = {
    **dict.fromkeys(intake.PAYLOADS, "intake"),
    **dict.fromkeys(routing.PAYLOADS, "routing"),
    **dict.fromkeys(compensation.PAYLOADS, "compensation"),
    **dict.fromkeys(followup.PAYLOADS, "followup"),
}


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
    """Build a contract event, validating its payload against the registered model."""
    model = PAYLOADS.get(event_type)
    if model is None:
        raise ContractError(f"no contract registered for event type {event_type!r}")
    checked = model.model_validate(payload).model_dump(mode="json")
    return ContractEvent(
        event_id=event_id,
        type=event_type,
        service=SERVICE_OF_TYPE[event_type],
        complaint_id=complaint_id,
        brand_id=brand_id,
        occurred_at=occurred_at,
        trace_id=trace_id,
        causation_id=causation_id,
        correlation_id=complaint_id,
        payload=checked,
    )


def parse_contract(data: bytes) -> ContractEvent:
    """Parse and check a message body; raise ContractError saying why it can't be used."""
    try:
        event = ContractEvent.model_validate_json(data)
    except ValueError as error:
        raise ContractError(f"not a contract event: {error}") from error
    major = event.schema_version.split(".", 1)[0]
    if not major.isdigit() or int(major) > SUPPORTED_MAJOR:
        raise ContractError(
            f"schema version {event.schema_version} of {event.type} is newer than "
            f"this build supports (major {SUPPORTED_MAJOR})"
        )
    model = PAYLOADS.get(event.type)
    if model is not None:
        try:
            model.model_validate(event.payload)
        except ValueError as error:
            raise ContractError(f"payload of {event.type} is not valid: {error}") from error
    return event
