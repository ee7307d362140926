"""What every intake use case shares: the vault, the complaint index, the common look-ups.

The use-case mixins (admission, groups, regulators, brands, sources) build on this;
`IntakeApplication` (application.py) composes them and wires the collaborators.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from services.intake.commands import ComplaintFacts
from services.intake.complaint_index import ComplaintIndex
from services.intake.domain import Complaint, ConsumerFile
from services.intake.errors import ComplaintNotFound
from services.intake.key_cache import ApiKeyCache
from services.intake.policies import DuplicatePolicy, MatchKeys
from services.intake.vault import KeyStore, Vault
from shared.security import PiiCipher
from shared.store import EventMeta, derive_id
from shared.tuning import CachedCases


class IntakeBase(CachedCases):
    """Intake's store plus its collaborators (set by `IntakeApplication.__init__`)."""

    cipher: PiiCipher
    keys: KeyStore
    vault: Vault
    api_keys: ApiKeyCache
    index: ComplaintIndex
    duplicate_policy: DuplicatePolicy

    def complaint(self, brand_id: str, complaint_id: UUID) -> Complaint:
        """A brand's complaint; another brand's is not found, never forbidden."""
        complaint: Complaint | None = self.get_or_none(complaint_id)
        if not isinstance(complaint, Complaint) or complaint.brand_id != brand_id:
            raise ComplaintNotFound(f"complaint {complaint_id} not found")
        return complaint

    def _consumer_file(self, brand_id: str, subject_id: UUID) -> ConsumerFile:
        file: ConsumerFile | None = self.get_or_none(derive_id("consumer-file", subject_id))
        return file or ConsumerFile(
            id=derive_id("consumer-file", subject_id),
            brand_id=brand_id,
            subject_ref=str(subject_id),
        )


@dataclass(frozen=True)
class Arrival:
    """One contact being admitted: whose, under which id, through which channel, when."""

    brand_id: str
    trace_id: str
    complaint_id: UUID
    subject_ref: str
    channel: str
    facts: ComplaintFacts
    received_at: datetime
    sealed_text: dict[str, str] | None = None  # the description's original, if redacted

    @property
    def meta(self) -> EventMeta:
        return EventMeta(self.brand_id, self.trace_id, None)

    @property
    def order(self) -> dict[str, Any]:
        return self.facts.order

    @property
    def product(self) -> dict[str, Any]:
        return self.facts.product

    @property
    def keys(self) -> MatchKeys:
        return MatchKeys.of(self.order, self.product)

    def contact(self, complaint_id: str, outcome: str) -> dict[str, Any]:
        """The consumer file's record of this contact (no PII: match keys only)."""
        return {
            "contact_id": str(self.complaint_id),
            "complaint_id": complaint_id,
            "outcome": outcome,
            "keys": self.keys.as_dict(),
            "received_at": self.received_at.isoformat(),
        }


def instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso)
