"""COMPENSATION stream contracts: apology first, remedies as a choice, the consumer's answer."""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.contracts.base import Payload


class ApologyIssued(Payload):
    """Step 6 (先处理情感): an apology, recorded as its own step; not an admission of fault."""

    handler_id: str
    message: str


class RemedyOption(Payload):
    option_id: str
    kind: str
    amount_fen: int = Field(ge=0)
    description: str


class RemedyOptionsOffered(Payload):
    """Step 7 (为客户提供选择): remedies offered for the consumer to choose from."""

    offer_id: str
    options: list[RemedyOption]


class OfferAccepted(Payload):
    """Step 8: the consumer chose one of the offered options."""

    offer_id: str
    option_id: str
    kind: str
    amount_fen: int


class OfferRejected(Payload):
    """Step 8: the consumer turned the offer down; negotiation continues."""

    offer_id: str
    reason: str


class CounterProposalReceived(Payload):
    """Step 8: the consumer proposed something else."""

    offer_id: str
    kind: str
    amount_fen: int | None = None


PAYLOADS: dict[str, type[BaseModel]] = {
    "ApologyIssued": ApologyIssued,
    "RemedyOptionsOffered": RemedyOptionsOffered,
    "OfferAccepted": OfferAccepted,
    "OfferRejected": OfferRejected,
    "CounterProposalReceived": CounterProposalReceived,
}
