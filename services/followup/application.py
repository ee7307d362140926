"""Followup's application: schedules revisits once the consumer accepted a remedy."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import ProcessingEvent

from services.followup import policies
from services.followup.domain import FollowupCase
from services.followup.published import PUBLICATIONS
from shared.contracts import ContractEvent
from shared.store import EventMeta
from shared.tuning import CachedCases


class FollowupApplication(CachedCases):
    service = "followup"
    name = "followup"
    publications = PUBLICATIONS

    def register_handlers(self) -> None:
        self.on("ComplaintReceived", self.on_complaint_received)
        self.on("OfferAccepted", self.on_offer_accepted)

    def _case(self, upstream: ContractEvent) -> FollowupCase:
        meta = EventMeta.caused_by(upstream)
        case: FollowupCase | None = self.get_or_none(upstream.complaint_id)
        if case is None:
            case = FollowupCase(id=upstream.complaint_id, meta=meta)
        case.record_input(meta=meta, contract=upstream.model_dump(mode="json"))
        return case

    def on_complaint_received(
        self, received: ContractEvent, processing: ProcessingEvent[UUID]
    ) -> None:
        case = self._case(received)
        if case.acknowledge_by is None and not received.payload.get("nuisance"):
            acknowledge_by, plan_by = policies.promise_clocks(received.occurred_at)
            case.open_followup(
                meta=EventMeta.caused_by(received),
                acknowledge_by=acknowledge_by.isoformat(),
                plan_by=plan_by.isoformat(),
            )
        processing.collect_events(case)

    def on_offer_accepted(self, accepted: ContractEvent, processing: ProcessingEvent[UUID]) -> None:
        meta = EventMeta.caused_by(accepted)
        case = self._case(accepted)
        plan = policies.plan_revisit(str(accepted.event_id), accepted.occurred_at, self.calendar)
        case.schedule_revisit(
            meta=meta,
            revisit_id=plan.revisit_id,
            due_date=plan.due_date.isoformat(),
            channel=plan.channel,
            calendar_covered=plan.calendar_covered,
            offer_id=accepted.payload["offer_id"],
            calendar_version=plan.calendar_version,
        )
        processing.collect_events(case)

    def case(self, complaint_id: UUID) -> FollowupCase | None:
        case: FollowupCase | None = self.get_or_none(complaint_id)
        return case
