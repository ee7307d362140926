"""Compensation's aggregate: apology first, then remedies offered as the consumer's choice.

Offers come in rounds (a counter-proposal or a finding brings the next one); options above
the handler's authority wait for a supervisor (an approval holds the whole planned round,
so the consumer gets one offer); the accepted option is fulfilled once.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from shared.inputs import InputClocked
from shared.store import EventMeta

# Offer states in which a finding (LiabilityDetermined) brings a new round.
REOPENABLE = ("open", "rejected", "awaiting_approval")


class OfferNotStanding(Exception):
    """The consumer acted on an offer that is not open (or an option it never had)."""


class CompensationCase(Aggregate):
    """One complaint's compensation: apology, offers and the consumer's answers (steps 6–9)."""

    TOPIC = "compensation.CompensationCase"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "compensation.CompensationCase.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "compensation.CompensationCase.Created"

    @event("CaseOpened", topic="compensation.CompensationCase.CaseOpened")
    def __init__(self, id: UUID, meta: EventMeta) -> None:
        self.brand_id = meta.brand_id
        self.received: dict[str, Any] | None = None
        self.assignment: dict[str, Any] | None = None
        self.handler_id: str | None = None
        self.authority_fen = 0
        self.apologised = False
        self.offer: dict[str, Any] | None = None
        self.offers_made = 0
        self.offer_status: str | None = None
        self.accepted_option: dict[str, Any] | None = None
        self.withdrawn = False
        self.rounds: list[dict[str, Any]] = []
        self.approvals: dict[str, dict[str, Any]] = {}
        self.pending_approval: str | None = None
        self.findings: list[dict[str, Any]] = []
        self.counter: dict[str, Any] | None = None
        self.fulfilment: dict[str, Any] | None = None

    @event("InputRecorded", topic="compensation.CompensationCase.InputRecorded")
    def record_input(self, meta: EventMeta, contract: dict[str, Any]) -> None:
        """Records an upstream event this case acts on, before its effects."""
        kind, payload = contract["type"], contract["payload"]
        if kind == "ComplaintReceived":
            self.received = payload
        elif kind == "HandlerAssigned":
            self.assignment = payload
            self.handler_id, self.authority_fen = payload["handler_id"], payload["authority_fen"]
        elif kind in ("HandlerReassigned", "Escalated"):
            # The owner changes; Escalated 1.0 did not say the new owner's authority.
            self.handler_id = payload["to_handler"]
            if payload.get("authority_fen") is not None:
                self.authority_fen = payload["authority_fen"]
        elif kind == "ComplaintWithdrawn":
            self.withdrawn = True
            if self.offer_status in ("open", "awaiting_approval"):
                self.offer_status = "withdrawn"
            self._settle_pending("withdrawn")

    @event("ApologyIssued", topic="compensation.CompensationCase.ApologyIssued")
    def apologise(
        self,
        meta: EventMeta,
        handler_id: str,
        message: str,
        channel: str | None = None,
        template_version: str | None = None,
    ) -> None:
        """1.1: the complaint's channel and the template version (events stored before: None)."""
        self.apologised = True

    @event("RemedyOptionsOffered", topic="compensation.CompensationCase.RemedyOptionsOffered")
    def offer_remedies(
        self,
        meta: EventMeta,
        offer_id: str,
        options: list[dict[str, Any]],
        round: int = 1,
        policy_version: str | None = None,
        expires_on: str | None = None,
        replaces_offer_id: str | None = None,
    ) -> None:
        self._close_offer("superseded")  # a finding's round replaces an offer still open
        self._settle_pending("superseded")  # ...or an approval no longer needed
        self.offer = {
            "offer_id": offer_id,
            "options": options,
            "round": round,
            "expires_on": expires_on,
            "policy_version": policy_version,
            "replaces_offer_id": replaces_offer_id,
        }
        self.offers_made += 1
        self.offer_status = "open"
        self.rounds.append(dict(self.offer, status="open"))

    @event("ApprovalRequested", topic="compensation.CompensationCase.ApprovalRequested")
    def request_approval(
        self,
        meta: EventMeta,
        approval_id: str,
        offer_round: int,
        handler_id: str,
        authority_fen: int,
        options: list[dict[str, Any]],
        reason: str,
        plan: dict[str, Any],
        requested_at: str,
    ) -> None:
        """The planned round waits for a supervisor; a newer plan supersedes a pending one."""
        self._settle_pending("superseded")
        self.approvals[approval_id] = {
            "approval_id": approval_id,
            "offer_round": offer_round,
            "handler_id": handler_id,
            "authority_fen": authority_fen,
            "options": options,
            "reason": reason,
            "plan": plan,
            "requested_at": requested_at,
            "status": "pending",
            "decided_by": None,
            "decision_reason": None,
        }
        self.pending_approval = approval_id
        self._close_offer("superseded")
        self.offer_status = "awaiting_approval"

    @event("ApprovalGranted", topic="compensation.CompensationCase.ApprovalGranted")
    def grant_approval(
        self,
        meta: EventMeta,
        approval_id: str,
        approved_by: str,
        reason: str,
        options: list[dict[str, Any]],
    ) -> None:
        self.approvals[approval_id].update(
            status="granted", decided_by=approved_by, decision_reason=reason
        )

    @event("ApprovalDenied", topic="compensation.CompensationCase.ApprovalDenied")
    def deny_approval(self, meta: EventMeta, approval_id: str, denied_by: str, reason: str) -> None:
        self.approvals[approval_id].update(
            status="denied", decided_by=denied_by, decision_reason=reason
        )

    @event("LiabilityDetermined", topic="compensation.CompensationCase.LiabilityDetermined")
    def determine_liability(
        self, meta: EventMeta, finding: str, evidence: str, determined_by: str
    ) -> None:
        self.findings.append(
            {"finding": finding, "evidence": evidence, "determined_by": determined_by}
        )

    @event("OfferAccepted", topic="compensation.CompensationCase.OfferAccepted")
    def accept(
        self, meta: EventMeta, offer_id: str, option_id: str, kind: str, amount_fen: int
    ) -> None:
        self.offer_status = "accepted"
        self.accepted_option = {
            "option_id": option_id,
            "kind": kind,
            "amount_fen": amount_fen,
            "offer_id": offer_id,
        }
        self._close_offer("accepted")

    @event("OfferRejected", topic="compensation.CompensationCase.OfferRejected")
    def reject(self, meta: EventMeta, offer_id: str, reason: str) -> None:
        self.offer_status = "rejected"
        self._close_offer("rejected")

    @event("CounterProposalReceived", topic="compensation.CompensationCase.CounterProposalReceived")
    def receive_counter(
        self, meta: EventMeta, offer_id: str, kind: str, amount_fen: int | None
    ) -> None:
        self.offer_status = "countered"
        self.counter = {"offer_id": offer_id, "kind": kind, "amount_fen": amount_fen}
        self._close_offer("countered")

    @event("ConsumerActionRefused", topic="compensation.CompensationCase.ConsumerActionRefused")
    def refuse_action(self, meta: EventMeta, offer_id: str, reason: str) -> None:
        """An answer to an offer that no longer stands: recorded, without effect."""

    @event("RemedyFulfilled", topic="compensation.CompensationCase.RemedyFulfilled")
    def fulfil(
        self,
        meta: EventMeta,
        fulfilment_id: str,
        offer_id: str,
        option_id: str,
        kind: str,
        amount_fen: int,
        reference: str,
        fulfilled_by: str,
        notice: str,
    ) -> None:
        self.fulfilment = {
            "fulfilment_id": fulfilment_id,
            "offer_id": offer_id,
            "option_id": option_id,
            "kind": kind,
            "amount_fen": amount_fen,
            "reference": reference,
            "fulfilled_by": fulfilled_by,
            "notice": notice,
        }
        self.offer_status = "fulfilled"

    def _settle_pending(self, status: str) -> None:
        """The pending approval, if still undecided, ends without a decision."""
        if self.pending_approval is not None:
            approval = self.approvals[self.pending_approval]
            if approval["status"] == "pending":
                approval["status"] = status
            self.pending_approval = None

    def _close_offer(self, status: str) -> None:
        if self.rounds and self.rounds[-1]["status"] == "open":
            self.rounds[-1]["status"] = status

    @property
    def ready_to_offer(self) -> bool:
        return (
            self.received is not None
            and self.assignment is not None
            and not self.apologised
            and not self.withdrawn
        )

    def standing(self, offer_id: str) -> dict[str, Any]:
        """The offer `offer_id` if it is the open one, else OfferNotStanding saying why not."""
        if self.offer is None or self.offer["offer_id"] != offer_id:
            if any(r["offer_id"] == offer_id for r in self.rounds):
                current = self.offer["offer_id"] if self.offer else None
                raise OfferNotStanding(f"offer {offer_id} was replaced by offer {current}")
            raise OfferNotStanding(f"offer {offer_id} was never made on this complaint")
        if self.offer_status != "open":
            raise OfferNotStanding(f"offer {offer_id} is {self.offer_status}")
        return self.offer

    def option(self, offer_id: str, option_id: str | None) -> dict[str, Any]:
        """The open offer's option, or OfferNotStanding saying why not."""
        for option in self.standing(offer_id)["options"]:
            if option["option_id"] == option_id:
                return dict(option)
        raise OfferNotStanding(f"option {option_id} is not part of offer {offer_id}")
