"""Intake's aggregates: brands and their keys, complaints as received and followed, idempotency.

Pure: ids, times and ciphertexts come in as arguments; nothing here reads a clock or
does I/O.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from shared.store import EventMeta

# What each upstream event means for the complaint's status, as brands see it.
STATUS_AFTER = {
    "ComplaintClassified": "classified",
    "HandlerAssigned": "assigned",
    "RemedyOptionsOffered": "offered",
    "OfferAccepted": "accepted",
    "OfferRejected": "negotiating",
    "CounterProposalReceived": "negotiating",
    "RevisitScheduled": "revisit_scheduled",
    "RevisitCompleted": "revisited",
    "ComplaintResolved": "resolved",
    "ComplaintReopened": "reopened",
    "ComplaintClosed": "closed",
}


class IntakeError(Exception):
    """A command intake's rules refuse."""


class OfferNotOpen(IntakeError):
    """The consumer acted on an offer that does not stand (any more)."""


class ComplaintClosedForActions(IntakeError):
    """The complaint no longer takes consumer actions (withdrawn or closed)."""


class Brand(Aggregate):
    """A brand on the platform; its API keys are stored as hashes only."""

    TOPIC = "intake.Brand"

    class Event(Aggregate.Event):
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

    class Event(Aggregate.Event):
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

    class Event(Aggregate.Event):
        TOPIC = "intake.Complaint.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "intake.Complaint.Created"

    @event("ComplaintReceived", topic="intake.Complaint.ComplaintReceived")
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
    ) -> None:
        self.brand_id = meta.brand_id
        self.trace_id = meta.trace_id
        self.channel = channel
        self.subject_ref = subject_ref
        self.product = product
        self.order = order
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
        self.duplicates: list[dict[str, Any]] = []
        self.confirmed = False

    @event("ComplaintDetailsConfirmed", topic="intake.Complaint.ComplaintDetailsConfirmed")
    def confirm(self, meta: EventMeta, confirmed_via: str, corrections: dict[str, str]) -> None:
        self.confirmed = True

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
            self.status = STATUS_AFTER.get(event_type, self.status)
        if event_type == "ComplaintClassified":
            self.category = payload["category"]
        elif event_type == "HandlerAssigned":
            self.handler_id = payload["handler_id"]
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
    ) -> None:
        self.offer_status = {"accept": "accepting", "reject": "rejecting"}.get(action, "countering")

    def act(
        self,
        meta: EventMeta,
        action: str,
        offer_id: str,
        option_id: str | None = None,
        reason: str | None = None,
        counter_kind: str | None = None,
        counter_amount_fen: int | None = None,
    ) -> None:
        """Step 8: the consumer's answer to the offer that stands; refused with why if none."""
        if self.status in ("withdrawn", "closed"):
            raise ComplaintClosedForActions(f"the complaint is {self.status}")
        if self.offer is None:
            raise OfferNotOpen("no offer has been made on this complaint yet")
        if self.offer["offer_id"] != offer_id:
            raise OfferNotOpen(f"offer {offer_id} is not the offer that stands")
        if self.offer_status != "open":
            raise OfferNotOpen(f"offer {offer_id} is no longer open: it is {self.offer_status}")
        if action == "accept":
            known = {o["option_id"] for o in self.offer["options"]}
            if option_id not in known:
                raise OfferNotOpen(f"option {option_id} is not part of offer {offer_id}")
        self._act(
            meta=meta,
            action=action,
            offer_id=offer_id,
            option_id=option_id,
            reason=reason,
            counter_kind=counter_kind,
            counter_amount_fen=counter_amount_fen,
        )

    @event("ComplaintWithdrawn", topic="intake.Complaint.ComplaintWithdrawn")
    def _withdraw(self, meta: EventMeta, reason: str) -> None:
        self.status = "withdrawn"
        if self.offer_status == "open":
            self.offer_status = "withdrawn"

    def withdraw(self, meta: EventMeta, reason: str) -> None:
        if self.status in ("withdrawn", "closed"):
            raise ComplaintClosedForActions(f"the complaint is already {self.status}")
        self._withdraw(meta=meta, reason=reason)


class IdempotencyRecord(Aggregate):
    """The first response to a creating POST with an `Idempotency-Key`, kept for retries."""

    TOPIC = "intake.IdempotencyRecord"

    class Event(Aggregate.Event):
        TOPIC = "intake.IdempotencyRecord.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "intake.IdempotencyRecord.Created"

    @event("IdempotentRequestRecorded", topic="intake.IdempotencyRecord.IdempotentRequestRecorded")
    def __init__(
        self,
        id: UUID,
        scope: str,
        key: str,
        body_hash: str,
        status_code: int,
        response: dict[str, Any],
    ) -> None:
        self.scope = scope
        self.key = key
        self.body_hash = body_hash
        self.status_code = status_code
        self.response = response
