"""What intake's routes answer, as pydantic models: the OpenAPI schema of every response.

The views (views.py) build plain dicts (recorded as they are for idempotent replays);
routes declare these models as their `response_model`, so the schema says exactly what
is sent, and the fuzz tier checks every response against it. Timestamps stay the strings
the views write (ISO 8601, as before); a field with no value yet is `null`, documented so.
Nested parts that come from other services' events (offers, regulator details) are open
objects: their fields are the upstream contract's (shared/contracts).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Day = Annotated[str, Field(json_schema_extra={"format": "date"})]


class DuplicateContact(BaseModel):
    contact_id: str
    matched_fields: list[str]


class PendingApproval(BaseModel):
    """Options above the handler's authority, waiting for a supervisor (主管批示)."""

    approval_id: str
    offer_round: int
    options: list[dict[str, Any]] = Field(description="The options waiting, as offered.")
    reason: str


class Fulfilment(BaseModel):
    """The remedy carried out: its kind, amount (integer fen) and reference."""

    fulfilment_id: str
    offer_id: str
    option_id: str
    kind: str
    amount_fen: int
    reference: str = Field(description="The payment, shipment or repair reference.")
    at: Timestamp


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
    loss_fen: int | None = Field(
        default=None, description="Integer fen: the consumer's loss beyond the price; absent "
        "when not given.",
    )
    fault_date: Day | None = Field(
        default=None, description="The day the fault appeared; absent when not given."
    )
    approval: PendingApproval | None = Field(
        default=None,
        description="Present while options above the handler's authority wait for a "
        "supervisor (status `awaiting_approval`).",
    )
    fulfilment: Fulfilment | None = Field(
        default=None, description="Present once the chosen remedy was carried out."
    )


class ComplaintDetail(ComplaintView):
    """The brand's own read: the free text as typed while the data subject's key exists."""

    description: str = Field(
        description="As typed while the subject's key exists; redacted after erasure."
    )
    free_text: Literal["original", "redacted"] = Field(
        description="`original`: description and corrections as typed; `redacted`: the "
        "subject was erased, personal data in them is masked."
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
    transferred_on: str | None = Field(
        json_schema_extra={"format": "date"},
        description="The regulator's transfer date (Shanghai), which the deadline counts from.",
    )
    deadline_provisional: bool = Field(
        description="A year of the count had no official calendar: Monday to Friday assumed."
    )
    deadline_revisions: list[dict[str, Any]] = Field(
        description="Each recount after a calendar year was loaded, oldest first."
    )
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
    key_id: str = Field(description="The key's id: revoke it with DELETE .../keys/{key_id}.")


class BrandView(BaseModel):
    brand_id: str
    name: str
    active_keys: list[str] = Field(description="Ids of the brand's keys not revoked.")


class KeyIssued(BaseModel):
    brand_id: str
    api_key: str = Field(description="Shown once.")
    key_id: str = Field(description="The key's id: revoke it with DELETE .../keys/{key_id}.")


class RegulatorCreated(BaseModel):
    regulator_id: str
    name: str
    kind: str
    secret: str = Field(description="The signing secret, shown once.")


# --- OpenAPI links: what a client (and the fuzzer's stateful phase) may do next ---------


def _complaint_link(operation_id: str, description: str) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "parameters": {"complaint_id": "$response.body#/complaint_id"},
        "description": description,
    }


COMPLAINT_LINKS = {
    "GetComplaint": _complaint_link("get_complaint", "Its status"),
    "GetHistory": _complaint_link("get_history", "Its events from all four services"),
    "ActOnOffer": _complaint_link("post_consumer_action", "The consumer answers the offer"),
    "Withdraw": _complaint_link("post_withdrawal", "The consumer withdraws it"),
    "Confirm": _complaint_link("post_confirmation", "The record read back and confirmed"),
}


def _key_links(brand: str, key_id: str | None) -> dict[str, Any]:
    """Links from a response naming a brand (and a key): issue another key, revoke this one."""
    links: dict[str, Any] = {
        "IssueKey": {
            "operationId": "post_brand_key",
            "parameters": {"brand": brand},
            "description": "Issue another key for the brand",
        }
    }
    if key_id:
        links["RevokeKey"] = {
            "operationId": "delete_brand_key",
            "parameters": {"brand": brand, "key_id": key_id},
            "description": "Revoke the key just issued",
        }
    return links


NEW_KEY_LINKS = _key_links("$response.body#/brand_id", "$response.body#/key_id")
