"""Routing's application: turns ComplaintReceived into a classified, assessed, routed case."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import ProcessingEvent

from services.routing import policies
from services.routing.domain import RoutingCase
from services.routing.ownership import Ownership
from services.routing.published import PUBLICATIONS
from services.routing.rulebook import RulesBook
from shared.contracts import ContractEvent
from shared.store import EventMeta


class RoutingApplication(Ownership, RulesBook):
    service = "routing"
    name = "routing"
    publications = PUBLICATIONS

    def register_handlers(self) -> None:
        self.on("ComplaintReceived", self.on_complaint_received)
        self.on("GroupComplaintLinked", self.on_group_linked)
        self.register_rules()
        self.register_ownership()  # rosters, repeats, reassign/handover/transfer (ownership.py)

    def on_group_linked(self, linked: ContractEvent, processing: ProcessingEvent[UUID]) -> None:
        """A complaint that joins a group after routing is reassessed: groups raise severity."""
        case = self.case(linked.complaint_id)
        if case is None or not case.routed:
            return
        meta = EventMeta.caused_by(linked)
        case.record_input(meta=meta, contract=linked.model_dump(mode="json"))
        self.reassess(case, meta)  # severity rises with the group, and the owner with it
        processing.collect_events(case)
        self.spread_group_size(linked, processing)  # past a threshold: every member too

    def on_complaint_received(
        self, received: ContractEvent, processing: ProcessingEvent[UUID]
    ) -> None:
        if self.get_or_none(received.complaint_id) is not None:
            return  # already opened: the same complaint is never routed twice
        meta = EventMeta.caused_by(received)
        payload = received.payload
        case = RoutingCase(
            id=received.complaint_id, meta=meta, received=received.model_dump(mode="json")
        )
        if payload.get("nuisance"):
            processing.collect_events(case)
            return  # nuisance contacts wait in their own queue, unrouted
        classification = policies.classify(payload, self.rules_for(received.brand_id))
        case.classify(meta=meta, **classification.as_event())
        severity = policies.assess(payload, safety_signals=classification.safety_signals)
        case.assess(meta=meta, severity=severity.level, factors=severity.factors)
        self.take_ownership(case, received, meta, severity.level)  # 首问负责制 (ownership.py)
        processing.collect_events(case)

    def case(self, complaint_id: UUID) -> RoutingCase | None:
        case: RoutingCase | None = self.get_or_none(complaint_id)
        return case
