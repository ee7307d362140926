"""Routing's application: turns ComplaintReceived into a classified, assessed, routed case."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import ProcessingEvent

from services.routing import policies, sla
from services.routing import roster as rosters
from services.routing.domain import RoutingCase
from services.routing.ownership import Ownership
from services.routing.published import PUBLICATIONS
from services.routing.rulebook import RulesBook
from services.routing.sla_app import SLA_TABLES, SlaUseCases
from shared.contracts import ContractEvent
from shared.readmodels import RowWrite, Table
from shared.store import EventMeta


class RoutingApplication(SlaUseCases, Ownership, RulesBook):
    service = "routing"
    name = "routing"
    publications = PUBLICATIONS
    read_model_tables: ClassVar[tuple[Table, ...]] = (*Ownership.read_model_tables, *SLA_TABLES)

    def register_handlers(self) -> None:
        self.on("ComplaintReceived", self.on_complaint_received)
        self.on("GroupComplaintLinked", self.on_group_linked)
        self.register_rules()
        self.register_ownership()  # rosters, repeats, reassign/handover/transfer (ownership.py)
        self.register_sla()  # SLA clocks: services/routing/sla_app.py

    def read_model_writes(self, processing_event: ProcessingEvent[Any]) -> list[RowWrite]:
        return [*super().read_model_writes(processing_event), *self.sla_writes(processing_event)]

    def next_due_at(self, case: RoutingCase) -> datetime | None:
        """The queue's due time: the earliest deadline of the case's running clocks."""
        return sla.earliest_due(case.clocks)

    def escalation_target(self, case: RoutingCase, level: str) -> tuple[str, str]:
        """Who an escalation reaches on the brand's chain: its roster names the supervisor
        of the case's team, and the crisis team at the top (roster.py)."""
        roster = self.roster(case.brand_id)
        steps = 1 if level == "supervisor" else len(roster.escalation_chain)
        start = case.team if case.team in roster.escalation_chain else roster.escalation_chain[0]
        return rosters.escalation_target(roster, start, steps)

    def authority_of(self, case: RoutingCase, handler_id: str) -> int | None:
        return self.roster(case.brand_id).authority_of(handler_id)

    def on_group_linked(self, linked: ContractEvent, processing: ProcessingEvent[UUID]) -> None:
        """A complaint that joins a group after routing is reassessed: groups raise severity."""
        case = self.case(linked.complaint_id)
        if case is None or not case.routed:
            return
        meta = EventMeta.caused_by(linked)
        case.record_input(meta=meta, contract=linked.model_dump(mode="json"))
        self.reassess(case, meta)  # severity rises with the group, and the owner with it
        self.start_slas(case, meta)  # a complex case now: its plan clock starts
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
        self.start_slas(case, meta)
        processing.collect_events(case)

    def case(self, complaint_id: UUID) -> RoutingCase | None:
        case: RoutingCase | None = self.get_or_none(complaint_id)
        return case
