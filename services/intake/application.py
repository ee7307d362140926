"""Intake's service layer: brands and keys, receiving complaints, consumer actions, status.

Commands load, decide (domain), save; upstream events from the other three services are
recorded on the complaint as the status feed. PII goes into the vault, never into events
in plaintext.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from uuid import UUID, uuid4

import phonenumbers
from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import EnvType
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.intake.domain import (
    ApiKeyIndex,
    Brand,
    Complaint,
    ComplaintClosedForActions,
    ComplaintGroup,
    ConsumerFile,
    IdempotencyRecord,
    MerchantFile,
    OfferNotOpen,
    Regulator,
    RegulatorNonce,
    SourceAlreadyBlocked,
)
from services.intake.policies import (
    DuplicatePolicy,
    GroupPolicy,
    MatchKeys,
    MerchantCase,
    NuisancePolicy,
    PriorCase,
    cases_to_group,
    find_duplicate,
    group_key,
    nuisance_reason,
)
from services.intake.vault import KeyStore, key_store_for
from shared.contracts import ContractEvent
from shared.contracts.intake import Channel, DemandKind
from shared.calendar import deadline_after
from shared.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable
from shared.security import (
    OpsClaims,
    PiiCipher,
    SignatureError,
    SignatureFailure,
    blind_index,
    generate_api_key,
    hash_api_key,
    parse_api_key,
    parse_timestamp_header,
    verify_api_key,
    verify_request,
)
from shared.store import EventMeta, ServiceApplication, derive_id

STATUS_FEED = (
    "ComplaintClassified",
    "HandlerAssigned",
    "RemedyOptionsOffered",
    "OfferAccepted",
    "OfferRejected",
    "CounterProposalReceived",
    "RevisitScheduled",
    "RevisitCompleted",
    "ComplaintResolved",
    "ComplaintReopened",
    "ComplaintClosed",
)


# --- command inputs ---------------------------------------------------------------------


class ConsumerIn(BaseModel):
    """The consumer: all of it is PII, encrypted at rest, never logged."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(description="Mainland or international number; validated.")
    address: str | None = Field(default=None, max_length=300)
    id_number: str | None = Field(default=None, max_length=30)

    @field_validator("phone")
    @classmethod
    def _valid_phone(cls, value: str) -> str:
        try:
            number = phonenumbers.parse(value, "CN")
        except phonenumbers.NumberParseException as error:
            raise ValueError(f"not a phone number: {error}") from None
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
    purchase_date: date | None = None
    price_fen: int | None = Field(default=None, ge=0, le=10**12, description="Integer fen.")
    merchant: str | None = Field(default=None, max_length=200)
    order_ref: str | None = Field(default=None, max_length=100)


class DemandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: DemandKind
    amount_fen: int | None = Field(default=None, ge=0, le=10**12)


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
    media_exposure: bool = False
    injury: bool = False


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
    counter_amount_fen: int | None = Field(default=None, ge=0, le=10**12)


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
    deadline_working_days: int = Field(ge=1, le=60, description="China working days (调休 aware).")
    brand_id: str = Field(min_length=1, max_length=42, description="The brand complained about.")
    complaint: ComplaintDetails


@dataclass(frozen=True)
class SignedRequest:
    """A regulator's request as signed: the headers and what the signature covers."""

    regulator_id: str
    timestamp: str
    nonce: str
    signature: str
    method: str
    path: str
    body: bytes


SIGNATURE_DETAILS: dict[SignatureFailure, str] = {
    "bad signature": "bad signature: the HMAC-SHA256 over method, path, timestamp, nonce "
    "and body hash does not match",
    "stale timestamp": "stale timestamp: more than 5 minutes from the server's clock",
    "malformed": "malformed signature headers: the timestamp must be unix seconds, the nonce "
    "8-128 URL-safe characters and the signature 64 lowercase hex digits",
}
DUPLICATES = DuplicatePolicy()
GROUPS = GroupPolicy()
NUISANCE = NuisancePolicy()


@dataclass(frozen=True)
class Request:
    """Who asked, in which trace, with which idempotency key."""

    brand_id: str
    trace_id: str
    idempotency_key: str | None = None
    body: bytes = b""

    @property
    def body_hash(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


# --- the PII vault ----------------------------------------------------------------------


class DataSubject(Aggregate):
    """A consumer's PII, each field encrypted under that consumer's own key."""

    TOPIC = "intake.DataSubject"

    class Event(Aggregate.Event):
        TOPIC = "intake.DataSubject.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "intake.DataSubject.Created"

    @event("SubjectRegistered", topic="intake.DataSubject.SubjectRegistered")
    def __init__(
        self, id: UUID, brand_id: str, fields: dict[str, str], indexes: dict[str, str]
    ) -> None:
        self.brand_id = brand_id
        self.fields = fields
        self.indexes = indexes

    @event("SubjectDetailsAdded", topic="intake.DataSubject.SubjectDetailsAdded")
    def add_details(self, fields: dict[str, str]) -> None:
        self.fields.update(fields)


# --- read model -------------------------------------------------------------------------


@dataclass
class ComplaintRow:
    complaint_id: UUID
    brand_id: str
    status: str
    received_at: datetime
    updated_at: datetime


@dataclass
class ComplaintIndex:
    """Complaints per brand for listing, kept from the log (rebuilt at start)."""

    rows: dict[UUID, ComplaintRow] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def apply(self, complaint: Complaint) -> None:
        with self.lock:
            row = self.rows.get(complaint.id)
            if row is None:
                self.rows[complaint.id] = ComplaintRow(
                    complaint.id,
                    complaint.brand_id,
                    complaint.status,
                    complaint.created_on,
                    complaint.modified_on,
                )
            else:
                row.status = complaint.status
                row.updated_at = complaint.modified_on

    def page(
        self,
        brand_id: str,
        status: str | None,
        since: datetime | None,
        after: str | None,
        limit: int,
    ) -> list[ComplaintRow]:
        with self.lock:
            rows = [r for r in self.rows.values() if r.brand_id == brand_id]
        if status:
            rows = [r for r in rows if r.status == status]
        if since:
            rows = [r for r in rows if r.received_at >= since]
        rows.sort(key=_row_key)
        if after:
            rows = [r for r in rows if _row_key(r) > _cursor_key(after)]
        return rows[:limit]


def _row_key(row: ComplaintRow) -> tuple[str, str]:
    return (row.received_at.isoformat(), str(row.complaint_id))


def _cursor_key(cursor: str) -> tuple[str, str]:
    at, _, complaint_id = cursor.partition("|")
    return (at, complaint_id)


def cursor_of(row: ComplaintRow) -> str:
    return f"{row.received_at.isoformat()}|{row.complaint_id}"


# --- the application --------------------------------------------------------------------


class IntakeApplication(ServiceApplication):
    service = "intake"
    name = "intake"

    def __init__(self, env: EnvType | None = None) -> None:
        super().__init__(env)
        self.cipher = PiiCipher(_key32(self.env.get("AFTERSALES_PII_MASTER_KEY") or ""))
        self.index_key = (self.env.get("AFTERSALES_PII_INDEX_KEY") or "").encode()
        self.keys: KeyStore = key_store_for(dict(self.env))
        self.index = ComplaintIndex()
        self._rebuild_index()

    def close(self) -> None:
        self.keys.close()
        super().close()

    def register_handlers(self) -> None:
        for event_type in STATUS_FEED:
            self.on(event_type, self.on_status_feed)
        from services.intake.webhooks import register_fan_out  # webhooks imports this module

        register_fan_out(self)

    # --- brands ---------------------------------------------------------------------

    def register_brand(self, brand_id: str, name: str) -> Brand:
        def command() -> Brand:
            aggregate_id = derive_id("brand", brand_id)
            if self.get_or_none(aggregate_id) is not None:
                raise Conflict(f"brand {brand_id} is already registered")
            brand = Brand(id=aggregate_id, brand_id=brand_id, name=name)
            self.save(brand)
            return brand

        return self.run_command(command)

    def brand(self, brand_id: str) -> Brand:
        brand: Brand | None = self.get_or_none(derive_id("brand", brand_id))
        if brand is None:
            raise NotFound(f"brand {brand_id} is not registered")
        return brand

    def brands(self) -> list[Brand]:
        found = []
        for notification in self.recorder.select_notifications(
            1, 1_000_000, topics=["intake.Brand.BrandRegistered"]
        ):
            brand_event = self.mapper.to_domain_event(notification)
            found.append(self.repository.get(brand_event.originator_id))
        return found

    def issue_api_key(self, brand_id: str, issued_at: datetime) -> str:
        """A new key for the brand; the plaintext is returned once and never stored."""
        plaintext, key_id = generate_api_key()

        def command() -> None:
            brand = self.brand(brand_id)
            key_hash = hash_api_key(plaintext)
            brand.issue_key(key_id=key_id, key_hash=key_hash, issued_at=issued_at.isoformat())
            index = ApiKeyIndex(
                id=derive_id("api-key", key_id), key_id=key_id, brand_id=brand_id, key_hash=key_hash
            )
            self.save(brand, index)

        self.run_command(command)
        return plaintext

    def revoke_api_key(self, brand_id: str, key_id: str, reason: str) -> None:
        def command() -> None:
            brand = self.brand(brand_id)
            if key_id not in brand.keys:
                raise NotFound(f"brand {brand_id} has no key {key_id}")
            index: ApiKeyIndex = self.repository.get(derive_id("api-key", key_id))
            brand.revoke_key(key_id=key_id, reason=reason)
            index.revoke()
            self.save(brand, index)

        self.run_command(command)

    def authenticate(self, api_key: str) -> str:
        """The brand id an API key acts for; Unauthorized for unknown or revoked keys."""
        key_id = parse_api_key(api_key)
        index: ApiKeyIndex | None = (
            self.get_or_none(derive_id("api-key", key_id)) if key_id else None
        )
        if index is None or index.revoked or not verify_api_key(api_key, index.key_hash):
            raise Unauthorized("the API key is unknown or revoked")
        return index.brand_id

    # --- complaints -----------------------------------------------------------------

    def receive_complaint(self, request: Request, new: NewComplaint) -> tuple[int, dict[str, Any]]:
        """Step 1: record the complaint (idempotently); returns (HTTP status, body)."""
        complaint_id = (
            derive_id("complaint", request.brand_id, request.idempotency_key)
            if request.idempotency_key
            else uuid4()
        )

        def command() -> tuple[int, dict[str, Any]]:
            replay = self._idempotent_replay(request)
            if replay is not None:
                return replay
            subject = self._subject_for(request.brand_id, new)
            meta = EventMeta(request.brand_id, request.trace_id, None)
            complaint = Complaint(
                id=complaint_id,
                meta=meta,
                channel=new.channel,
                subject_ref=str(subject.id),
                product=new.product.model_dump(mode="json"),
                order=new.order.model_dump(mode="json"),
                description=new.description,
                demands=[d.model_dump(mode="json") for d in new.demands],
                attachments=new.attachments,
                media_exposure=new.media_exposure,
                injury=new.injury,
                regulator=None,
                group_id=None,
                nuisance=False,
            )
            body = self.complaint_view(complaint)
            self.save(subject, complaint, *self._idempotency(request, 201, body))
            return 201, body

        return self.run_command(command)

    def _idempotency(
        self, request: Request, status: int, body: dict[str, Any]
    ) -> list[IdempotencyRecord]:
        if not request.idempotency_key:
            return []
        return [
            IdempotencyRecord(
                id=derive_id("idempotency", request.brand_id, request.idempotency_key),
                scope=request.brand_id,
                key=request.idempotency_key,
                body_hash=request.body_hash,
                status_code=status,
                response=body,
            )
        ]

    def _idempotent_replay(self, request: Request) -> tuple[int, dict[str, Any]] | None:
        if not request.idempotency_key:
            return None
        record: IdempotencyRecord | None = self.get_or_none(
            derive_id("idempotency", request.brand_id, request.idempotency_key)
        )
        if record is None:
            return None
        if record.body_hash != request.body_hash:
            raise Conflict(
                "this Idempotency-Key was used with a different body",
                idempotency_key=request.idempotency_key,
            )
        return record.status_code, record.response

    def _subject_for(self, brand_id: str, new: NewComplaint) -> DataSubject:
        """The consumer's vault entry, found by a blind index of their phone number."""
        phone_index = blind_index(self.index_key, "phone", new.consumer.phone)
        subject_id = derive_id("subject", brand_id, phone_index)
        fields = {"name": new.consumer.name, "phone": new.consumer.phone}
        if new.consumer.address:
            fields["address"] = new.consumer.address
        if new.consumer.id_number:
            fields["id_number"] = new.consumer.id_number
        subject: DataSubject | None = self.get_or_none(subject_id)
        key = self._subject_key(str(subject_id))
        sealed = {
            name: self.cipher.encrypt_field(key, value, f"{subject_id}:{name}")
            for name, value in fields.items()
        }
        if subject is None:
            return DataSubject(
                id=subject_id, brand_id=brand_id, fields=sealed, indexes={"phone": phone_index}
            )
        subject.add_details(fields=sealed)
        return subject

    def _subject_key(self, subject_id: str) -> bytes:
        wrapped = self.keys.get(subject_id)
        if wrapped is None:
            self.keys.put(subject_id, self.cipher.wrap_key(self.cipher.new_subject_key()))
            wrapped = self.keys.get(subject_id)
            assert wrapped is not None
        return self.cipher.unwrap_key(wrapped)

    def complaint(self, brand_id: str, complaint_id: UUID) -> Complaint:
        """A brand's complaint; another brand's is NotFound, never Forbidden."""
        complaint: Complaint | None = self.get_or_none(complaint_id)
        if not isinstance(complaint, Complaint) or complaint.brand_id != brand_id:
            raise NotFound(f"complaint {complaint_id} not found")
        return complaint

    def act(self, request: Request, complaint_id: UUID, action: ConsumerAction) -> Complaint:
        def command() -> Complaint:
            complaint = self.complaint(request.brand_id, complaint_id)
            meta = EventMeta(request.brand_id, complaint.trace_id, None)
            try:
                complaint.act(meta=meta, **action.model_dump())
            except (OfferNotOpen, ComplaintClosedForActions) as refused:
                raise Conflict(str(refused), offer_status=complaint.offer_status) from refused
            self.save(complaint)
            return complaint

        return self.run_command(command)

    def withdraw(self, request: Request, complaint_id: UUID, reason: str) -> Complaint:
        def command() -> Complaint:
            complaint = self.complaint(request.brand_id, complaint_id)
            try:
                complaint.withdraw(EventMeta(request.brand_id, complaint.trace_id, None), reason)
            except ComplaintClosedForActions as refused:
                raise Conflict(str(refused)) from refused
            self.save(complaint)
            return complaint

        return self.run_command(command)

    def on_status_feed(self, upstream: ContractEvent, processing: ProcessingEvent[UUID]) -> None:
        complaint: Complaint | None = self.get_or_none(upstream.complaint_id)
        if complaint is None:
            return
        complaint.observe(
            meta=EventMeta.caused_by(upstream), contract=upstream.model_dump(mode="json")
        )
        processing.collect_events(complaint)

    # --- read model -----------------------------------------------------------------

    def notify(self, new_events: list[Any]) -> None:
        super().notify(new_events)
        touched = {
            e.originator_id for e in new_events if type(e).__qualname__.startswith("Complaint.")
        }
        for complaint_id in touched:
            complaint = self.get_or_none(complaint_id)
            if isinstance(complaint, Complaint):
                self.index.apply(complaint)

    def _rebuild_index(self) -> None:
        seen: set[UUID] = set()
        for notification in self.recorder.select_notifications(
            1, 10_000_000, topics=["intake.Complaint.ComplaintReceived"]
        ):
            seen.add(notification.originator_id)  # type: ignore[arg-type]
        for complaint_id in seen:
            self.index.apply(self.repository.get(complaint_id))

    def complaint_view(self, complaint: Complaint) -> dict[str, Any]:
        """What a brand sees of a complaint: status and offer; PII only as a reference."""
        return {
            "complaint_id": str(complaint.id),
            "brand_id": complaint.brand_id,
            "status": complaint.status,
            "channel": complaint.channel,
            "received_at": complaint.created_on.isoformat(),
            "updated_at": complaint.modified_on.isoformat(),
            "trace_id": complaint.trace_id,
            "product": complaint.product,
            "order": complaint.order,
            "demands": complaint.demands,
            "category": complaint.category,
            "handler_id": complaint.handler_id,
            "offer": complaint.offer,
            "offer_status": complaint.offer_status,
            "revisit_due": complaint.revisit_due,
            "duplicates": complaint.duplicates,
            "group_id": complaint.group_id,
            "regulator": complaint.regulator,
        }


def _key32(secret: str) -> bytes:
    """A 32-byte AES key derived from a configured secret string."""
    return hashlib.sha256(secret.encode()).digest()


def now_utc() -> datetime:
    return datetime.now(UTC)


def canonical_body(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


Clock = Callable[[], datetime]
