"""The HTTP bodies intake accepts, validated, and the command each becomes.

Integers, booleans and dates are what the schema's types say (`"1"`, `1.5`, `0` for a
boolean, a number for a date are refused); every constraint the server enforces is in the
schema.

Request models belong to the API; the service layer never sees them, only the
commands (commands.py) that `to_*` functions build from them.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

import phonenumbers
from phonenumbers import PhoneMetadata
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

from services.intake.commands import (
    ActOnOffer,
    ComplaintFacts,
    ConfirmDetails,
    Consumer,
    ReceiveComplaint,
    ReceiveTransfer,
    RegisterRegulator,
)
from shared.calendar import business_date
from shared.contracts.intake import Channel, DemandKind, MediaReach, SaleChannel
from shared.store import derive_id


def _json_integer(value: object) -> object:
    """An integer as JSON Schema has it: `12` or `12.0`, never `"12"` nor `true`."""
    if isinstance(value, bool | str):
        raise ValueError("must be an integer")
    return value


def _json_date(value: object) -> object:
    """A date as JSON Schema's `format: date` has it: `YYYY-MM-DD`, never a number."""
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError("must be a date, YYYY-MM-DD")
    return value


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
JsonDate = Annotated[date, BeforeValidator(_json_date)]
# Constraints before the validator: on the integer itself, so the schema has them.
Fen = Annotated[int, Field(ge=0, le=10**12), BeforeValidator(_json_integer)]


def no_unix_time(value: Any) -> Any:
    """`since` is an ISO 8601 date-time, as documented; pydantic alone would also take a
    number of seconds ("0.5") for one."""
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        raise ValueError("an ISO 8601 date-time, not a number")
    return value


_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _mainland_phone_pattern() -> str:
    """A mainland China number as the numbering plan (libphonenumber's metadata) allows it:
    a mobile number, optionally with +86, or a fixed line with its area code after 0 or +86.
    Every string it matches is a valid number (tests/unit/test_schemas.py checks), so the
    schema says exactly what the server takes."""
    plan = PhoneMetadata.metadata_for_region("CN")
    if plan is None or plan.mobile is None or plan.fixed_line is None:
        raise RuntimeError("phonenumbers has no mainland China numbering plan")
    mobile, fixed = plan.mobile.national_number_pattern, plan.fixed_line.national_number_pattern
    return rf"^(?:(?:\+86)?(?:{mobile})|(?:\+86|0)(?:{fixed}))$"


PHONE_PATTERN = _mainland_phone_pattern()
_PHONE = re.compile(PHONE_PATTERN)


class ConsumerIn(BaseModel):
    """The consumer: all of it is PII, encrypted at rest, never logged."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(
        max_length=20,
        description="A mainland China number, digits only: a mobile (`13812345678`, or with "
        "`+86`) or a fixed line with its area code after `0` or `+86` (`02112345678`).",
        # In the schema, not as a constraint: a refusal names the rule, not this pattern.
        json_schema_extra={"pattern": PHONE_PATTERN},
    )
    address: str | None = Field(default=None, max_length=300)
    id_number: str | None = Field(default=None, max_length=30)

    @field_validator("phone")
    @classmethod
    def _valid_phone(cls, value: str) -> str:
        if not _PHONE.fullmatch(value):
            raise ValueError("not a mainland China mobile or fixed-line number")
        try:
            number = phonenumbers.parse(value, "CN")
        except phonenumbers.NumberParseException:
            raise ValueError("not a mainland China mobile or fixed-line number") from None
        if not phonenumbers.is_valid_number(number):
            raise ValueError("not a valid phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str = Field(min_length=1, max_length=100)
    model: str | None = Field(default=None, max_length=100)
    serial: str | None = Field(default=None, max_length=100)


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    purchase_date: JsonDate | None = None
    price_fen: Fen | None = Field(default=None, description="Integer fen.")
    merchant: str | None = Field(default=None, max_length=200)
    order_ref: str | None = Field(default=None, max_length=100)
    sale_channel: SaleChannel = Field(
        default="unknown",
        description="`distance` for online, phone or mail-order sales (7-day return from "
        "receipt), `in_store` otherwise; `unknown` when the consumer cannot say.",
    )
    delivery_date: JsonDate | None = Field(
        default=None,
        description="The day the consumer received the goods: not before the purchase, "
        "not after the day the complaint is received (Shanghai).",
    )
    declared_value_fen: Fen | None = Field(
        default=None, description="Integer fen: the value declared for a parcel."
    )
    insured: StrictBool = Field(default=False, description="The parcel was insured.")

    @field_validator("delivery_date")
    @classmethod
    def _delivered_by_now(cls, value: date | None) -> date | None:
        return _not_after_today(value, "a delivery date")

    @model_validator(mode="after")
    def _delivered_after_purchase(self) -> OrderIn:
        bought, delivered = self.purchase_date, self.delivery_date
        if bought is not None and delivered is not None and delivered < bought:
            raise ValueError(f"the delivery date {delivered} is before the purchase {bought}")
        return self


class DemandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: DemandKind
    amount_fen: Fen | None = None


class ComplaintDetails(BaseModel):
    """What a consumer complains about, however it reached us."""

    model_config = ConfigDict(extra="forbid")
    consumer: ConsumerIn
    product: ProductIn
    order: OrderIn = OrderIn()
    description: str = Field(min_length=1, max_length=20_000, description="What happened.")
    demands: list[DemandIn] = Field(min_length=1, max_length=10)
    attachments: list[str] = Field(
        default=[], max_length=50, description="References to attachments, not their bytes."
    )
    media_exposure: StrictBool = False
    injury: StrictBool = False
    received_by: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$",
        description="The desk or employee id that took the contact (首问负责制 [003]); no names.",
    )
    media_reach: MediaReach | None = Field(
        default=None,
        description="How far media or social exposure reaches; absent: `local` when "
        "`media_exposure` is true, else `none`.",
    )
    loss_fen: Fen | None = Field(
        default=None,
        description="Integer fen: the consumer's loss beyond the price (e.g. medical costs).",
    )
    fault_date: JsonDate | None = Field(
        default=None,
        description="The day the fault appeared: not before the purchase, not after the day "
        "the complaint is received (Shanghai).",
    )

    @field_validator("fault_date")
    @classmethod
    def _fault_by_now(cls, value: date | None) -> date | None:
        return _not_after_today(value, "a fault date")

    @model_validator(mode="after")
    def _consistent(self) -> ComplaintDetails:
        bought = self.order.purchase_date
        if self.fault_date is not None and bought is not None and self.fault_date < bought:
            raise ValueError(f"the fault date {self.fault_date} is before the purchase {bought}")
        if self.media_exposure and self.media_reach == "none":
            raise ValueError("media_exposure is true but media_reach is none")
        return self


class NewComplaint(ComplaintDetails):
    """A complaint as a brand portal submits it."""

    channel: Channel


class ConsumerAction(BaseModel):
    """The consumer's answer to the offer that stands."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["accept", "reject", "counter"]
    offer_id: str
    option_id: str | None = None
    reason: str | None = Field(default=None, max_length=2000)
    counter_kind: str | None = Field(default=None, max_length=50)
    counter_amount_fen: Fen | None = None


# Fields a read-back may correct; the consumer's own details are PII and go to the vault.
CorrectableField = Literal[
    "product.category",
    "product.model",
    "product.serial",
    "order.purchase_date",
    "order.price_fen",
    "order.merchant",
    "order.order_ref",
    "description",
    "demands",
]


class Confirmation(BaseModel):
    """The record was read back to the consumer, who confirmed it (with any corrections)."""

    model_config = ConfigDict(extra="forbid")
    confirmed_via: Literal["phone", "sms", "email", "app", "web", "letter", "visit"]
    corrections: dict[CorrectableField, Annotated[str, Field(max_length=2000)]] = Field(
        default={}, description="What the consumer corrected, by field; no PII here."
    )


class NewRegulator(BaseModel):
    """A regulator integration: the consumer association (消协) or the 12315 platform."""

    model_config = ConfigDict(extra="forbid")
    regulator_id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{1,40}$", description="Lowercase slug, e.g. `sh-xiaobaowei`."
    )
    name: str = Field(min_length=1, max_length=200, examples=["上海市消保委", "12315 上海"])
    kind: Literal["consumer_association", "market_regulator"]


class RegulatorTransfer(BaseModel):
    """A complaint a regulator transfers to a brand (转办), with the deadline it sets."""

    model_config = ConfigDict(extra="forbid")
    transfer_number: str = Field(
        pattern=r"^[\w.-]{1,64}$", description="The regulator's own number for the transfer."
    )
    deadline_working_days: Annotated[
        int, Field(ge=1, le=60), BeforeValidator(_json_integer)
    ] = Field(description="China working days (调休 aware).")
    brand_id: str = Field(min_length=1, max_length=42, description="The brand complained about.")
    complaint: ComplaintDetails
    transferred_on: JsonDate | None = Field(
        default=None,
        description="The day (Shanghai) the regulator transferred it; the deadline counts "
        "from it. From 2000 to tomorrow; absent: the day it is received.",
    )

    @field_validator("transferred_on")
    @classmethod
    def _plausible_transfer_date(cls, value: date | None) -> date | None:
        if value is None:
            return None
        if value < EARLIEST_TRANSFER:
            raise ValueError(f"a transfer date before {EARLIEST_TRANSFER} is not plausible")
        tomorrow = business_date(datetime.now(UTC)) + timedelta(days=1)
        if value > tomorrow:  # tomorrow: a regulator a time zone or a clock skew ahead
            raise ValueError(f"a transfer date after tomorrow ({tomorrow}) is in the future")
        return value


EARLIEST_TRANSFER = date(2000, 1, 1)


def _not_after_today(value: date | None, what: str) -> date | None:
    """A past day, as of receipt (the Shanghai business date the complaint arrives)."""
    if value is None:
        return None
    if value < EARLIEST_TRANSFER:
        raise ValueError(f"{what} before {EARLIEST_TRANSFER} is not plausible")
    today = business_date(datetime.now(UTC))
    if value > today:
        raise ValueError(f"{what} after today ({today}) is in the future")
    return value


def facts_of(details: ComplaintDetails) -> ComplaintFacts:
    """The complaint's facts as plain data (JSON-ready, as they will be recorded)."""
    consumer = details.consumer
    return ComplaintFacts(
        consumer=Consumer(consumer.name, consumer.phone, consumer.address, consumer.id_number),
        product=details.product.model_dump(mode="json"),
        order=details.order.model_dump(mode="json"),
        description=details.description,
        demands=[d.model_dump(mode="json") for d in details.demands],
        attachments=list(details.attachments),
        media_exposure=details.media_exposure,
        injury=details.injury,
        received_by=details.received_by,
        media_reach=details.media_reach,
        loss_fen=details.loss_fen,
        fault_date=None if details.fault_date is None else details.fault_date.isoformat(),
    )


def to_receive_complaint(
    new: NewComplaint,
    brand_id: str,
    trace_id: str,
    received_at: datetime,
    idempotency_key: str | None = None,
    body_hash: str = "",
    complaint_id: UUID | None = None,
) -> ReceiveComplaint:
    """The command as the edge gives it: the complaint's id derived from the Idempotency-Key
    (a retry is the same complaint), else drawn here."""
    if complaint_id is None:
        key = idempotency_key
        complaint_id = derive_id("complaint", brand_id, key) if key else uuid4()
    return ReceiveComplaint(
        brand_id=brand_id,
        trace_id=trace_id,
        channel=new.channel,
        facts=facts_of(new),
        received_at=received_at,
        complaint_id=complaint_id,
        idempotency_key=idempotency_key,
        body_hash=body_hash,
    )


def to_act_on_offer(
    action: ConsumerAction, brand_id: str, complaint_id: UUID, at: datetime
) -> ActOnOffer:
    return ActOnOffer(brand_id, complaint_id, at, **action.model_dump())


def to_confirm_details(
    confirmation: Confirmation, brand_id: str, complaint_id: UUID, at: datetime
) -> ConfirmDetails:
    corrections = {str(k): v for k, v in confirmation.corrections.items()}
    return ConfirmDetails(brand_id, complaint_id, confirmation.confirmed_via, at, corrections)


def to_register_regulator(new: NewRegulator, registered_at: datetime) -> RegisterRegulator:
    return RegisterRegulator(new.regulator_id, new.name, new.kind, registered_at)


def to_receive_transfer(
    transfer: RegulatorTransfer, regulator_id: str, trace_id: str, received_at: datetime
) -> ReceiveTransfer:
    return ReceiveTransfer(
        regulator_id=regulator_id,
        transfer_number=transfer.transfer_number,
        deadline_working_days=transfer.deadline_working_days,
        brand_id=transfer.brand_id,
        facts=facts_of(transfer.complaint),
        trace_id=trace_id,
        received_at=received_at,
        transferred_on=transfer.transferred_on,
    )
