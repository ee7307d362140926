"""Compensation's application: apology, offer rounds, approvals, findings and fulfilment.

Every decision comes from a recorded input (an upstream event or a recorded ops command)
and its date is the Asia/Shanghai date of that input, so a replay decides the same.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import ProcessingEvent

from services.compensation import apology, offers, rounds
from services.compensation.approvals import APPROVALS, approval_rows
from services.compensation.domain import REOPENABLE, CompensationCase, OfferNotStanding
from services.compensation.policy import RemedyPolicy
from services.compensation.policy_store import RemedyPolicyBook
from services.compensation.published import PUBLICATIONS
from services.compensation.repairs import ProductRepairs, in_warranty, product_key
from shared.calendar import business_date
from shared.contracts import ContractEvent
from shared.errors import Conflict, NotFound
from shared.inputs import ReceivedCommand, input_time
from shared.readmodels import RowWrite, Table
from shared.store import EventMeta, derive_id
from shared.tuning import CachedCases


class CaseNotFound(NotFound):
    """No compensation case for that complaint (or it belongs to another brand)."""


class ApprovalNotFound(NotFound):
    """No such approval on that complaint."""


class CommandRefused(Conflict):
    """The command does not fit the case as it stands (409, with why)."""


class CompensationApplication(RemedyPolicyBook, CachedCases):
    service = "compensation"
    name = "compensation"
    publications = PUBLICATIONS
    read_model_tables: ClassVar[tuple[Table, ...]] = (APPROVALS,)

    def register_handlers(self) -> None:
        self.register_remedy_policies()  # remedy-policy.load (recorded command)
        for event_type in ("ComplaintReceived", "HandlerAssigned", "ComplaintWithdrawn"):
            self.on(event_type, self.on_case_input)
        for event_type in ("HandlerReassigned", "Escalated"):
            self.on(event_type, self.on_owner_changed)
        self.on("ConsumerActed", self.on_consumer_acted)
        self.command("approval.decide", self._on_decide)
        self.command("liability.determine", self._on_liability)
        self.command("remedy.fulfil", self._on_fulfil)

    def read_model_writes(self, processing_event: ProcessingEvent[Any]) -> list[RowWrite]:
        writes = list(super().read_model_writes(processing_event))
        for aggregate in processing_event.aggregates.values():
            if isinstance(aggregate, CompensationCase) and aggregate.approvals:
                writes.extend(approval_rows(aggregate))
        return writes

    # --- upstream events ----------------------------------------------------------------

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
            policy = self.remedy_policy(case.brand_id)  # read once: apology and offer agree
            message, template = apology.render(policy, case.received, handler)
            case.apologise(
                meta=meta,
                handler_id=handler,
                message=message,
                channel=case.received.get("channel"),
                template_version=template,
            )
            self.next_round(
                case, meta, business_date(upstream.occurred_at), processing, policy=policy
            )
        processing.collect_events(case)

    def on_owner_changed(self, changed: ContractEvent, processing: ProcessingEvent[UUID]) -> None:
        """Another owner (reassigned, escalated): their authority applies from now on."""
        processing.collect_events(self._case(changed))

    def on_consumer_acted(self, acted: ContractEvent, processing: ProcessingEvent[UUID]) -> None:
        case = self._case(acted)
        meta = EventMeta.caused_by(acted)
        payload = acted.payload
        offer_id = payload["offer_id"]
        today = business_date(acted.occurred_at)
        action = payload["action"]
        try:
            offer = case.standing(offer_id)
            option = case.option(offer_id, payload.get("option_id")) if action == "accept" else {}
        except OfferNotStanding as refused:
            case.refuse_action(meta=meta, offer_id=offer_id, reason=str(refused))
            processing.collect_events(case)
            return
        if action == "accept" and rounds.expired(offer.get("expires_on"), today):
            reason = f"offer {offer_id} expired on {offer['expires_on']}"
            case.refuse_action(meta=meta, offer_id=offer_id, reason=reason)
        elif action == "accept":
            case.accept(
                meta=meta,
                offer_id=offer_id,
                option_id=option["option_id"],
                kind=option["kind"],
                amount_fen=option["amount_fen"],
            )
        elif action == "reject":
            case.reject(meta=meta, offer_id=offer_id, reason=payload.get("reason") or "")
        else:
            case.receive_counter(
                meta=meta,
                offer_id=offer_id,
                kind=payload.get("counter_kind") or "other",
                amount_fen=payload.get("counter_amount_fen"),
            )
            counter = offers.Counter(
                payload.get("counter_kind") or "other", payload.get("counter_amount_fen")
            )
            self.next_round(case, meta, today, processing, counter)
        processing.collect_events(case)

    # --- rounds -------------------------------------------------------------------------

    def next_round(
        self,
        case: CompensationCase,
        meta: EventMeta,
        day: date,
        processing: ProcessingEvent[UUID],
        counter: offers.Counter | None = None,
        policy: RemedyPolicy | None = None,
    ) -> None:
        """Plan the next round; offer it, or ask a supervisor when any option needs one."""
        assert case.received is not None
        situation = offers.Situation(
            received=case.received,
            decision_date=day,
            findings=frozenset(f["finding"] for f in case.findings),
            repairs=self.repair_history(case),
            counter=counter,
        )
        policy = policy or self.remedy_policy(case.brand_id)
        proposals = offers.propose(policy, situation)
        plan = rounds.plan_round(
            str(case.id),
            case.offers_made + 1,
            proposals,
            case.authority_fen,
            day,
            replaces_offer_id=case.offer["offer_id"] if case.offer else None,
            counter=counter,
        )
        if not plan.above:
            case.offer_remedies(meta=meta, **rounds.offer_kwargs(plan.as_dict(), day))
            return
        case.request_approval(
            meta=meta,
            approval_id=str(derive_id(plan.offer_id, "approval", len(case.approvals))),
            offer_round=plan.offer_round,
            handler_id=case.handler_id or "",
            authority_fen=case.authority_fen,
            options=plan.above,
            reason=plan.reason,
            plan=plan.as_dict(),
            requested_at=input_time().isoformat(),
        )

    def repair_history(self, case: CompensationCase) -> offers.RepairHistory:
        key = product_key(case.brand_id, case.received or {})
        history = self.get_or_none(key) if key is not None else None
        return history.history() if isinstance(history, ProductRepairs) else offers.RepairHistory()

    # --- ops commands (recorded: a replay runs them again) --------------------------------

    def run(self, name: str, complaint_id: UUID, args: dict[str, Any], at: Any) -> Any:
        """Record and run an ops command on one complaint."""
        return self.execute(name, {**args, "complaint_id": str(complaint_id)}, at)

    def _command_case(self, cmd: ReceivedCommand) -> tuple[CompensationCase, EventMeta]:
        case = self.case(UUID(cmd.args["complaint_id"]))
        if case is None:
            raise CaseNotFound(f"no compensation case for complaint {cmd.args['complaint_id']}")
        trace_id = str((case.received or {}).get("trace_id") or "0" * 32)
        return case, EventMeta(brand_id=case.brand_id, trace_id=trace_id, causation_id=None)

    def _on_decide(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> str:
        """A supervisor grants or denies an approval; the offer follows. Idempotent."""
        case, meta = self._command_case(cmd)
        args = cmd.args
        approval = case.approvals.get(args["approval_id"])
        if approval is None:
            raise ApprovalNotFound(f"no approval {args['approval_id']} on this complaint")
        done = {"grant": "granted", "deny": "denied"}[args["decision"]]
        if approval["status"] == done:
            return "unchanged"  # the same decision again: nothing new
        if approval["status"] != "pending":
            raise CommandRefused(f"approval {args['approval_id']} is {approval['status']}")
        if case.withdrawn:
            raise CommandRefused("the complaint was withdrawn")
        statutory = [o for o in approval["options"] if o.get("statutory")]
        if done == "denied" and statutory:
            kinds = ", ".join(o["kind"] for o in statutory)
            raise CommandRefused(
                f"statutory entitlements ({kinds}) are owed by law and cannot be denied: "
                "grant the approval, or record a finding (liability) that changes the facts"
            )
        if done == "granted":
            case.grant_approval(
                meta=meta,
                approval_id=approval["approval_id"],
                approved_by=args["by"],
                reason=args["reason"],
                options=approval["options"],
            )
        else:
            case.deny_approval(
                meta=meta, approval_id=approval["approval_id"], denied_by=args["by"],
                reason=args["reason"],
            )
        day = business_date(cmd.at)
        kwargs = rounds.offer_kwargs(approval["plan"], day, denied=done == "denied")
        case.offer_remedies(meta=meta, **kwargs)
        processing.collect_events(case)
        return done

    def _on_liability(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> str:
        """An operator's finding; an offer that stands is followed by a round that uses it."""
        case, meta = self._command_case(cmd)
        finding = cmd.args["finding"]
        if finding not in offers.FINDINGS:
            raise CommandRefused(f"unknown finding {finding!r}")
        if any(f["finding"] == finding for f in case.findings):
            return "unchanged"
        case.determine_liability(
            meta=meta, finding=finding, evidence=cmd.args["evidence"], determined_by=cmd.args["by"]
        )
        if case.offer_status in REOPENABLE and case.received and not case.withdrawn:
            self.next_round(case, meta, business_date(cmd.at), processing)
        processing.collect_events(case)
        return "recorded"

    def _on_fulfil(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> str:
        """The accepted option was carried out: RemedyFulfilled once, a repair counted."""
        case, meta = self._command_case(cmd)
        option_id = cmd.args["option_id"]
        accepted = case.accepted_option
        if case.fulfilment is not None:
            if case.fulfilment["option_id"] == option_id:
                return "unchanged"
            raise CommandRefused(f"option {case.fulfilment['option_id']} was fulfilled already")
        if accepted is None or accepted["option_id"] != option_id:
            raise CommandRefused(f"option {option_id} is not the option the consumer accepted")
        offer_id = accepted.get("offer_id") or (case.offer or {}).get("offer_id", "")
        fulfilment_id = str(derive_id(offer_id, option_id, "fulfilment"))
        kind, amount = accepted["kind"], accepted["amount_fen"]
        case.fulfil(
            meta=meta,
            fulfilment_id=fulfilment_id,
            offer_id=offer_id,
            option_id=option_id,
            kind=kind,
            amount_fen=amount,
            reference=cmd.args["reference"],
            fulfilled_by=cmd.args["by"],
            notice=rounds.notice(kind, amount, cmd.args["reference"], _includes(case, option_id)),
        )
        processing.collect_events(case)
        key = product_key(case.brand_id, case.received or {})
        if kind == "repair" and key is not None:
            history: ProductRepairs | None = self.get_or_none(key)
            if history is None:
                history = ProductRepairs(id=key, brand_id=case.brand_id)
            day = business_date(cmd.at)
            warranty = in_warranty(self.remedy_policy(case.brand_id), case.received or {}, day)
            history.count(
                fulfilment_id=fulfilment_id,
                complaint_id=str(case.id),
                in_warranty=warranty,
                on=day.isoformat(),
            )
            processing.collect_events(history)
        return "recorded"

    # --- reads --------------------------------------------------------------------------

    def case(self, complaint_id: UUID) -> CompensationCase | None:
        found = self.get_or_none(complaint_id)
        return found if isinstance(found, CompensationCase) else None


def _includes(case: CompensationCase, option_id: str) -> list[dict[str, Any]]:
    """The parts that came with an option of the case's current offer."""
    for option in (case.offer or {}).get("options", []):
        if option["option_id"] == option_id:
            return list(option.get("includes") or [])
    return []
