"""INTAKE stream contracts: complaints received, confirmed, linked, acted on, withdrawn.

No payload here carries plaintext PII: the consumer is a `subject_ref` into intake's vault.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, Literal

from pydantic import Field

from shared.contracts.base import EventPayload, Payload

MediaReach = Literal["none", "private", "local", "regional", "national"]
Channel = Literal["phone", "web", "app", "email", "letter", "visit", "social_media", "regulator"]
DemandKind = Literal["refund", "exchange", "repair", "compensation", "apology", "other"]
SaleChannel = Literal["in_store", "distance", "unknown"]


class Product(Payload):
    category: str
    model: str | None = None
    serial: str | None = None


class Order(Payload):
    """2.0: `sale_channel` (required: distance sales have a 7-day return), the delivery
    date, the declared value of a parcel and whether it was insured."""

    purchase_date: date | None = None
    price_fen: int | None = Field(default=None, ge=0)
    merchant: str | None = None
    order_ref: str | None = None
    sale_channel: SaleChannel
    delivery_date: date | None = None
    declared_value_fen: int | None = Field(default=None, ge=0)
    insured: bool = False


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
    2.0: the facts remedies are decided on: `order.sale_channel` (required),
    `order.delivery_date`, `order.declared_value_fen`, `order.insured`, `loss_fen` (the
    consumer's loss beyond the price) and `fault_date`; `media_reach` is required
    (`media_exposure` stays, derived: media_reach != "none"). A 1.x message is read as 2.0
    through `upcast_complaint_received` (every reader, live or replayed).
    """

    SCHEMA_VERSION: ClassVar[str] = "2.0"

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
    media_reach: MediaReach
    loss_fen: int | None = Field(default=None, ge=0)
    fault_date: date | None = None
    # True only when the 1.x upcast derived media_reach from media_exposure: the reach
    # itself was never recorded ("local" is an assumption, not a fact).
    media_reach_assumed: bool = False


def upcast_complaint_received(payload: dict[str, Any]) -> dict[str, Any]:
    """A ComplaintReceived 1.0/1.1 payload in the 2.0 shape (a new dict; idempotent).

    The sale channel of a 1.x complaint was not asked: "unknown". Delivery date, declared
    value, loss and fault date: None (not known); insured: False. media_reach: as recorded,
    else "local" when media exposure was flagged (flagged as assumed), else "none".
    """
    upcast = dict(payload)
    order = upcast.get("order")
    if isinstance(order, dict):  # anything else: refused by the validation below
        upcast["order"] = {
            "sale_channel": "unknown",
            "delivery_date": None,
            "declared_value_fen": None,
            "insured": False,
            **order,
        }
    upcast.setdefault("loss_fen", None)
    upcast.setdefault("fault_date", None)
    if upcast.get("media_reach") is None:
        exposed = bool(upcast.get("media_exposure"))
        upcast["media_reach"] = "local" if exposed else "none"
        upcast["media_reach_assumed"] = exposed
    return ComplaintReceived.model_validate(upcast).model_dump(mode="json")


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


# Older majors read as the current one: type -> payload upcaster (shared.contracts applies it).
UPCASTERS = {"ComplaintReceived": upcast_complaint_received}

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
