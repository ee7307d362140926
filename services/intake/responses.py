"""What intake's routes answer, as pydantic models: the OpenAPI schema of every response.

The views (views.py) build plain dicts (recorded as they are for idempotent replays);
routes declare these models as their `response_model`, so the schema says exactly what
is sent, and the fuzz tier checks every response against it. Timestamps stay the strings
the views write (ISO 8601, as before); a field with no value yet is `null`, documented so.
Nested parts that come from other services' events (offers, regulator details) are open
objects: their fields are the upstream contract's (shared/contracts).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, Field

Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Day = Annotated[str, Field(json_schema_extra={"format": "date"})]


class DuplicateContact(BaseModel):
    contact_id: str
    matched_fields: list[str]


class ComplaintView(BaseModel):
    """A complaint as its brand sees it: status and offer; the consumer only as a reference."""

    complaint_id: UUID
    brand_id: str
    status: str
    channel: str
    received_at: Timestamp
    updated_at: Timestamp
    trace_id: str
    product: dict[str, Any]
    order: dict[str, Any]
    demands: list[dict[str, Any]]
    category: str | None
    handler_id: str | None
    offer: dict[str, Any] | None = Field(description="`offer_id` and `options`, once offered.")
    offer_status: str | None
    revisit_due: Day | None
    duplicates: list[DuplicateContact]
    group_id: str | None
    regulator: dict[str, Any] | None = Field(description="Set when a regulator transferred it.")
    subject_ref: str
    nuisance: bool
    confirmed: bool
    corrections: dict[str, str]
    duplicate_of: UUID | None = Field(
        default=None, description="Only on a 200: the open complaint this contact repeats."
    )


class ComplaintRowView(BaseModel):
    complaint_id: UUID
    status: str
    received_at: Timestamp
    updated_at: Timestamp
    nuisance: bool
    subject_ref: str


class ComplaintList(BaseModel):
    items: list[ComplaintRowView]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class GroupMember(BaseModel):
    complaint_id: UUID
    subject_ref: str
    status: str
    received_at: Timestamp


class GroupView(BaseModel):
    group_id: UUID
    brand_id: str
    group_key: str
    merchant: str
    category: str
    formed_at: str
    member_count: int
    consumer_count: int
    members: list[GroupMember]


class HistoryEvent(BaseModel):
    event_id: UUID
    service: str
    type: str
    occurred_at: Timestamp
    trace_id: str | None
    causation_id: str | None
    stream: str
    sequence: int
    payload: dict[str, Any]


class History(BaseModel):
    complaint_id: UUID
    events: list[HistoryEvent]


class SourceView(BaseModel):
    subject_ref: str
    brand_id: str
    blocked: bool
    blocked_reason: str | None
    flagged: bool
    flagged_reason: str | None
    contacts: int
    cases: int
    duplicates: int
    nuisance: int
    refused: int


class TransferView(BaseModel):
    transfer_number: str | None
    regulator_id: str | None
    complaint_id: UUID
    brand_id: str
    status: str
    received_at: Timestamp
    deadline_working_days: int | None
    deadline_at: str | None
    group_id: str | None
    outcome: dict[str, Any] | None = Field(description="Null until reported back.")


class BatchItemResult(BaseModel):
    transfer_number: str | None
    status: int = Field(description="201, 200, 409 or 422: what the single endpoint answers.")
    complaint_id: UUID | None
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


class BatchOutcome(BaseModel):
    results: list[BatchItemResult]
    created: int
    existing: int
    refused: int


class BrandCreated(BaseModel):
    brand_id: str
    name: str
    api_key: str = Field(description="Shown once.")


class BrandView(BaseModel):
    brand_id: str
    name: str
    active_keys: list[str] = Field(description="Ids of the brand's keys not revoked.")


class KeyIssued(BaseModel):
    brand_id: str
    api_key: str = Field(description="Shown once.")


class RegulatorCreated(BaseModel):
    regulator_id: str
    name: str
    kind: str
    secret: str = Field(description="The signing secret, shown once.")
