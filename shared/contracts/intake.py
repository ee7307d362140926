"""INTAKE stream contracts: complaints received, confirmed, linked, acted on, withdrawn.

No payload here carries plaintext PII: the consumer is a `subject_ref` into intake's vault.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import Field

from shared.contracts.base import EventPayload, Payload

MediaReach = Literal["none", "private", "local", "regional", "national"]
Channel = Literal["phone", "web", "app", "email", "letter", "visit", "social_media", "regulator"]
DemandKind = Literal["refund", "exchange", "repair", "compensation", "apology", "other"]


class Product(Payload):
    category: str
    model: str | None = None
    serial: str | None = None


class Order(Payload):
    purchase_date: date | None = None
    price_fen: int | None = Field(default=None, ge=0)
    merchant: str | None = None
    order_ref: str | None = None


class Demand(Payload):
    kind: DemandKind
    amount_fen: int | None = Field(default=None, ge=0)


class RegulatorRef(Payload):
    regulator_id: str
    transfer_number: str
    deadline_working_days: int
    deadline_at: str
    # 1.1: the regulator's transfer date (the deadline counts from it), and whether a year
    # of the count had no official calendar (Monday to Friday assumed, revised later).
    transferred_on: date | None = None
    deadline_provisional: bool = False


class ComplaintReceived(EventPayload):
    """Step 1 (受理): a complaint was recorded, with who, what, against whom and the demand.

    1.1: `regulator.transferred_on` (the regulator's transfer date), `received_by` (the desk
    or employee id that took the contact, 首问负责制 [003]) and `media_reach` (how far media
    exposure reaches), all optional.
    """

    SCHEMA_VERSION: ClassVar[str] = "1.1"

    channel: Channel
    subject_ref: str
    product: Product
    order: Order
    description: str
    demands: list[Demand]
    attachments: list[str] = Field(default_factory=list)
    media_exposure: bool = False
    injury: bool = False
    regulator: RegulatorRef | None = None
    group_id: str | None = None
    nuisance: bool = False
    received_by: str | None = None
    media_reach: MediaReach | None = None


class RegulatorTransferReceived(EventPayload):
    """Step 1 for 消协/12315 transfers: the body, its number and its deadline."""

    SCHEMA_VERSION: ClassVar[str] = "1.1"

    regulator_id: str
    regulator_name: str
    transfer_number: str
    deadline_working_days: int
    deadline_at: str
    transferred_on: date | None = None  # 1.1, as in RegulatorRef
    deadline_provisional: bool = False  # 1.1


class ComplaintDetailsConfirmed(EventPayload):
    """Step 1: the record was read back to the consumer and confirmed."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    confirmed_via: str
    corrections: dict[str, str] = Field(default_factory=dict)


class DuplicateLinked(EventPayload):
    """Another contact about the same order: linked to the open complaint, not a new case."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    contact_id: str
    matched_fields: list[str]
    channel: str


class GroupComplaintLinked(EventPayload):
    """The complaint joined a group of consumers against the same merchant or product."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    group_id: str
    group_key: str
    member_count: int


class NuisanceFlagged(EventPayload):
    """A contact was judged harassment/nuisance: own queue, excluded from KPIs."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    source_ref: str
    reason: str


class ConsumerActed(EventPayload):
    """Step 8: the consumer accepted, rejected or countered an offer."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    action: Literal["accept", "reject", "counter"]
    offer_id: str
    option_id: str | None = None
    reason: str | None = None
    counter_kind: str | None = None
    counter_amount_fen: int | None = Field(default=None, ge=0)


class ComplaintWithdrawn(EventPayload):
    """The consumer withdrew the complaint."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    reason: str


PAYLOADS: dict[str, type[EventPayload]] = {
    "ComplaintReceived": ComplaintReceived,
    "RegulatorTransferReceived": RegulatorTransferReceived,
    "ComplaintDetailsConfirmed": ComplaintDetailsConfirmed,
    "DuplicateLinked": DuplicateLinked,
    "GroupComplaintLinked": GroupComplaintLinked,
    "NuisanceFlagged": NuisanceFlagged,
    "ConsumerActed": ConsumerActed,
    "ComplaintWithdrawn": ComplaintWithdrawn,
}
