"""Compensation's application: apology and remedies once a complaint has a handler."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import ProcessingEvent

from services.compensation import policies
from services.compensation.domain import CompensationCase, OfferNotStanding
from services.compensation.policy_store import RemedyPolicyBook
from services.compensation.published import PUBLICATIONS
from shared.contracts import ContractEvent
from shared.store import EventMeta
from shared.tuning import CachedCases


class CompensationApplication(RemedyPolicyBook, CachedCases):
    service = "compensation"
    name = "compensation"
    publications = PUBLICATIONS

    def register_handlers(self) -> None:
        self.register_remedy_policies()  # POLICY: remedy-policy.load (recorded command)
        for event_type in ("ComplaintReceived", "HandlerAssigned", "ComplaintWithdrawn"):
            self.on(event_type, self.on_case_input)
        self.on("ConsumerActed", self.on_consumer_acted)

    def _case(self, upstream: ContractEvent) -> CompensationCase:
        case: CompensationCase | None = self.get_or_none(upstream.complaint_id)
        if case is None:
            case = CompensationCase(id=upstream.complaint_id, meta=EventMeta.caused_by(upstream))
        case.record_input(
            meta=EventMeta.caused_by(upstream), contract=upstream.model_dump(mode="json")
        )
        return case

    def on_case_input(self, upstream: ContractEvent, processing: ProcessingEvent[UUID]) -> None:
        case = self._case(upstream)
        if case.ready_to_offer and case.received and case.assignment:
            meta = EventMeta.caused_by(upstream)
            if case.received.get("nuisance"):
                processing.collect_events(case)
                return
            handler = case.assignment["handler_id"]
            case.apologise(
                meta=meta, handler_id=handler, message=policies.apology_message(case.received)
            )
            offer_id, options = policies.remedy_options(
                str(case.id),
                case.offers_made + 1,
                case.received,
                case.assignment["authority_fen"],
            )
            if not options:
                # Nothing within the handler's authority: no empty offer is made; the
                # approval flow (主管批示) takes it from here.
                processing.collect_events(case)
                return
            case.offer_remedies(
                meta=meta, offer_id=offer_id, options=[o.as_dict() for o in options]
            )
        processing.collect_events(case)

    def on_consumer_acted(self, acted: ContractEvent, processing: ProcessingEvent[UUID]) -> None:
        case = self._case(acted)
        meta = EventMeta.caused_by(acted)
        payload = acted.payload
        offer_id = payload["offer_id"]
        try:
            option = case.option(offer_id, payload.get("option_id"))
        except OfferNotStanding as refused:
            if payload["action"] == "accept" or case.offer_status != "open":
                case.refuse_action(meta=meta, offer_id=offer_id, reason=str(refused))
                processing.collect_events(case)
                return
            option = {}
        if payload["action"] == "accept":
            case.accept(
                meta=meta,
                offer_id=offer_id,
                option_id=option["option_id"],
                kind=option["kind"],
                amount_fen=option["amount_fen"],
            )
        elif payload["action"] == "reject":
            case.reject(meta=meta, offer_id=offer_id, reason=payload.get("reason") or "")
        else:
            case.receive_counter(
                meta=meta,
                offer_id=offer_id,
                kind=payload.get("counter_kind") or "other",
                amount_fen=payload.get("counter_amount_fen"),
            )
        processing.collect_events(case)

    def case(self, complaint_id: UUID) -> CompensationCase | None:
        case: CompensationCase | None = self.get_or_none(complaint_id)
        return case
