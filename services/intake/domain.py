"""Intake's aggregates: brands and their keys, complaints as received and followed, indexes.

Pure: ids, times and ciphertexts come in as arguments; nothing here reads a clock or
does I/O.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from services.intake.errors import ComplaintClosedForActions, OfferNotOpen, SourceAlreadyBlocked
from services.intake.statuses import NOT_OPEN, step
from shared.inputs import InputClocked
from shared.store import EventMeta


class Brand(Aggregate):
    """A brand on the platform; its API keys are stored as hashes only."""

    TOPIC = "intake.Brand"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "intake.Brand.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "intake.Brand.Created"

    @event("BrandRegistered", topic="intake.Brand.BrandRegistered")
    def __init__(self, id: UUID, brand_id: str, name: str) -> None:
        self.brand_id = brand_id
        self.name = name
        self.keys: dict[str, dict[str, Any]] = {}

    @event("ApiKeyIssued", topic="intake.Brand.ApiKeyIssued")
    def issue_key(self, key_id: str, key_hash: str, issued_at: str) -> None:
        self.keys[key_id] = {"hash": key_hash, "issued_at": issued_at, "revoked": False}

    @event("ApiKeyRevoked", topic="intake.Brand.ApiKeyRevoked")
    def revoke_key(self, key_id: str, reason: str) -> None:
        self.keys[key_id]["revoked"] = True

    def active_keys(self) -> list[str]:
        return [k for k, v in self.keys.items() if not v["revoked"]]


class ApiKeyIndex(Aggregate):
    """Finds the brand of an API key by the key's public id."""

    TOPIC = "intake.ApiKeyIndex"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "intake.ApiKeyIndex.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "intake.ApiKeyIndex.Created"

    @event("ApiKeyIndexed", topic="intake.ApiKeyIndex.ApiKeyIndexed")
    def __init__(self, id: UUID, key_id: str, brand_id: str, key_hash: str) -> None:
        self.key_id = key_id
        self.brand_id = brand_id
        self.key_hash = key_hash
        self.revoked = False

    @event("ApiKeyIndexRevoked", topic="intake.ApiKeyIndex.ApiKeyIndexRevoked")
    def revoke(self) -> None:
        self.revoked = True


class Complaint(Aggregate):
    """A complaint as intake received it, and its status as the other services report it."""

    TOPIC = "intake.Complaint"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "intake.Complaint.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "intake.Complaint.Created"

    class ComplaintReceived(Created):
        """Step 1 (受理); v2 records the consumer's loss and the day the fault appeared;
        the order may carry sale_channel, delivery_date, declared_value_fen and insured
        (contract ComplaintReceived 2.0)."""

        TOPIC = "intake.Complaint.ComplaintReceived"
        class_version = 2

        meta: EventMeta
        channel: str
        subject_ref: str
        product: dict[str, Any]
        order: dict[str, Any]
        description: str
        demands: list[dict[str, Any]]
        attachments: list[str]
        media_exposure: bool
        injury: bool
        regulator: dict[str, Any] | None
        group_id: str | None
        nuisance: bool
        sealed_text: dict[str, str] | None
        received_by: str | None
        media_reach: str | None
        loss_fen: int | None
        fault_date: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 did not ask: not known. (The order's 2.0 facts are optional in the stored
            order; the contract's upcast gives the sale channel "unknown".)"""
            state["loss_fen"] = None
            state["fault_date"] = None

    @event(ComplaintReceived)
    def __init__(
        self,
        id: UUID,
        meta: EventMeta,
        channel: str,
        subject_ref: str,
        product: dict[str, Any],
        order: dict[str, Any],
        description: str,
        demands: list[dict[str, Any]],
        attachments: list[str],
        media_exposure: bool,
        injury: bool,
        regulator: dict[str, Any] | None,
        group_id: str | None,
        nuisance: bool,
        sealed_text: dict[str, str] | None = None,
        received_by: str | None = None,
        media_reach: str | None = None,
        loss_fen: int | None = None,
        fault_date: str | None = None,
    ) -> None:
        # `description` is redacted; `sealed_text` holds the originals redaction changed,
        # sealed under the subject's key (absent from events stored before redaction).
        self.brand_id = meta.brand_id
        self.trace_id = meta.trace_id
        self.channel = channel
        self.subject_ref = subject_ref
        self.product = product
        self.order = order
        self.loss_fen = loss_fen
        self.fault_date = fault_date
        self.media_exposure = media_exposure
        self.media_reach = media_reach
        self.description = description
        self.demands = demands
        self.regulator = regulator
        self.group_id = group_id
        self.nuisance = nuisance
        self.status = "received"
        self.offer: dict[str, Any] | None = None
        self.offer_status: str | None = None
        self.handler_id: str | None = None
        self.category: str | None = None
        self.revisit_due: str | None = None
        self.approval: dict[str, Any] | None = None  # a pending approval (主管批示)
        self.fulfilment: dict[str, Any] | None = None
        self.duplicates: list[dict[str, Any]] = []
        self.confirmed = False
        self.corrections: dict[str, str] = {}
        self.nuisance_reason: str | None = None
        self.group_member_count: int | None = None
        self.sealed_text: dict[str, str] = dict(sealed_text or {})

    @property
    def is_open(self) -> bool:
        """Still being handled: another contact about the same order is a duplicate."""
        return self.status not in NOT_OPEN

    class RegulatorTransferReceived(Event):
        """Step 1 for 消协/12315: which body transferred it, under which number, by when;
        v2 records the working-day calendar version the deadline was counted with, v3 the
        regulator's transfer date it counts from and whether a year of it was assumed."""

        TOPIC = "intake.Complaint.RegulatorTransferReceived"
        class_version = 3

        meta: EventMeta
        regulator_id: str
        regulator_name: str
        transfer_number: str
        deadline_working_days: int
        deadline_at: str
        calendar_version: str | None
        transferred_on: str | None
        deadline_provisional: bool

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 did not record the calendar: None says "not known"."""
            state["calendar_version"] = None

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """v2 counted from the day it was received (None: that day) and flagged nothing."""
            state["transferred_on"] = None
            state["deadline_provisional"] = False

    @event(RegulatorTransferReceived)
    def record_transfer(
        self,
        meta: EventMeta,
        regulator_id: str,
        regulator_name: str,
        transfer_number: str,
        deadline_working_days: int,
        deadline_at: str,
        calendar_version: str | None,
        transferred_on: str | None,
        deadline_provisional: bool,
    ) -> None:
        """The transfer, recorded with the calendar version its deadline used."""

    @event("TransferDeadlineRevised", topic="intake.Complaint.TransferDeadlineRevised")
    def revise_transfer_deadline(
        self,
        meta: EventMeta,
        previous_deadline_at: str,
        deadline_at: str,
        deadline_provisional: bool,
        calendar_version: str,
        loaded_year: int,
    ) -> None:
        """A calendar year was loaded: the transfer's deadline recounted with it."""
        regulator = dict(self.regulator or {})
        regulator["deadline_at"] = deadline_at
        regulator["deadline_provisional"] = deadline_provisional
        self.regulator = regulator
        self.deadline_revisions = [
            *getattr(self, "deadline_revisions", []),
            {
                "previous_deadline_at": previous_deadline_at,
                "deadline_at": deadline_at,
                "deadline_provisional": deadline_provisional,
                "calendar_version": calendar_version,
                "loaded_year": loaded_year,
            },
        ]

    @event("NuisanceFlagged", topic="intake.Complaint.NuisanceFlagged")
    def flag_nuisance(self, meta: EventMeta, source_ref: str, reason: str) -> None:
        self.nuisance = True
        self.nuisance_reason = reason

    @event("GroupComplaintLinked", topic="intake.Complaint.GroupComplaintLinked")
    def link_group(self, meta: EventMeta, group_id: str, group_key: str, member_count: int) -> None:
        self.group_id = group_id
        self.group_member_count = member_count

    @event("ComplaintDetailsConfirmed", topic="intake.Complaint.ComplaintDetailsConfirmed")
    def _confirm(
        self,
        meta: EventMeta,
        confirmed_via: str,
        corrections: dict[str, str],
        sealed_text: dict[str, str] | None = None,
    ) -> None:
        self.confirmed = True
        self.corrections.update(corrections)
        self.sealed_text.update(sealed_text or {})

    def confirm(
        self,
        meta: EventMeta,
        confirmed_via: str,
        corrections: dict[str, str],
        sealed_text: dict[str, str] | None = None,
    ) -> None:
        """Step 1: the record was read back to the consumer; refused once withdrawn or closed."""
        if self.status in ("withdrawn", "closed"):
            raise ComplaintClosedForActions(f"the complaint is {self.status}")
        self._confirm(
            meta=meta,
            confirmed_via=confirmed_via,
            corrections=corrections,
            sealed_text=sealed_text,
        )

    @event("DuplicateLinked", topic="intake.Complaint.DuplicateLinked")
    def link_duplicate(
        self, meta: EventMeta, contact_id: str, matched_fields: list[str], channel: str
    ) -> None:
        self.duplicates.append({"contact_id": contact_id, "matched_fields": matched_fields})

    @event("UpstreamObserved", topic="intake.Complaint.UpstreamObserved")
    def observe(self, meta: EventMeta, contract: dict[str, Any]) -> None:
        """Records what another service published about this complaint (the status feed)."""
        event_type = contract["type"]
        payload = contract["payload"]
        if self.status != "withdrawn":
            waited = getattr(self, "status_before_approval", None)
            after = step(self.status, waited, event_type)
            self.status, self.status_before_approval = after.status, after.before_approval
        if event_type == "ComplaintClassified":
            self.category = payload["category"]
        elif event_type == "HandlerAssigned":
            self.handler_id = payload["handler_id"]
        elif event_type in ("HandlerReassigned", "Escalated"):  # the owner now
            self.handler_id = payload["to_handler"]
        elif event_type == "RemedyOptionsOffered":
            self.offer = {"offer_id": payload["offer_id"], "options": payload["options"]}
            self.offer_status = "open"
        elif event_type == "OfferAccepted":
            self.offer_status = "accepted"
        elif event_type == "OfferRejected":
            self.offer_status = "rejected"
        elif event_type == "CounterProposalReceived":
            self.offer_status = "countered"
        elif event_type == "RevisitScheduled":
            self.revisit_due = payload["due_date"]
        elif event_type == "ApprovalRequested":
            self.approval = {
                "approval_id": payload["approval_id"],
                "offer_round": payload["offer_round"],
                "options": payload["options"],
                "reason": payload["reason"],
            }
        elif event_type == "RemedyFulfilled":
            shown = ("fulfilment_id", "offer_id", "option_id", "kind", "amount_fen", "reference")
            self.fulfilment = {k: payload[k] for k in shown} | {"at": contract["occurred_at"]}
        if self.status != "awaiting_approval":
            self.approval = None  # pending only while the complaint waits for it

    @event("ConsumerActed", topic="intake.Complaint.ConsumerActed")
    def _act(
        self,
        meta: EventMeta,
        action: str,
        offer_id: str,
        option_id: str | None,
        reason: str | None,
        counter_kind: str | None,
        counter_amount_fen: int | None,
        sealed_text: dict[str, str] | None = None,
    ) -> None:
        self.offer_status = {"accept": "accepting", "reject": "rejecting"}.get(action, "countering")
        self.sealed_text.update(sealed_text or {})

    def act(
        self,
        meta: EventMeta,
        action: str,
        offer_id: str,
        option_id: str | None = None,
        reason: str | None = None,
        counter_kind: str | None = None,
        counter_amount_fen: int | None = None,
        sealed_text: dict[str, str] | None = None,
    ) -> None:
        """Step 8: the consumer's answer to the offer that stands; refused with why if none."""
        if self.status in ("withdrawn", "closed"):
            raise ComplaintClosedForActions(
                f"the complaint is {self.status}", offer_status=self.offer_status
            )
        if self.offer is None:
            raise OfferNotOpen(
                "no offer has been made on this complaint yet", offer_status=self.offer_status
            )
        if self.offer["offer_id"] != offer_id:
            raise OfferNotOpen(
                f"offer {offer_id} is not the offer that stands", offer_status=self.offer_status
            )
        if self.offer_status != "open":
            raise OfferNotOpen(
                f"offer {offer_id} is no longer open: it is {self.offer_status}",
                offer_status=self.offer_status,
            )
        if action == "accept":
            known = {o["option_id"] for o in self.offer["options"]}
            if option_id not in known:
                raise OfferNotOpen(
                    f"option {option_id} is not part of offer {offer_id}",
                    offer_status=self.offer_status,
                )
        self._act(
            meta=meta,
            action=action,
            offer_id=offer_id,
            option_id=option_id,
            reason=reason,
            counter_kind=counter_kind,
            counter_amount_fen=counter_amount_fen,
            sealed_text=sealed_text,
        )

    @event("ComplaintWithdrawn", topic="intake.Complaint.ComplaintWithdrawn")
    def _withdraw(
        self, meta: EventMeta, reason: str, sealed_text: dict[str, str] | None = None
    ) -> None:
        self.status, self.approval = "withdrawn", None
        if self.offer_status == "open":
            self.offer_status = "withdrawn"
        self.sealed_text.update(sealed_text or {})

    def withdraw(
        self, meta: EventMeta, reason: str, sealed_text: dict[str, str] | None = None
    ) -> None:
        if self.status in ("withdrawn", "closed"):
            raise ComplaintClosedForActions(f"the complaint is already {self.status}")
        self._withdraw(meta=meta, reason=reason, sealed_text=sealed_text)


class ConsumerFile(Aggregate):
    """One consumer's contacts with a brand (by phone blind index): duplicates, nuisance, blocks.

    Holds no PII: the consumer is the vault's subject reference, orders are match keys.
    """

    TOPIC = "intake.ConsumerFile"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "intake.ConsumerFile.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "intake.ConsumerFile.Created"

    @event("ConsumerFileOpened", topic="intake.ConsumerFile.ConsumerFileOpened")
    def __init__(self, id: UUID, brand_id: str, subject_ref: str) -> None:
        self.brand_id = brand_id
        self.subject_ref = subject_ref
        self.contacts: list[dict[str, Any]] = []
        self.flagged_reason: str | None = None
        self.blocked_reason: str | None = None
        self.refused = 0

    @event("ContactRecorded", topic="intake.ConsumerFile.ContactRecorded")
    def record_contact(
        self,
        contact_id: str,
        complaint_id: str,
        outcome: str,
        keys: dict[str, str | None],
        received_at: str,
    ) -> None:
        """A contact and what became of it: a new case, a duplicate, a nuisance case."""
        self.contacts.append(
            {
                "contact_id": contact_id,
                "complaint_id": complaint_id,
                "outcome": outcome,
                "keys": keys,
                "received_at": received_at,
            }
        )

    @event("SourceFlaggedAsNuisance", topic="intake.ConsumerFile.SourceFlaggedAsNuisance")
    def flag_nuisance(self, reason: str, flagged_by: str, flagged_at: str) -> None:
        self.flagged_reason = reason

    @event("SourceBlocked", topic="intake.ConsumerFile.SourceBlocked")
    def _block(self, reason: str, blocked_by: str, blocked_at: str) -> None:
        self.blocked_reason = reason

    def block(self, reason: str, blocked_by: str, blocked_at: str) -> None:
        """Operations block a harassing source [001 第五篇]; blocking twice is refused."""
        if self.blocked:
            raise SourceAlreadyBlocked(f"source {self.subject_ref} is already blocked")
        self._block(reason=reason, blocked_by=blocked_by, blocked_at=blocked_at)

    @event("ContactRefused", topic="intake.ConsumerFile.ContactRefused")
    def refuse(self, contact_id: str, channel: str, received_at: str) -> None:
        """A contact from a blocked source was refused: counted, never made a case."""
        self.refused += 1

    @property
    def blocked(self) -> bool:
        return self.blocked_reason is not None

    @property
    def flagged(self) -> bool:
        return self.flagged_reason is not None

    def cases(self) -> list[dict[str, Any]]:
        """Contacts that opened a complaint (not the ones linked as duplicates)."""
        return [c for c in self.contacts if c["outcome"] != "duplicate"]


class MerchantFile(Aggregate):
    """A brand's complaints against one merchant in one product category (the group index)."""

    TOPIC = "intake.MerchantFile"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "intake.MerchantFile.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "intake.MerchantFile.Created"

    @event("MerchantFileOpened", topic="intake.MerchantFile.MerchantFileOpened")
    def __init__(self, id: UUID, brand_id: str, group_key: str) -> None:
        self.brand_id = brand_id
        self.group_key = group_key
        self.cases: list[dict[str, str]] = []

    @event("MerchantCaseRecorded", topic="intake.MerchantFile.MerchantCaseRecorded")
    def record_case(self, complaint_id: str, subject_ref: str, received_at: str) -> None:
        self.cases.append(
            {"complaint_id": complaint_id, "subject_ref": subject_ref, "received_at": received_at}
        )


class ComplaintGroup(Aggregate):
    """Many consumers against the same merchant: a group complaint [003].

    Its state stays small however many join (a count, not a member list): the members
    are in its events and, for reading, in the complaint list.
    """

    TOPIC = "intake.ComplaintGroup"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "intake.ComplaintGroup.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "intake.ComplaintGroup.Created"

    @event("GroupFormed", topic="intake.ComplaintGroup.GroupFormed")
    def __init__(
        self, id: UUID, brand_id: str, group_key: str, merchant: str, category: str, formed_at: str
    ) -> None:
        self.brand_id = brand_id
        self.group_key = group_key
        self.merchant = merchant
        self.category = category
        self.formed_at = formed_at
        self.member_count = 0

    @event("GroupMemberAdded", topic="intake.ComplaintGroup.GroupMemberAdded")
    def add_member(self, complaint_id: str, subject_ref: str, received_at: str) -> None:
        self.member_count += 1


class Regulator(Aggregate):
    """A regulator integration (消协 or 12315) and its signing secret, encrypted at rest."""

    TOPIC = "intake.Regulator"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "intake.Regulator.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "intake.Regulator.Created"

    @event("RegulatorRegistered", topic="intake.Regulator.RegulatorRegistered")
    def __init__(
        self,
        id: UUID,
        regulator_id: str,
        name: str,
        kind: str,
        wrapped_key: str,
        sealed_secret: str,
        registered_at: str,
    ) -> None:
        self.regulator_id = regulator_id
        self.name = name
        self.kind = kind
        self.wrapped_key = wrapped_key
        self.sealed_secret = sealed_secret
        self.registered_at = registered_at


class RegulatorNonce(Aggregate):
    """One signed regulator request, recorded before it is acted on; its id makes reuse fail."""

    TOPIC = "intake.RegulatorNonce"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "intake.RegulatorNonce.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "intake.RegulatorNonce.Created"

    @event("RegulatorRequestRecorded", topic="intake.RegulatorNonce.RegulatorRequestRecorded")
    def __init__(
        self,
        id: UUID,
        regulator_id: str,
        nonce: str,
        method: str,
        path: str,
        timestamp: int,
        body_sha256: str,
        received_at: str,
    ) -> None:
        self.regulator_id = regulator_id
        self.nonce = nonce
        self.method = method
        self.path = path
        self.timestamp = timestamp
        self.body_sha256 = body_sha256
        self.received_at = received_at
