"""Admission (受理): a complaint arrives and becomes a case, a duplicate, nuisance or refused.

Then the consumer's own steps on it: confirming the record, answering the offer,
withdrawing. Cases join merchant groups (groups.py); PII goes to the vault.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from services.intake.base import Arrival, instant
from services.intake.commands import (
    ActOnOffer,
    ConfirmDetails,
    ReceiveComplaint,
    WithdrawComplaint,
)
from services.intake.domain import Complaint, ConsumerFile
from services.intake.errors import SourceBlocked
from services.intake.groups import Groups
from services.intake.policies import (
    MatchKeys,
    NuisancePolicy,
    PriorCase,
    find_duplicate,
    nuisance_reason,
)
from services.intake.views import complaint_view
from shared.idempotency import IdempotentRequest, record_response, recorded_response
from shared.store import EventMeta, derive_id

NUISANCE = NuisancePolicy()
Outcome = tuple[int, dict[str, Any]]


class Admission(Groups):
    """Receiving complaints, and the consumer's actions on them."""

    def receive_complaint(self, command: ReceiveComplaint) -> Outcome:
        """Step 1: record the complaint (idempotently); returns (HTTP status, body).

        A repeat about an open complaint is linked to it (200 with `duplicate_of`), a
        blocked source is refused (SourceBlocked, the refusal recorded), a nuisance
        source's complaint goes to its own queue, and complaints against one merchant
        form groups.
        """
        key = command.idempotency_key
        complaint_id = derive_id("complaint", command.brand_id, key) if key else uuid4()
        idempotency = IdempotentRequest(command.brand_id, key, command.body_hash) if key else None

        def run() -> Outcome:
            replay = recorded_response(self, idempotency)
            if replay is not None:
                return replay
            status, body, aggregates = self._admit(command, complaint_id)
            self.save(*aggregates, *record_response(idempotency, (status, body)))
            return status, body

        return self.run_command(run)

    def _admit(
        self, command: ReceiveComplaint, contact_id: UUID
    ) -> tuple[int, dict[str, Any], list[Aggregate]]:
        """Decide what a brand's contact becomes: refused, a duplicate, or a (nuisance) case."""
        brand_id, facts, at = command.brand_id, command.facts, command.received_at
        file = self._consumer_file(brand_id, self.vault.subject_id(brand_id, facts.consumer.phone))
        if file.blocked:
            self._refuse(file, contact_id, command.channel, command)
        subject = self._subject_for(brand_id, facts.consumer)
        arrival = Arrival(
            brand_id, command.trace_id, contact_id, str(subject.id), command.channel, facts, at
        )
        priors = self._prior_cases(file, arrival)
        duplicate = find_duplicate(arrival.keys, priors, at, self.duplicate_policy)
        if duplicate is not None:
            existing: Complaint = self.repository.get(UUID(duplicate.complaint_id))
            existing.link_duplicate(
                meta=EventMeta(brand_id, existing.trace_id, None),
                contact_id=str(contact_id),
                matched_fields=duplicate.matched_fields,
                channel=command.channel,
            )
            file.record_contact(**arrival.contact(duplicate.complaint_id, "duplicate"))
            body = {**complaint_view(existing), "duplicate_of": duplicate.complaint_id}
            return 200, body, [subject, file, existing]
        earlier = [instant(c["received_at"]) for c in file.contacts]
        nuisance = nuisance_reason(earlier, at, file.flagged, NUISANCE)
        complaint, aggregates = self._open_case(arrival, file, nuisance, None)
        return 201, complaint_view(complaint), [subject, complaint, *aggregates]

    def _refuse(
        self, file: ConsumerFile, contact_id: UUID, channel: str, command: ReceiveComplaint
    ) -> None:
        at = command.received_at.isoformat()
        file.refuse(contact_id=str(contact_id), channel=channel, received_at=at)
        self.save(file)
        raise SourceBlocked(
            "source blocked: operations blocked this contact source; the contact was recorded "
            "and refused",
            subject_ref=file.subject_ref,
        )

    def _open_case(
        self,
        arrival: Arrival,
        file: ConsumerFile,
        nuisance: str | None,
        transfer: dict[str, Any] | None,
    ) -> tuple[Complaint, list[Aggregate]]:
        """A new complaint with its inputs recorded: transfer, nuisance flag, group links."""
        join = None if nuisance else self._join_group(arrival)
        facts = arrival.facts
        complaint = Complaint(
            id=arrival.complaint_id,
            meta=arrival.meta,
            channel=arrival.channel,
            subject_ref=arrival.subject_ref,
            product=arrival.product,
            order=arrival.order,
            description=facts.description,
            demands=facts.demands,
            attachments=facts.attachments,
            media_exposure=facts.media_exposure,
            injury=facts.injury,
            regulator=_regulator_ref(transfer) if transfer else None,
            group_id=join.group_id if join else None,
            nuisance=nuisance is not None,
        )
        outcome = "nuisance" if nuisance else "case"
        file.record_contact(**arrival.contact(str(arrival.complaint_id), outcome))
        if transfer:
            complaint.record_transfer(meta=arrival.meta, **transfer)
        if nuisance:
            complaint.flag_nuisance(
                meta=arrival.meta, source_ref=arrival.subject_ref, reason=nuisance
            )
        linked = self._link_members(complaint, join) if join and join.group else []
        return complaint, [file, *(join.aggregates if join else []), *linked]

    def _prior_cases(self, file: ConsumerFile, arrival: Arrival) -> list[PriorCase]:
        """The consumer's complaints within the duplicate window, with whether each is open."""
        since = arrival.received_at - self.duplicate_policy.window
        priors = []
        for case in file.cases():
            received = instant(case["received_at"])
            if received < since:
                continue
            complaint = self.get_or_none(UUID(case["complaint_id"]))
            is_open = isinstance(complaint, Complaint) and complaint.is_open
            priors.append(
                PriorCase(case["complaint_id"], MatchKeys(**case["keys"]), received, is_open)
            )
        return priors

    # --- the consumer's steps -------------------------------------------------------

    def confirm(self, command: ConfirmDetails) -> Complaint:
        """Step 1: the record was read back to the consumer and confirmed (受理确认)."""

        def run() -> Complaint:
            complaint = self.complaint(command.brand_id, command.complaint_id)
            meta = EventMeta(command.brand_id, complaint.trace_id, None)
            complaint.confirm(meta, command.confirmed_via, dict(command.corrections))
            self.save(complaint)
            return complaint

        return self.run_command(run)

    def act(self, command: ActOnOffer) -> Complaint:
        """Step 8: the consumer's answer to the offer that stands."""

        def run() -> Complaint:
            complaint = self.complaint(command.brand_id, command.complaint_id)
            complaint.act(
                meta=EventMeta(command.brand_id, complaint.trace_id, None),
                action=command.action,
                offer_id=command.offer_id,
                option_id=command.option_id,
                reason=command.reason,
                counter_kind=command.counter_kind,
                counter_amount_fen=command.counter_amount_fen,
            )
            self.save(complaint)
            return complaint

        return self.run_command(run)

    def withdraw(self, command: WithdrawComplaint) -> Complaint:
        """The consumer withdraws the complaint; refused once withdrawn or closed."""

        def run() -> Complaint:
            complaint = self.complaint(command.brand_id, command.complaint_id)
            meta = EventMeta(command.brand_id, complaint.trace_id, None)
            complaint.withdraw(meta, command.reason)
            self.save(complaint)
            return complaint

        return self.run_command(run)


def _regulator_ref(transfer: dict[str, Any]) -> dict[str, Any]:
    """The ComplaintReceived `regulator` field: who transferred it, under which number, by when."""
    keys = ("regulator_id", "transfer_number", "deadline_working_days", "deadline_at")
    return {k: transfer[k] for k in keys}
