"""Followup's application: schedules revisits once the consumer accepted a remedy."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import ProcessingEvent

from services.followup import policies
from services.followup.domain import FollowupCase
from shared.contracts import ContractEvent
from shared.store import EventMeta, ServiceApplication


class FollowupApplication(ServiceApplication):
    service = "followup"
    name = "followup"

    def register_handlers(self) -> None:
        self.on("OfferAccepted", self.on_offer_accepted)

    def on_offer_accepted(self, accepted: ContractEvent, processing: ProcessingEvent[UUID]) -> None:
        meta = EventMeta.caused_by(accepted)
        case: FollowupCase | None = self.get_or_none(accepted.complaint_id)
        if case is None:
            case = FollowupCase(id=accepted.complaint_id, meta=meta)
        case.record_input(meta=meta, contract=accepted.model_dump(mode="json"))
        plan = policies.plan_revisit(str(accepted.event_id), accepted.occurred_at)
        case.schedule_revisit(
            meta=meta,
            revisit_id=plan.revisit_id,
            due_date=plan.due_date.isoformat(),
            channel=plan.channel,
            calendar_covered=plan.calendar_covered,
        )
        processing.collect_events(case)

    def case(self, complaint_id: UUID) -> FollowupCase | None:
        case: FollowupCase | None = self.get_or_none(complaint_id)
        return case
