"""Admission (受理): a complaint arrives and becomes a case, a duplicate, nuisance or refused.

Then the consumer's own steps on it: confirming the record, answering the offer,
withdrawing. Cases join merchant groups (groups.py); PII goes to the vault.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Aggregate

from services.intake.base import Arrival, instant
from services.intake.commands import (
    ActOnOffer,
    ConfirmDetails,
    ReceiveComplaint,
    WithdrawComplaint,
    facts_args,
    facts_from,
)
from services.intake.domain import Complaint, ConsumerFile
from services.intake.errors import SourceBlocked
from services.intake.free_text import ACTION, CORRECTION, DESCRIPTION, WITHDRAWAL, ProtectedText
from services.intake.groups import Groups
from services.intake.policies import (
    MatchKeys,
    NuisancePolicy,
    PriorCase,
    find_duplicate,
    nuisance_reason,
)
from services.intake.vault import SealedConsumer, subject_entry
from services.intake.views import complaint_detail_view, complaint_view
from shared.idempotency import IdempotentRequest, record_response, recorded_response
from shared.inputs import InputAlreadyRecorded, ReceivedCommand
from shared.store import EventMeta, derive_id

NUISANCE = NuisancePolicy()
Outcome = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class Refused:
    """A blocked source's contact: recorded on its file, then refused (403)."""

    subject_ref: str


class Admission(Groups):
    """Receiving complaints, and the consumer's actions on them.

    Each use case is a recorded command: the public method is the edge (it seals PII,
    checks what only reads, and calls `execute`); the `_on_*` handler decides from the
    recorded arguments and time alone, live and in replay alike.
    """

    def register_admission(self) -> None:
        self.command("complaint.receive", self._on_receive)
        self.command("complaint.confirm", self._on_confirm)
        self.command("complaint.act", self._on_act)
        self.command("complaint.withdraw", self._on_withdraw)

    def receive_complaint(self, command: ReceiveComplaint) -> Outcome:
        """Step 1: record the complaint (idempotently); returns (HTTP status, body).

        A repeat about an open complaint is linked to it (200 with `duplicate_of`), a
        blocked source is refused (SourceBlocked, the refusal recorded), a nuisance
        source's complaint goes to its own queue, and complaints against one merchant
        form groups. The complaint id was given at the edge (derived from the
        Idempotency-Key, or drawn): the same key again is the same recorded input.
        """
        key = command.idempotency_key
        idempotency = IdempotentRequest(command.brand_id, key, command.body_hash) if key else None
        replay = recorded_response(self, idempotency)
        if replay is not None:
            return replay
        facts = command.facts
        assert facts.consumer is not None, "a complaint arrives with its consumer"
        sealed, text = self.vault.seal_with_text(
            command.brand_id,
            facts.consumer,
            str(command.complaint_id),
            {DESCRIPTION: facts.description},
        )
        args = {
            "brand_id": command.brand_id,
            "trace_id": command.trace_id,
            "channel": command.channel,
            "complaint_id": str(command.complaint_id),
            "facts": facts_args(replace(facts, description=text.redacted[DESCRIPTION])),
            "consumer": sealed.as_args(),
            "idempotency": {"key": key, "body_hash": command.body_hash} if key else None,
            "sealed_text": text.sealed_or_none(),
        }
        try:
            result = self.execute(
                "complaint.receive", args, command.received_at, str(command.complaint_id)
            )
        except InputAlreadyRecorded:
            replay = recorded_response(self, idempotency)  # a concurrent retry won
            if replay is not None:
                return replay
            file = self.get_or_none(derive_id("consumer-file", sealed.subject_id))
            if isinstance(file, ConsumerFile) and file.blocked:  # a retry of a refusal
                result = Refused(file.subject_ref)
            else:
                raise
        if isinstance(result, Refused):
            raise SourceBlocked(
                "source blocked: operations blocked this contact source; the contact was "
                "recorded and refused",
                subject_ref=result.subject_ref,
            )
        outcome: Outcome = result
        return outcome

    def _on_receive(
        self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]
    ) -> Outcome | Refused:
        args = cmd.args
        brand_id, channel = args["brand_id"], args["channel"]
        contact_id = UUID(args["complaint_id"])
        sealed = SealedConsumer.from_args(args["consumer"])
        keyed = args["idempotency"]
        idempotency = (
            IdempotentRequest(brand_id, keyed["key"], keyed["body_hash"]) if keyed else None
        )
        file = self._consumer_file(brand_id, UUID(sealed.subject_id))
        if file.blocked:
            file.refuse(contact_id=str(contact_id), channel=channel, received_at=cmd.at.isoformat())
            processing.collect_events(file)
            return Refused(file.subject_ref)
        subject = subject_entry(brand_id, sealed, self.get_or_none(UUID(sealed.subject_id)))
        facts = facts_from(args["facts"])
        arrival = Arrival(
            brand_id,
            args["trace_id"],
            contact_id,
            sealed.subject_id,
            channel,
            facts,
            cmd.at,
            args.get("sealed_text"),
        )
        status, body, aggregates = self._admit(arrival, file)
        processing.collect_events(
            subject, *aggregates, *record_response(idempotency, (status, body))
        )
        return status, body

    def _admit(
        self, arrival: Arrival, file: ConsumerFile
    ) -> tuple[int, dict[str, Any], list[Aggregate]]:
        """Decide what a brand's contact becomes: a duplicate, or a (nuisance) case."""
        at = arrival.received_at
        priors = self._prior_cases(file, arrival)
        duplicate = find_duplicate(arrival.keys, priors, at, self.duplicate_policy)
        if duplicate is not None:
            existing: Complaint = self.repository.get(UUID(duplicate.complaint_id))
            existing.link_duplicate(
                meta=EventMeta(arrival.brand_id, existing.trace_id, None),
                contact_id=str(arrival.complaint_id),
                matched_fields=duplicate.matched_fields,
                channel=arrival.channel,
            )
            file.record_contact(**arrival.contact(duplicate.complaint_id, "duplicate"))
            body = {**complaint_view(existing), "duplicate_of": duplicate.complaint_id}
            return 200, body, [file, existing]
        earlier = [instant(c["received_at"]) for c in file.contacts]
        nuisance = nuisance_reason(earlier, at, file.flagged, NUISANCE)
        complaint, aggregates = self._open_case(arrival, file, nuisance, None)
        return 201, complaint_view(complaint), [complaint, *aggregates]

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
            received_by=facts.received_by,
            media_reach=facts.media_reach,
            loss_fen=facts.loss_fen,
            fault_date=facts.fault_date,
            regulator=_regulator_ref(transfer) if transfer else None,
            group_id=join.group_id if join else None,
            nuisance=nuisance is not None,
            sealed_text=arrival.sealed_text,
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

    def complaint_for_brand(self, brand_id: str, complaint_id: UUID) -> dict[str, Any]:
        """The brand's own complaint with its free text as typed, while the key opens it."""
        complaint = self.complaint(brand_id, complaint_id)
        originals = self.vault.open_text(
            complaint.subject_ref, str(complaint.id), complaint.sealed_text
        )
        return complaint_detail_view(complaint, originals)

    # --- the consumer's steps -------------------------------------------------------

    def confirm(self, command: ConfirmDetails) -> Complaint:
        """Step 1: the record was read back to the consumer and confirmed (受理确认)."""
        places = {CORRECTION + name: value for name, value in command.corrections.items()}
        text = self._protect_text(command.brand_id, command.complaint_id, places)
        args = {
            "brand_id": command.brand_id,
            "complaint_id": str(command.complaint_id),
            "confirmed_via": command.confirmed_via,
            "corrections": {name: text.redacted[CORRECTION + name] for name in command.corrections},
            "sealed_text": text.sealed_or_none(),
        }
        complaint: Complaint = self.execute("complaint.confirm", args, command.at)
        return complaint

    def _on_confirm(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> Complaint:
        args = cmd.args
        complaint = self.complaint(args["brand_id"], UUID(args["complaint_id"]))
        meta = EventMeta(args["brand_id"], complaint.trace_id, None)
        complaint.confirm(
            meta, args["confirmed_via"], dict(args["corrections"]), args.get("sealed_text")
        )
        processing.collect_events(complaint)
        return complaint

    def act(self, command: ActOnOffer) -> Complaint:
        """Step 8: the consumer's answer to the offer that stands."""
        typed = {"reason": command.reason, "counter_kind": command.counter_kind}
        places = {ACTION + name: value for name, value in typed.items() if value is not None}
        text = self._protect_text(command.brand_id, command.complaint_id, places)
        redacted = {name: text.redacted.get(ACTION + name) for name in typed}
        args = {
            "brand_id": command.brand_id,
            "complaint_id": str(command.complaint_id),
            "action": command.action,
            "offer_id": command.offer_id,
            "option_id": command.option_id,
            "reason": redacted["reason"],
            "counter_kind": redacted["counter_kind"],
            "counter_amount_fen": command.counter_amount_fen,
            "sealed_text": text.sealed_or_none(),
        }
        complaint: Complaint = self.execute("complaint.act", args, command.at)
        return complaint

    def _on_act(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> Complaint:
        args = cmd.args
        complaint = self.complaint(args["brand_id"], UUID(args["complaint_id"]))
        complaint.act(
            meta=EventMeta(args["brand_id"], complaint.trace_id, None),
            action=args["action"],
            offer_id=args["offer_id"],
            option_id=args["option_id"],
            reason=args["reason"],
            counter_kind=args["counter_kind"],
            counter_amount_fen=args["counter_amount_fen"],
            sealed_text=args.get("sealed_text"),
        )
        processing.collect_events(complaint)
        return complaint

    def withdraw(self, command: WithdrawComplaint) -> Complaint:
        """The consumer withdraws the complaint; refused once withdrawn or closed."""
        text = self._protect_text(
            command.brand_id, command.complaint_id, {WITHDRAWAL: command.reason}
        )
        args = {
            "brand_id": command.brand_id,
            "complaint_id": str(command.complaint_id),
            "reason": text.redacted[WITHDRAWAL],
            "sealed_text": text.sealed_or_none(),
        }
        complaint: Complaint = self.execute("complaint.withdraw", args, command.at)
        return complaint

    def _on_withdraw(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> Complaint:
        args = cmd.args
        complaint = self.complaint(args["brand_id"], UUID(args["complaint_id"]))
        meta = EventMeta(args["brand_id"], complaint.trace_id, None)
        complaint.withdraw(meta, args["reason"], args.get("sealed_text"))
        processing.collect_events(complaint)
        return complaint

    def _protect_text(
        self, brand_id: str, complaint_id: UUID, texts: Mapping[str, str]
    ) -> ProtectedText:
        """A consumer step's free text redacted, originals sealed (at the edge: a read)."""
        if not texts:
            return ProtectedText({})
        complaint = self.complaint(brand_id, complaint_id)
        subject = self.get_or_none(UUID(complaint.subject_ref))
        return self.vault.protect_text(subject, complaint.subject_ref, str(complaint_id), texts)


def _regulator_ref(transfer: dict[str, Any]) -> dict[str, Any]:
    """The ComplaintReceived `regulator` field: who transferred it, under which number, by when."""
    keys = ("regulator_id", "transfer_number", "deadline_working_days", "deadline_at")
    dated = ("transferred_on", "deadline_provisional")  # contract 1.1
    return {k: transfer[k] for k in (*keys, *dated)}
