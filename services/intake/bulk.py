"""Regulator batch import: many signed transfers at once, one recorded input per chunk.

Each transfer becomes exactly the complaint `POST /v1/regulator/transfers` makes (the
same id, events, vault entry, consumer file and merchant group), but a chunk is sealed
at the edge in bulk, recorded as ONE command (`regulator.import`, PII sealed) and saved
in one transaction. The stores are asked once per chunk which aggregates exist: the
per-transfer rules then run on a working set of the chunk's aggregates, so a consumer or
merchant that appears twice in a chunk is loaded once and sees the earlier transfer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Aggregate
from pydantic import ValidationError

from services.intake.bulk_reads import load_many, stored_ids
from services.intake.commands import ReceiveTransfer, facts_args
from services.intake.domain import Complaint, Regulator
from services.intake.errors import TransferToUnknownBrand
from services.intake.free_text import DESCRIPTION
from services.intake.groups import GroupJoin
from services.intake.policies import group_key
from services.intake.regulators import Regulators
from services.intake.schemas import RegulatorTransfer, to_receive_transfer
from shared.errors import PayloadTooLarge, Unprocessable
from shared.inputs import ReceivedCommand
from shared.store import derive_id

MAX_TRANSFERS = 5000
BATCH_PATH = "/v1/regulator/transfers/batch"
PG_TRANSFERS_PER_COMMAND = 100  # about 0.7 MB per transaction: see `_transfers_per_command`
MAX_BATCH_BODY_BYTES = 32 * 1024 * 1024  # 5000 transfers with long descriptions
ItemResult = dict[str, Any]


@dataclass(frozen=True)
class ImportTransfers:
    """A regulator's batch of transfers (转办), validated; one receive time and trace."""

    regulator_id: str
    transfers: Sequence[ReceiveTransfer]
    trace_id: str
    received_at: datetime


@dataclass(frozen=True)
class RefusedItem:
    """An item of a batch that is not a valid transfer: refused on its own (422)."""

    transfer_number: str | None
    detail: str
    errors: list[dict[str, Any]]


@dataclass
class WorkingSet:
    """The aggregates one chunk read or made, and the ids the store does not hold."""

    known: dict[UUID, Any] = field(default_factory=dict)
    absent: set[UUID] = field(default_factory=set)


_working: ContextVar[WorkingSet | None] = ContextVar("aftersales_bulk_working", default=None)


# --- parsing a batch body (the API's side) ------------------------------------------------


def parse_batch(raw: bytes) -> list[RegulatorTransfer | RefusedItem]:
    """The batch's items in order, each a valid transfer or the reason it is refused.

    A body that is not `{"transfers": [...]}` with 1..5000 items is refused whole.
    """
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise Unprocessable(f"the body is not JSON: {error}") from None
    items = body.get("transfers") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise Unprocessable(
            "the body must be {\"transfers\": [...]} with 1 to 5000 transfers",
            errors=[{"loc": ["body", "transfers"], "msg": "1 to 5000 items", "type": "list"}],
        )
    if len(items) > MAX_TRANSFERS:
        raise PayloadTooLarge(
            f"{len(items)} transfers in one batch: at most {MAX_TRANSFERS}, split the file"
        )
    return [_parse_item(position, item) for position, item in enumerate(items)]


def _parse_item(position: int, item: Any) -> RegulatorTransfer | RefusedItem:
    try:
        return RegulatorTransfer.model_validate(item)
    except ValidationError as error:
        number = item.get("transfer_number") if isinstance(item, dict) else None
        errors = [  # no `input`: it may hold the consumer's details
            {"loc": ["body", "transfers", position, *e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in error.errors(include_url=False)
        ]
        first = errors[0]
        where = ".".join(str(part) for part in first["loc"][3:]) or "transfer"
        return RefusedItem(
            number if isinstance(number, str) else None, f"{where}: {first['msg']}", errors
        )


def to_import_transfers(
    valid: Sequence[RegulatorTransfer], regulator_id: str, trace_id: str, received_at: datetime
) -> ImportTransfers:
    transfers = [to_receive_transfer(t, regulator_id, trace_id, received_at) for t in valid]
    return ImportTransfers(regulator_id, transfers, trace_id, received_at)


def refused_result(item: RefusedItem) -> ItemResult:
    return {
        "transfer_number": item.transfer_number,
        "status": 422,
        "complaint_id": None,
        "detail": item.detail,
        "errors": item.errors,
    }


def summary(results: Sequence[ItemResult]) -> dict[str, Any]:
    """The response body: every item's outcome, in order, and the counts."""
    statuses = [r["status"] for r in results]
    return {
        "results": list(results),
        "created": statuses.count(201),
        "existing": statuses.count(200),
        "refused": sum(1 for s in statuses if s >= 400),
    }


# --- the use case -------------------------------------------------------------------------


class BulkImport(Regulators):
    """A regulator's batch of transfers, admitted as the single path admits each one."""

    def register_bulk(self) -> None:
        self.command("regulator.import", self._on_import)

    def import_transfers(self, command: ImportTransfers) -> list[ItemResult]:
        """Admit a chunk of transfers; one result per transfer, in order.

        Numbers already received are answered at once (a read: nothing recorded). The
        rest are sealed here, at the edge, and recorded as one command with their sealed
        consumers (on PostgreSQL, one per 100), so the recorded input holds no plaintext
        PII and a replay re-runs it.
        """
        regulator_id = command.regulator_id
        ids = [
            derive_id("regulator-transfer", regulator_id, t.transfer_number)
            for t in command.transfers
        ]
        stored = stored_ids(self, ids)
        results: list[ItemResult | None] = [
            _result(t.transfer_number, 200, cid) if cid in stored else None
            for t, cid in zip(command.transfers, ids, strict=True)
        ]
        fresh = [t for t, cid in zip(command.transfers, ids, strict=True) if cid not in stored]
        step = self._transfers_per_command(len(fresh))
        outcomes: list[ItemResult] = []
        for start in range(0, len(fresh), step):
            outcomes += self._record_import(command, fresh[start : start + step])
        pending = iter(outcomes)
        results = [r if r is not None else next(pending) for r in results]
        return [r for r in results if r is not None]

    def _transfers_per_command(self, fresh: int) -> int:
        """How many transfers one recorded command (one transaction) takes.

        SQLite: the whole chunk. PostgreSQL: at most `PG_TRANSFERS_PER_COMMAND`, because
        psycopg's pipeline (used by eventsourcing's PostgreSQL recorder) can stop flushing a
        multi-megabyte INSERT before its Sync and then wait for a result the server never
        sends (both sides idle, the server in ClientRead; seen with 2,000 transfers).
        """
        postgres = hasattr(getattr(self.recorder, "datastore", None), "schema")
        return max(1, min(fresh, PG_TRANSFERS_PER_COMMAND) if postgres else fresh)

    def _record_import(
        self, command: ImportTransfers, fresh: Sequence[ReceiveTransfer]
    ) -> list[ItemResult]:
        items = []
        for t in fresh:
            assert t.facts.consumer is not None, "a transfer arrives with its consumer"
            complaint_id = derive_id("regulator-transfer", command.regulator_id, t.transfer_number)
            texts = {DESCRIPTION: t.facts.description}
            items.append((t.brand_id, t.facts.consumer, str(complaint_id), texts))
        sealed = self.vault.seal_many_with_text(items)
        args = {
            "regulator_id": command.regulator_id,
            "trace_id": command.trace_id,
            "transfers": [
                {
                    "transfer_number": t.transfer_number,
                    "deadline_working_days": t.deadline_working_days,
                    "transferred_on": t.transferred_on.isoformat() if t.transferred_on else None,
                    "brand_id": t.brand_id,
                    "facts": facts_args(replace(t.facts, description=p.redacted[DESCRIPTION])),
                    "consumer": s.as_args(),
                    "sealed_text": p.sealed_or_none(),
                }
                for t, (s, p) in zip(fresh, sealed, strict=True)
            ],
        }
        outcomes: list[ItemResult] = self.execute("regulator.import", args, command.received_at)
        return outcomes

    def _on_import(
        self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]
    ) -> list[ItemResult]:
        args = cmd.args
        regulator: Regulator = self.repository.get(derive_id("regulator", args["regulator_id"]))
        with self._working_set(self._chunk_ids(args)):
            return [
                self._import_one(cmd, regulator, item, processing) for item in args["transfers"]
            ]

    def _import_one(
        self,
        cmd: ReceivedCommand,
        regulator: Regulator,
        item: dict[str, Any],
        processing: ProcessingEvent[UUID],
    ) -> ItemResult:
        """One transfer of the chunk, decided as `_on_transfer` decides it."""
        number = item["transfer_number"]
        complaint_id = derive_id("regulator-transfer", regulator.regulator_id, number)
        if isinstance(self.get_or_none(complaint_id), Complaint):
            return _result(number, 200, complaint_id)
        if self.get_or_none(derive_id("brand", item["brand_id"])) is None:
            refused = TransferToUnknownBrand(
                f"brand_id: brand {item['brand_id']!r} is not registered"
            )
            return {**_result(number, refused.status, None), "detail": refused.detail}
        transfer = ReceivedCommand(
            cmd.name,
            {**item, "regulator_id": regulator.regulator_id, "trace_id": cmd.args["trace_id"]},
            cmd.at,
            cmd.given_id,
            cmd.input_id,
        )
        _, aggregates = self._admit_transfer(transfer, regulator, complaint_id)
        self._remember(aggregates)
        for aggregate in aggregates:  # what `collect_events` does, without protocol checks
            processing.events.extend(aggregate.collect_events())
            processing.aggregates[aggregate.id] = aggregate
        return _result(number, 201, complaint_id)

    # --- the chunk's working set ------------------------------------------------------

    def get_or_none(self, aggregate_id: UUID) -> Any:
        """Inside a chunk: its working set first (what it made, what the store lacks)."""
        working = _working.get()
        if working is None:
            return super().get_or_none(aggregate_id)
        if aggregate_id in working.known:
            return working.known[aggregate_id]
        if aggregate_id in working.absent:
            return None
        found = super().get_or_none(aggregate_id)
        if found is not None:
            working.known[aggregate_id] = found
        return found

    def _link_members(self, complaint: Complaint, join: GroupJoin) -> list[Complaint]:
        """A group forming links the merchant's earlier cases: load those at once."""
        working = _working.get()
        if working is not None:
            members = {UUID(case.complaint_id) for case in join.members}
            missing = sorted(
                m for m in members if m not in working.known and m not in working.absent
            )
            if missing:
                snapshotted = Complaint in (self.snapshotting_intervals or {})
                working.known.update(load_many(self, missing, snapshotted))
        return super()._link_members(complaint, join)

    def _remember(self, aggregates: Iterable[Aggregate]) -> None:
        working = _working.get()
        assert working is not None
        for aggregate in aggregates:
            working.known[aggregate.id] = aggregate

    @contextmanager
    def _working_set(self, ids: set[UUID]) -> Iterator[WorkingSet]:
        """Every aggregate the chunk may read, loaded at once; the rest known absent."""
        known = load_many(self, sorted(ids))
        working = WorkingSet(known, ids - known.keys())
        token = _working.set(working)
        try:
            yield working
        finally:
            _working.reset(token)

    def _chunk_ids(self, args: dict[str, Any]) -> set[UUID]:
        """Every aggregate the chunk's transfers may read: asked of the store at once."""
        ids: set[UUID] = set()
        for item in args["transfers"]:
            brand_id, facts = item["brand_id"], item["facts"]
            subject_id = UUID(item["consumer"]["subject_id"])
            ids |= {
                derive_id("regulator-transfer", args["regulator_id"], item["transfer_number"]),
                derive_id("brand", brand_id),
                subject_id,
                derive_id("consumer-file", subject_id),
            }
            key = group_key(facts["order"], facts["product"])
            if key is not None:
                ids.add(derive_id("group", brand_id, key))
                ids.add(derive_id("merchant-file", brand_id, key))
        return ids


def _result(number: str | None, status: int, complaint_id: UUID | None) -> ItemResult:
    return {
        "transfer_number": number,
        "status": status,
        "complaint_id": str(complaint_id) if complaint_id else None,
    }
