"""Intake's service layer: brands and keys, receiving complaints, consumer actions, status.

Commands load, decide (domain), save; upstream events from the other three services are
recorded on the complaint as the status feed. PII goes into the vault, never into events
in plaintext.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal
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
    ComplaintGroup,
    ConsumerFile,
    IdempotencyRecord,
    MerchantFile,
    Regulator,
    RegulatorNonce,
)
from services.intake.errors import ComplaintClosedForActions, OfferNotOpen, SourceAlreadyBlocked
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
from services.intake.webhooks.service import WebhookUseCases
from shared.calendar import deadline_after
from shared.contracts import ContractEvent
from shared.contracts.intake import Channel, DemandKind
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
from shared.store import EventMeta, derive_id

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


@dataclass(frozen=True)
class Arrival:
    """One contact being admitted: whose, under which id, through which channel, when."""

    brand_id: str
    trace_id: str
    complaint_id: UUID
    subject_ref: str
    channel: str
    details: ComplaintDetails
    received_at: datetime

    @property
    def meta(self) -> EventMeta:
        return EventMeta(self.brand_id, self.trace_id, None)

    @property
    def order(self) -> dict[str, Any]:
        return self.details.order.model_dump(mode="json")

    @property
    def product(self) -> dict[str, Any]:
        return self.details.product.model_dump(mode="json")

    @property
    def keys(self) -> MatchKeys:
        return MatchKeys.of(self.order, self.product)

    def contact(self, complaint_id: str, outcome: str) -> dict[str, Any]:
        """The consumer file's record of this contact (no PII: match keys only)."""
        return {
            "contact_id": str(self.complaint_id),
            "complaint_id": complaint_id,
            "outcome": outcome,
            "keys": self.keys.as_dict(),
            "received_at": self.received_at.isoformat(),
        }


@dataclass(frozen=True)
class GroupJoin:
    """The group a case formed or joined (if any), and the merchant index it updated."""

    group: ComplaintGroup | None
    members: list[MerchantCase]
    merchant_file: MerchantFile | None

    @property
    def group_id(self) -> str | None:
        return str(self.group.id) if self.group else None

    @property
    def aggregates(self) -> list[Aggregate]:
        return [a for a in (self.merchant_file, self.group) if a is not None]


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
    nuisance: bool = False
    subject_ref: str = ""
    group_id: str | None = None


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
                    complaint.nuisance,
                    complaint.subject_ref,
                    complaint.group_id,
                )
            else:
                row.status = complaint.status
                row.updated_at = complaint.modified_on
                row.nuisance = complaint.nuisance
                row.group_id = complaint.group_id

    def members(self, brand_id: str, group_id: str) -> list[ComplaintRow]:
        """A group's member complaints, oldest first."""
        with self.lock:
            rows = [
                r for r in self.rows.values() if r.brand_id == brand_id and r.group_id == group_id
            ]
        return sorted(rows, key=_row_key)

    def page(
        self,
        brand_id: str,
        status: str | None,
        since: datetime | None,
        after: str | None,
        limit: int,
        queue: Literal["normal", "nuisance"] = "normal",
    ) -> list[ComplaintRow]:
        """A page of one queue: nuisance contacts are kept apart from real complaints."""
        nuisance = queue == "nuisance"
        with self.lock:
            rows = [
                r for r in self.rows.values() if r.brand_id == brand_id and r.nuisance == nuisance
            ]
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


class IntakeApplication(WebhookUseCases):
    service = "intake"
    name = "intake"
    # Index aggregates that grow with traffic load from a snapshot plus a few events.
    snapshotting_intervals: ClassVar[dict[Any, int]] = {
        ComplaintGroup: 100,
        MerchantFile: 100,
        ConsumerFile: 100,
    }

    def __init__(self, env: EnvType | None = None) -> None:
        super().__init__(env)
        self.cipher = PiiCipher(_key32(self.env.get("AFTERSALES_PII_MASTER_KEY") or ""))
        self.index_key = (self.env.get("AFTERSALES_PII_INDEX_KEY") or "").encode()
        self.keys: KeyStore = key_store_for(dict(self.env))
        window_days = int(self.env.get("AFTERSALES_DUPLICATE_WINDOW_DAYS") or 30)
        self.duplicate_policy = DuplicatePolicy(window=timedelta(days=window_days))
        self.index = ComplaintIndex()
        self._rebuild_index()

    def close(self) -> None:
        self.keys.close()
        super().close()

    def register_handlers(self) -> None:
        for event_type in STATUS_FEED:
            self.on(event_type, self.on_status_feed)
        self.register_fan_out()

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
        found: list[Brand] = []
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

    def receive_complaint(
        self, request: Request, new: NewComplaint, received_at: datetime | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Step 1: record the complaint (idempotently); returns (HTTP status, body).

        A repeat about an open complaint is linked to it (200 with `duplicate_of`), a
        blocked source is refused (Forbidden, the refusal recorded), a nuisance source's
        complaint goes to its own queue, and complaints against one merchant form groups.
        """
        at = received_at or now_utc()
        complaint_id = (
            derive_id("complaint", request.brand_id, request.idempotency_key)
            if request.idempotency_key
            else uuid4()
        )

        def command() -> tuple[int, dict[str, Any]]:
            replay = self._idempotent_replay(request)
            if replay is not None:
                return replay
            status, body, aggregates = self._admit(request, new, complaint_id, at)
            self.save(*aggregates, *self._idempotency(request, status, body))
            return status, body

        return self.run_command(command)

    def _admit(
        self, request: Request, new: NewComplaint, contact_id: UUID, at: datetime
    ) -> tuple[int, dict[str, Any], list[Aggregate]]:
        """Decide what a brand's contact becomes: refused, a duplicate, or a (nuisance) case."""
        file = self._consumer_file(request.brand_id, self._subject_id(request.brand_id, new))
        if file.blocked:
            self._refuse(file, contact_id, new.channel, at)
        subject = self._subject_for(request.brand_id, new)
        arrival = Arrival(
            request.brand_id, request.trace_id, contact_id, str(subject.id), new.channel, new, at
        )
        priors = self._prior_cases(file, at)
        duplicate = find_duplicate(arrival.keys, priors, at, self.duplicate_policy)
        if duplicate is not None:
            existing: Complaint = self.repository.get(UUID(duplicate.complaint_id))
            existing.link_duplicate(
                meta=EventMeta(request.brand_id, existing.trace_id, None),
                contact_id=str(contact_id),
                matched_fields=duplicate.matched_fields,
                channel=new.channel,
            )
            file.record_contact(**arrival.contact(duplicate.complaint_id, "duplicate"))
            body = {**self.complaint_view(existing), "duplicate_of": duplicate.complaint_id}
            return 200, body, [subject, file, existing]
        earlier = [_instant(c["received_at"]) for c in file.contacts]
        nuisance = nuisance_reason(earlier, at, file.flagged, NUISANCE)
        complaint, aggregates = self._open_case(arrival, file, nuisance, None)
        return 201, self.complaint_view(complaint), [subject, complaint, *aggregates]

    def _refuse(self, file: ConsumerFile, contact_id: UUID, channel: str, at: datetime) -> None:
        file.refuse(contact_id=str(contact_id), channel=channel, received_at=at.isoformat())
        self.save(file)
        raise Forbidden(
            "source blocked: operations blocked this contact source; the contact was recorded "
            "and refused",
            subject_ref=file.subject_ref,
        )

    def _open_case(
        self,
        arrival: Arrival,
        file: ConsumerFile,
        nuisance: str | None,
        transfer: dict[str, Any] | None,
    ) -> tuple[Complaint, list[Aggregate]]:
        """A new complaint with its inputs recorded: transfer, nuisance flag, group links."""
        join = None if nuisance else self._join_group(arrival)
        details = arrival.details
        complaint = Complaint(
            id=arrival.complaint_id,
            meta=arrival.meta,
            channel=arrival.channel,
            subject_ref=arrival.subject_ref,
            product=arrival.product,
            order=arrival.order,
            description=details.description,
            demands=[d.model_dump(mode="json") for d in details.demands],
            attachments=details.attachments,
            media_exposure=details.media_exposure,
            injury=details.injury,
            regulator=_regulator_ref(transfer) if transfer else None,
            group_id=join.group_id if join else None,
            nuisance=nuisance is not None,
        )
        outcome = "nuisance" if nuisance else "case"
        file.record_contact(**arrival.contact(str(arrival.complaint_id), outcome))
        if transfer:
            complaint.record_transfer(meta=arrival.meta, **transfer)
        if nuisance:
            complaint.flag_nuisance(
                meta=arrival.meta, source_ref=arrival.subject_ref, reason=nuisance
            )
        linked = self._link_members(complaint, join) if join and join.group else []
        return complaint, [file, *(join.aggregates if join else []), *linked]

    def _subject_id(self, brand_id: str, details: ComplaintDetails) -> UUID:
        return derive_id(
            "subject", brand_id, blind_index(self.index_key, "phone", details.consumer.phone)
        )

    def _consumer_file(self, brand_id: str, subject_id: UUID) -> ConsumerFile:
        file: ConsumerFile | None = self.get_or_none(derive_id("consumer-file", subject_id))
        return file or ConsumerFile(
            id=derive_id("consumer-file", subject_id),
            brand_id=brand_id,
            subject_ref=str(subject_id),
        )

    def _prior_cases(self, file: ConsumerFile, at: datetime) -> list[PriorCase]:
        """The consumer's complaints within the duplicate window, with whether each is open."""
        since = at - self.duplicate_policy.window
        priors = []
        for case in file.cases():
            received = _instant(case["received_at"])
            if received < since:
                continue
            complaint = self.get_or_none(UUID(case["complaint_id"]))
            is_open = isinstance(complaint, Complaint) and complaint.is_open
            priors.append(
                PriorCase(case["complaint_id"], MatchKeys(**case["keys"]), received, is_open)
            )
        return priors

    # --- group complaints -------------------------------------------------------------

    def _join_group(self, arrival: Arrival) -> GroupJoin | None:
        """The group a case forms or joins against its merchant; None without a merchant.

        Until a group forms, cases are indexed per merchant and category (`MerchantFile`);
        once it has formed, new cases simply join it.
        """
        key = group_key(arrival.order, arrival.product)
        if key is None:
            return None
        group: ComplaintGroup | None = self.get_or_none(derive_id("group", arrival.brand_id, key))
        new = MerchantCase(str(arrival.complaint_id), arrival.subject_ref, arrival.received_at)
        merchant_file = None if group else self._merchant_file(arrival.brand_id, key)
        cases = [
            MerchantCase(c["complaint_id"], c["subject_ref"], _instant(c["received_at"]))
            for c in (merchant_file.cases if merchant_file else [])
        ]
        members = cases_to_group(cases, new, group is not None, GROUPS)
        if merchant_file:
            merchant_file.record_case(
                complaint_id=new.complaint_id, subject_ref=new.subject_ref, received_at=_iso(new)
            )
        if not members:
            return GroupJoin(None, [], merchant_file)
        group = group or ComplaintGroup(
            id=derive_id("group", arrival.brand_id, key),
            brand_id=arrival.brand_id,
            group_key=key,
            merchant=str(arrival.order.get("merchant")),
            category=str(arrival.product.get("category")),
            formed_at=arrival.received_at.isoformat(),
        )
        for case in members:
            group.add_member(
                complaint_id=case.complaint_id, subject_ref=case.subject_ref, received_at=_iso(case)
            )
        return GroupJoin(group, members, merchant_file)

    def _merchant_file(self, brand_id: str, key: str) -> MerchantFile:
        file_id = derive_id("merchant-file", brand_id, key)
        found: MerchantFile | None = self.get_or_none(file_id)
        return found or MerchantFile(id=file_id, brand_id=brand_id, group_key=key)

    def _link_members(self, complaint: Complaint, join: GroupJoin) -> list[Complaint]:
        """Link every new member to the group; returns the earlier complaints it touched."""
        assert join.group is not None
        earlier: list[Complaint] = []
        for case in join.members:
            member = complaint
            if case.complaint_id != str(complaint.id):
                member = self.repository.get(UUID(case.complaint_id))
                earlier.append(member)
            member.link_group(
                meta=EventMeta(member.brand_id, member.trace_id, None),
                group_id=str(join.group.id),
                group_key=join.group.group_key,
                member_count=join.group.member_count,
            )
        return earlier

    def group(self, brand_id: str, group_id: UUID) -> ComplaintGroup:
        """A brand's complaint group; another brand's is NotFound."""
        group: ComplaintGroup | None = self.get_or_none(group_id)
        if not isinstance(group, ComplaintGroup) or group.brand_id != brand_id:
            raise NotFound(f"group {group_id} not found")
        return group

    def group_view(self, group: ComplaintGroup) -> dict[str, Any]:
        members = self.index.members(group.brand_id, str(group.id))
        return {
            "group_id": str(group.id),
            "brand_id": group.brand_id,
            "group_key": group.group_key,
            "merchant": group.merchant,
            "category": group.category,
            "formed_at": group.formed_at,
            "member_count": group.member_count,
            "consumer_count": len({m.subject_ref for m in members}),
            "members": [
                {
                    "complaint_id": str(m.complaint_id),
                    "subject_ref": m.subject_ref,
                    "status": m.status,
                    "received_at": m.received_at.isoformat(),
                }
                for m in members
            ],
        }

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

    def _subject_for(self, brand_id: str, new: ComplaintDetails) -> DataSubject:
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

    def confirm(
        self, request: Request, complaint_id: UUID, confirmation: Confirmation
    ) -> Complaint:
        """Step 1: the record was read back to the consumer and confirmed (受理确认)."""

        def command() -> Complaint:
            complaint = self.complaint(request.brand_id, complaint_id)
            meta = EventMeta(request.brand_id, complaint.trace_id, None)
            try:
                corrections = {str(k): v for k, v in confirmation.corrections.items()}
                complaint.confirm(meta, confirmation.confirmed_via, corrections)
            except ComplaintClosedForActions as refused:
                raise Conflict(str(refused)) from refused
            self.save(complaint)
            return complaint

        return self.run_command(command)

    # --- contact sources (nuisance, blocking) -----------------------------------------

    def source(self, subject_ref: str, claims: OpsClaims) -> ConsumerFile:
        """A contact source's file, if the ops user may see its brand."""
        file: ConsumerFile | None = self.get_or_none(derive_id("consumer-file", subject_ref))
        if not isinstance(file, ConsumerFile) or not claims.can_see_brand(file.brand_id):
            raise NotFound(f"source {subject_ref} not found")
        return file

    def block_source(
        self, subject_ref: str, claims: OpsClaims, reason: str, at: datetime
    ) -> ConsumerFile:
        """Ops block a harassing source: its further contacts are refused and counted."""

        def command() -> ConsumerFile:
            file = self.source(subject_ref, claims)
            try:
                file.block(reason=reason, blocked_by=claims.sub, blocked_at=at.isoformat())
            except SourceAlreadyBlocked as refused:
                raise Conflict(str(refused)) from refused
            self.save(file)
            return file

        return self.run_command(command)

    def flag_source(
        self, subject_ref: str, claims: OpsClaims, reason: str, at: datetime
    ) -> ConsumerFile:
        """Ops flag a source as nuisance: its further complaints go to the nuisance queue."""

        def command() -> ConsumerFile:
            file = self.source(subject_ref, claims)
            file.flag_nuisance(reason=reason, flagged_by=claims.sub, flagged_at=at.isoformat())
            self.save(file)
            return file

        return self.run_command(command)

    def source_view(self, file: ConsumerFile) -> dict[str, Any]:
        outcomes = [c["outcome"] for c in file.contacts]
        return {
            "subject_ref": file.subject_ref,
            "brand_id": file.brand_id,
            "blocked": file.blocked,
            "blocked_reason": file.blocked_reason,
            "flagged": file.flagged,
            "flagged_reason": file.flagged_reason,
            "contacts": len(outcomes),
            "cases": outcomes.count("case"),
            "duplicates": outcomes.count("duplicate"),
            "nuisance": outcomes.count("nuisance"),
            "refused": file.refused,
        }

    # --- regulators -------------------------------------------------------------------

    def register_regulator(self, new: NewRegulator, registered_at: datetime) -> str:
        """Register a regulator integration; returns its signing secret, shown once.

        HMAC verification needs the secret itself, so it is stored encrypted (under a
        key of its own, wrapped by the master key), not hashed.
        """
        secret = secrets.token_urlsafe(32)

        def command() -> None:
            aggregate_id = derive_id("regulator", new.regulator_id)
            if self.get_or_none(aggregate_id) is not None:
                raise Conflict(f"regulator {new.regulator_id} is already registered")
            key = self.cipher.new_subject_key()
            regulator = Regulator(
                id=aggregate_id,
                regulator_id=new.regulator_id,
                name=new.name,
                kind=new.kind,
                wrapped_key=base64.b64encode(self.cipher.wrap_key(key)).decode(),
                sealed_secret=self.cipher.encrypt_field(key, secret, _secret_aad(new.regulator_id)),
                registered_at=registered_at.isoformat(),
            )
            self.save(regulator)

        self.run_command(command)
        return secret

    def authenticate_regulator(self, signed: SignedRequest, now: datetime) -> Regulator:
        """Verify a signed regulator request and record its nonce before anything acts on it."""
        regulator: Regulator | None = self.get_or_none(derive_id("regulator", signed.regulator_id))
        if not isinstance(regulator, Regulator):
            raise Unauthorized(f"unknown regulator {signed.regulator_id!r}: not registered")
        try:
            timestamp = parse_timestamp_header(signed.timestamp)
            verify_request(
                self._regulator_secret(regulator),
                signed.method,
                signed.path,
                timestamp,
                signed.nonce,
                signed.body,
                signed.signature,
                now=int(now.timestamp()),
            )
        except SignatureError as error:
            raise Unauthorized(SIGNATURE_DETAILS[error.reason]) from error
        self._record_nonce(regulator, signed, timestamp, now)
        return regulator

    def _regulator_secret(self, regulator: Regulator) -> bytes:
        key = self.cipher.unwrap_key(base64.b64decode(regulator.wrapped_key))
        aad = _secret_aad(regulator.regulator_id)
        return self.cipher.decrypt_field(key, regulator.sealed_secret, aad).encode()

    def _record_nonce(
        self, regulator: Regulator, signed: SignedRequest, timestamp: int, now: datetime
    ) -> None:
        """One aggregate per (regulator, nonce): a replay finds it, or conflicts saving it."""
        nonce_id = derive_id("regulator-nonce", regulator.regulator_id, signed.nonce)
        used = Unauthorized("nonce already used: every signed request needs a fresh nonce")
        with self.write_lock:
            if self.get_or_none(nonce_id) is not None:
                raise used
            record = RegulatorNonce(
                id=nonce_id,
                regulator_id=regulator.regulator_id,
                nonce=signed.nonce,
                method=signed.method,
                path=signed.path,
                timestamp=timestamp,
                body_sha256=hashlib.sha256(signed.body).hexdigest(),
                received_at=now.isoformat(),
            )
            try:
                self.save(record)
            except IntegrityError as error:
                raise used from error

    def receive_transfer(
        self,
        regulator: Regulator,
        transfer: RegulatorTransfer,
        trace_id: str,
        received_at: datetime,
    ) -> tuple[int, dict[str, Any]]:
        """Record a regulator's transfer (转办) as a complaint; the same number twice is one.

        Transfers are not screened as duplicates or nuisance: the regulator set a deadline
        and expects an outcome for this number. They do join merchant groups.
        """
        complaint_id = derive_id(
            "regulator-transfer", regulator.regulator_id, transfer.transfer_number
        )

        def command() -> tuple[int, dict[str, Any]]:
            existing = self.get_or_none(complaint_id)
            if isinstance(existing, Complaint):
                return 200, self.transfer_view(existing)
            if self.get_or_none(derive_id("brand", transfer.brand_id)) is None:
                raise Unprocessable(
                    f"brand_id: brand {transfer.brand_id!r} is not registered",
                    errors=[
                        {
                            "loc": ["body", "brand_id"],
                            "msg": "brand is not registered",
                            "type": "unknown_brand",
                        }
                    ],
                )
            deadline = deadline_after(received_at, transfer.deadline_working_days)
            subject = self._subject_for(transfer.brand_id, transfer.complaint)
            file = self._consumer_file(transfer.brand_id, subject.id)
            arrival = Arrival(
                transfer.brand_id,
                trace_id,
                complaint_id,
                str(subject.id),
                "regulator",
                transfer.complaint,
                received_at,
            )
            received = {
                "regulator_id": regulator.regulator_id,
                "regulator_name": regulator.name,
                "transfer_number": transfer.transfer_number,
                "deadline_working_days": transfer.deadline_working_days,
                "deadline_at": deadline.isoformat(),
            }
            complaint, aggregates = self._open_case(arrival, file, None, received)
            self.save(subject, complaint, *aggregates)
            return 201, self.transfer_view(complaint)

        return self.run_command(command)

    def transfer(self, regulator: Regulator, transfer_number: str) -> Complaint:
        """The complaint a regulator's transfer became; another regulator's is NotFound."""
        complaint_id = derive_id("regulator-transfer", regulator.regulator_id, transfer_number)
        complaint: Complaint | None = self.get_or_none(complaint_id)
        if not isinstance(complaint, Complaint):
            raise NotFound(f"transfer {transfer_number} not found for {regulator.regulator_id}")
        return complaint

    def transfer_view(self, complaint: Complaint) -> dict[str, Any]:
        """What the regulator sees: the case's status and, once reported, its outcome."""
        regulator = complaint.regulator or {}
        return {
            "transfer_number": regulator.get("transfer_number"),
            "regulator_id": regulator.get("regulator_id"),
            "complaint_id": str(complaint.id),
            "brand_id": complaint.brand_id,
            "status": complaint.status,
            "received_at": complaint.created_on.isoformat(),
            "deadline_working_days": regulator.get("deadline_working_days"),
            "deadline_at": regulator.get("deadline_at"),
            "group_id": complaint.group_id,
            # Filled when followup reports the outcome back (RegulatorOutcomeReported).
            "outcome": None,
        }

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
            "subject_ref": complaint.subject_ref,
            "nuisance": complaint.nuisance,
            "confirmed": complaint.confirmed,
            "corrections": complaint.corrections,
        }


def _key32(secret: str) -> bytes:
    """A 32-byte AES key derived from a configured secret string."""
    return hashlib.sha256(secret.encode()).digest()


def now_utc() -> datetime:
    return datetime.now(UTC)


def _instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def _iso(case: MerchantCase) -> str:
    return case.received_at.isoformat()


def _secret_aad(regulator_id: str) -> str:
    return f"regulator:{regulator_id}:secret"


def _regulator_ref(transfer: dict[str, Any]) -> dict[str, Any]:
    """The ComplaintReceived `regulator` field: who transferred it, under which number, by when."""
    keys = ("regulator_id", "transfer_number", "deadline_working_days", "deadline_at")
    return {k: transfer[k] for k in keys}
