"""COMPENSATION stream contracts: apology first, remedies as a choice, the consumer's answer."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import Field

from shared.contracts.base import EventPayload, Payload


class ApologyIssued(EventPayload):
    """Step 6 (先处理情感): an apology, recorded as its own step; not an admission of fault.

    1.1 (POLICY): `channel` (the complaint's channel) and `template_version` (the brand's
    apology template used), both optional (null on events recorded before).
    """

    SCHEMA_VERSION: ClassVar[str] = "1.1"

    handler_id: str
    message: str
    # --- 1.1 (POLICY) ---
    channel: str | None = None
    template_version: str | None = None


class RemedyPart(Payload):
    """A part that comes with an option (1.1): what the law adds on top of the remedy
    chosen (statutory damages, the loss) and the brand's gesture, each with its rule."""

    kind: str
    amount_fen: int = Field(ge=0)
    rule_id: str | None = None
    basis: str | None = None
    ground: str | None = None
    statutory: bool = False
    explanation: str | None = None


class RemedyOption(Payload):
    """One remedy; 1.1 (POLICY): the rule that produced it and a consumer-readable line."""

    option_id: str
    kind: str
    amount_fen: int = Field(ge=0)
    description: str
    # --- 1.1 (POLICY): all optional, absent on options offered before ---
    rule_id: str | None = None
    basis: str | None = None  # the law and article, or the seed / brand document
    ground: str | None = None  # law, regulation, standard, contract, brand
    statutory: bool = False  # owed by law or regulation
    policy_version: str | None = None
    explanation: str | None = None  # Chinese, one line
    expires_on: date | None = None
    # The parts that come with this option (the consumer accepts one option, whole);
    # `amount_fen` is the value of all of them.
    includes: list[RemedyPart] = Field(default_factory=list)


class RemedyOptionsOffered(EventPayload):
    """Step 7 (为客户提供选择): remedies offered for the consumer to choose from.

    1.1 (POLICY): `round` (1 for the first offer, +1 per revised offer), `policy_version`,
    `expires_on` and `replaces_offer_id` (the offer a revised one replaces).
    """

    SCHEMA_VERSION: ClassVar[str] = "1.1"

    offer_id: str
    options: list[RemedyOption]
    # --- 1.1 (POLICY): the negotiation round, the policy version used, the offer's expiry ---
    round: int = Field(default=1, ge=1)
    policy_version: str | None = None
    expires_on: date | None = None
    replaces_offer_id: str | None = None


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


PAYLOADS: dict[str, type[EventPayload]] = {
    "ApologyIssued": ApologyIssued,
    "RemedyOptionsOffered": RemedyOptionsOffered,
    "OfferAccepted": OfferAccepted,
    "OfferRejected": OfferRejected,
    "CounterProposalReceived": CounterProposalReceived,
}


# --- issue 19 (FLOW): authority and approvals, findings, fulfilment --------------------------


class ApprovalRequested(EventPayload):
    """主管批示 [001]: options above the handler's authority wait for a supervisor; the
    complaint waits visibly (never a silent stall). `options` are those needing approval."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    approval_id: str
    offer_round: int = Field(ge=1)
    handler_id: str
    authority_fen: int = Field(ge=0)
    options: list[RemedyOption]
    reason: str


class ApprovalGranted(EventPayload):
    """A supervisor approved the options; the offer follows."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    approval_id: str
    approved_by: str
    reason: str
    options: list[RemedyOption]


class ApprovalDenied(EventPayload):
    """A supervisor denied the options; the offer follows without them."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    approval_id: str
    denied_by: str
    reason: str


class LiabilityDetermined(EventPayload):
    """An operator's finding with evidence (fraud, unsafe food...): not a consumer's flag."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    finding: str
    evidence: str
    determined_by: str


class RemedyFulfilled(EventPayload):
    """The accepted option was carried out (refund paid, replacement shipped, repair done);
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


PAYLOADS.update(
    {
        "ApprovalRequested": ApprovalRequested,
        "ApprovalGranted": ApprovalGranted,
        "ApprovalDenied": ApprovalDenied,
        "LiabilityDetermined": LiabilityDetermined,
        "RemedyFulfilled": RemedyFulfilled,
    }
)
