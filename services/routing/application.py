"""Routing's application: turns ComplaintReceived into a classified, assessed, routed case."""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import ProcessingEvent

from services.routing import policies
from services.routing.domain import RoutingCase
from services.routing.published import PUBLICATIONS
from services.routing.sla_app import SLA_TABLES, SlaUseCases
from shared.contracts import ContractEvent
from shared.readmodels import RowWrite, Table
from shared.store import EventMeta
from shared.tuning import CachedCases


class RoutingApplication(SlaUseCases, CachedCases):
    service = "routing"
    name = "routing"
    publications = PUBLICATIONS
    read_model_tables: ClassVar[tuple[Table, ...]] = (*SLA_TABLES,)

    def register_handlers(self) -> None:
        self.on("ComplaintReceived", self.on_complaint_received)
        self.on("GroupComplaintLinked", self.on_group_linked)
        self.register_sla()  # SLA clocks: services/routing/sla_app.py

    def read_model_writes(self, processing_event: ProcessingEvent[Any]) -> list[RowWrite]:
        return self.sla_writes(processing_event)

    def on_group_linked(self, linked: ContractEvent, processing: ProcessingEvent[UUID]) -> None:
        """A complaint that joins a group after routing is reassessed: groups raise severity."""
        case = self.case(linked.complaint_id)
        if case is None or not case.routed:
            return
        meta = EventMeta.caused_by(linked)
        case.record_input(meta=meta, contract=linked.model_dump(mode="json"))
        severity = policies.reassess_for_group(case.severity or "normal", case.factors)
        if severity is not None:
            case.assess(meta=meta, severity=severity.level, factors=severity.factors)
            self.start_slas(case, meta)  # a complex case now: its plan clock starts
        processing.collect_events(case)

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
        classification = policies.classify(payload)
        case.classify(
            meta=meta,
            category=classification.category,
            dimension=classification.dimension,
            well_founded=classification.well_founded,
            reasons=classification.reasons,
        )
        severity = policies.assess(payload)
        case.assess(meta=meta, severity=severity.level, factors=severity.factors)
        team, handler = policies.choose_handler(str(received.complaint_id), severity)
        case.assign(meta=meta, team=team.name, handler_id=handler, authority_fen=team.authority_fen)
        self.start_slas(case, meta)
        processing.collect_events(case)

    def case(self, complaint_id: UUID) -> RoutingCase | None:
        case: RoutingCase | None = self.get_or_none(complaint_id)
        return case
