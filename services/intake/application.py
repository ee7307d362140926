"""Intake's application: the use cases by capability, composed, with their collaborators.

Rooms: admission.py (complaints arriving, duplicates, the consumer's steps), groups.py,
regulators.py, brands.py, sources.py, webhooks/ (its own package); vault.py (PII),
complaint_index.py (the list read model), views.py. Upstream events from the other three
services are recorded on the complaint as its status feed.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.utils import EnvType

from services.intake.brands import BrandsAndKeys
from services.intake.bulk import BulkImport
from services.intake.complaint_index import (
    COMPLAINTS,
    TableComplaintIndex,
    backfill_complaints,
    complaint_row,
)
from services.intake.domain import Complaint, ComplaintGroup, ConsumerFile, MerchantFile
from services.intake.key_cache import ApiKeyCache
from services.intake.nonces import REGULATOR_NONCES
from services.intake.policies import DuplicatePolicy
from services.intake.published import PUBLICATIONS
from services.intake.sources import Sources
from services.intake.vault import Vault, key_store_for
from services.intake.webhooks.delivery_log import TABLES as DELIVERY_TABLES
from services.intake.webhooks.delivery_log import backfill_deliveries, delivery_writes
from services.intake.webhooks.domain import WebhookDelivery
from services.intake.webhooks.service import WebhookUseCases
from shared.contracts import ContractEvent
from shared.readmodels import RowWrite, Table
from shared.security import PiiCipher
from shared.store import EventMeta
from shared.tuning import AGGREGATE_CACHE

STATUS_FEED = (
    "ComplaintClassified",
    "HandlerAssigned",
    "HandlerReassigned",
    "Escalated",
    "ApprovalRequested",
    "ApprovalDenied",
    "RemedyOptionsOffered",
    "OfferAccepted",
    "OfferRejected",
    "CounterProposalReceived",
    "RemedyFulfilled",
    "RevisitScheduled",
    "RevisitCompleted",
    "ComplaintResolved",
    "ComplaintReopened",
    "ComplaintClosed",
)


class IntakeApplication(BulkImport, BrandsAndKeys, Sources, WebhookUseCases):
    """The front door: brands, complaints, regulators, sources and webhooks, in one store."""

    service = "intake"
    name = "intake"
    publications = PUBLICATIONS
    # The complaint list and the webhook delivery log: tables written with the events; the
    # regulator nonces in use (edge state, pruned: nonces.py).
    read_model_tables: ClassVar[tuple[Table, ...]] = (
        COMPLAINTS,
        *DELIVERY_TABLES,
        REGULATOR_NONCES,
    )
    # Index aggregates that grow with traffic load from a snapshot plus a few events.
    snapshotting_intervals: ClassVar[dict[Any, int]] = {
        ComplaintGroup: 100,
        MerchantFile: 100,
        ConsumerFile: 100,
    }
    # Aggregates read or recorded lately stay in memory as the store had them
    # (shared/tuning.py, shared/aggregate_cache.py); group commit evicts rolled-back ones.
    env: ClassVar[dict[str, str]] = {**AGGREGATE_CACHE, "AGGREGATE_CACHE_MAXSIZE": "5000"}

    def __init__(self, env: EnvType | None = None) -> None:
        super().__init__(env)
        self.cipher = PiiCipher(_key32(self.env.get("AFTERSALES_PII_MASTER_KEY") or ""))
        self.keys = key_store_for(dict(self.env))
        index_key = (self.env.get("AFTERSALES_PII_INDEX_KEY") or "").encode()
        self.vault = Vault(self.cipher, index_key, self.keys)
        window_days = int(self.env.get("AFTERSALES_DUPLICATE_WINDOW_DAYS") or 30)
        self.duplicate_policy = DuplicatePolicy(window=timedelta(days=window_days))
        self.index = TableComplaintIndex(self.read_models)
        key_ttl = float(self.env.get("AFTERSALES_API_KEY_CACHE_TTL_S") or 1.0)
        self.api_keys = ApiKeyCache(ttl=key_ttl)
        # Stores written before the lists were tables: fill them once from the log.
        backfill_complaints(self)
        backfill_deliveries(self)

    def close(self) -> None:
        self.keys.close()
        super().close()

    def register_handlers(self) -> None:
        for event_type in STATUS_FEED:
            self.on(event_type, self.on_status_feed)
        self.register_fan_out()
        # Every use case is a recorded command (shared/inputs.py): replay re-runs it.
        self.register_admission()
        self.register_regulators()
        self.register_bulk()
        self.register_brands()
        self.register_sources()
        self.register_webhook_commands()

    def on_status_feed(self, upstream: ContractEvent, processing: ProcessingEvent[UUID]) -> None:
        """Record what another service did on the complaint (the brand's status feed)."""
        complaint: Complaint | None = self.get_or_none(upstream.complaint_id)
        if complaint is None:
            return
        complaint.observe(
            meta=EventMeta.caused_by(upstream), contract=upstream.model_dump(mode="json")
        )
        processing.collect_events(complaint)

    def read_model_writes(self, processing_event: ProcessingEvent[Any]) -> list[RowWrite]:
        """Every complaint and webhook delivery saved updates its rows, in the same transaction."""
        writes: list[RowWrite] = []
        for aggregate in processing_event.aggregates.values():
            if isinstance(aggregate, Complaint):
                writes.append(complaint_row(aggregate))
            elif isinstance(aggregate, WebhookDelivery):
                writes += delivery_writes(aggregate, processing_event.events)
        return writes


def _key32(secret: str) -> bytes:
    """A 32-byte AES key derived from a configured secret string."""
    return hashlib.sha256(secret.encode()).digest()
