"""COMPENSATION stream contracts: apology first, remedies as a choice, the consumer's answer."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.contracts.base import EventPayload, Payload


class ApologyIssued(EventPayload):
    """Step 6 (先处理情感): an apology, recorded as its own step; not an admission of fault."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    handler_id: str
    message: str


class RemedyOption(Payload):
    option_id: str
    kind: str
    amount_fen: int = Field(ge=0)
    description: str


class RemedyOptionsOffered(EventPayload):
    """Step 7 (为客户提供选择): remedies offered for the consumer to choose from."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    offer_id: str
    options: list[RemedyOption]


class OfferAccepted(EventPayload):
    """Step 8: the consumer chose one of the offered options."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    offer_id: str
    option_id: str
    kind: str
    amount_fen: int


class OfferRejected(EventPayload):
    """Step 8: the consumer turned the offer down; negotiation continues."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    offer_id: str
    reason: str


class CounterProposalReceived(EventPayload):
    """Step 8: the consumer proposed something else."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    offer_id: str
    kind: str
    amount_fen: int | None = None


# --- approvals, findings, fulfilment (1.0) -----------------------------------------------


class ApprovalRequested(EventPayload):
    """Options above the handler's authority wait for a supervisor (主管批示), visibly."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    approval_id: str
    offer_round: int
    handler_id: str
    authority_fen: int = Field(ge=0)
    options: list[RemedyOption]
    reason: str


class ApprovalGranted(EventPayload):
    """A supervisor approved the options waiting for approval."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    approval_id: str
    approved_by: str
    reason: str
    options: list[RemedyOption]


class ApprovalDenied(EventPayload):
    """A supervisor refused the options waiting for approval, with the reason."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    approval_id: str
    denied_by: str
    reason: str


class LiabilityDetermined(EventPayload):
    """An operator's finding (fraud, unsafe food, …) with its evidence, not a consumer flag."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    finding: str
    evidence: str
    determined_by: str


class RemedyFulfilled(EventPayload):
    """The chosen remedy was carried out (refund paid, replacement shipped, repair done);
    `notice` is the written notice for the consumer (Chinese)."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    fulfilment_id: str
    offer_id: str
    option_id: str
    kind: str
    amount_fen: int = Field(ge=0)
    reference: str
    fulfilled_by: str
    notice: str


PAYLOADS: dict[str, type[EventPayload]] = {
    "ApologyIssued": ApologyIssued,
    "RemedyOptionsOffered": RemedyOptionsOffered,
    "OfferAccepted": OfferAccepted,
    "OfferRejected": OfferRejected,
    "CounterProposalReceived": CounterProposalReceived,
    "ApprovalRequested": ApprovalRequested,
    "ApprovalGranted": ApprovalGranted,
    "ApprovalDenied": ApprovalDenied,
    "LiabilityDetermined": LiabilityDetermined,
    "RemedyFulfilled": RemedyFulfilled,
}
