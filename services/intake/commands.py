"""What intake is asked to do: one small dataclass per command, as entrypoints build them.

Routers turn HTTP bodies and headers into these; the service layer takes nothing else.
Times and ids a command carries were given at the edge (the receive time, the caller).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from shared.security import OpsClaims

# --- complaints -------------------------------------------------------------------------


@dataclass(frozen=True)
class Consumer:
    """Who complains: all of it is PII, sealed in the vault, never in an event."""

    name: str
    phone: str
    address: str | None = None
    id_number: str | None = None


@dataclass(frozen=True)
class ComplaintFacts:
    """What a consumer complains about, however it reached us (JSON-ready)."""

    consumer: Consumer | None  # None once sealed in the vault (as commands are recorded)
    product: dict[str, Any]
    order: dict[str, Any]
    description: str
    demands: list[dict[str, Any]]
    attachments: list[str] = field(default_factory=list)
    media_exposure: bool = False
    injury: bool = False
    received_by: str | None = None  # the desk or employee id that took the contact
    media_reach: str | None = None  # none | private | local | regional | national
    loss_fen: int | None = None  # 2.0: the consumer's loss beyond the price
    fault_date: str | None = None  # 2.0: the day the fault appeared (YYYY-MM-DD)


@dataclass(frozen=True)
class ReceiveComplaint:
    """A brand portal submits a complaint (受理), perhaps retried under an Idempotency-Key."""

    brand_id: str
    trace_id: str
    channel: str
    facts: ComplaintFacts
    received_at: datetime
    complaint_id: UUID  # given at the edge: derived from the Idempotency-Key, or drawn
    idempotency_key: str | None = None
    body_hash: str = ""


@dataclass(frozen=True)
class ActOnOffer:
    """The consumer accepts, rejects or counters the offer that stands."""

    brand_id: str
    complaint_id: UUID
    at: datetime
    action: Literal["accept", "reject", "counter"]
    offer_id: str
    option_id: str | None = None
    reason: str | None = None
    counter_kind: str | None = None
    counter_amount_fen: int | None = None


@dataclass(frozen=True)
class WithdrawComplaint:
    """The consumer withdraws the complaint."""

    brand_id: str
    complaint_id: UUID
    reason: str
    at: datetime


@dataclass(frozen=True)
class ConfirmDetails:
    """The record was read back to the consumer, who confirmed it (with any corrections)."""

    brand_id: str
    complaint_id: UUID
    confirmed_via: str
    at: datetime
    corrections: dict[str, str] = field(default_factory=dict)


# --- contact sources --------------------------------------------------------------------


@dataclass(frozen=True)
class BlockSource:
    """Ops block a harassing source: its further contacts are refused and counted."""

    subject_ref: str
    ops: OpsClaims
    reason: str
    at: datetime


@dataclass(frozen=True)
class FlagSource:
    """Ops flag a source as nuisance: its further complaints go to the nuisance queue."""

    subject_ref: str
    ops: OpsClaims
    reason: str
    at: datetime


@dataclass(frozen=True)
class EraseSubject:
    """Erasure (PIPL): the data subject's key is destroyed, so what it sealed is unreadable."""

    subject_ref: str
    ops: OpsClaims
    at: datetime


# --- brands and keys --------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterBrand:
    brand_id: str
    name: str
    at: datetime


@dataclass(frozen=True)
class IssueApiKey:
    brand_id: str
    issued_at: datetime


@dataclass(frozen=True)
class RevokeApiKey:
    brand_id: str
    key_id: str
    reason: str
    at: datetime


# --- regulators -------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterRegulator:
    """A regulator integration: the consumer association (消协) or the 12315 platform."""

    regulator_id: str
    name: str
    kind: str
    registered_at: datetime


@dataclass(frozen=True)
class SignedRequest:
    """A regulator's request as signed: the headers and what the signature covers."""

    regulator_id: str
    timestamp: str
    nonce: str
    signature: str
    method: str
    path: str
    body: bytes


@dataclass(frozen=True)
class ReceiveTransfer:
    """A complaint a regulator transfers to a brand (转办), with the deadline it sets."""

    regulator_id: str
    transfer_number: str
    deadline_working_days: int
    brand_id: str
    facts: ComplaintFacts
    trace_id: str
    received_at: datetime
    transferred_on: date | None = None  # the regulator's date; None: the day received


# --- webhooks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscribeWebhook:
    """A brand registers an endpoint for some contract event types."""

    brand_id: str
    url: str
    event_types: list[str]
    at: datetime
    subscription_id: UUID  # drawn at the edge


@dataclass(frozen=True)
class UnsubscribeWebhook:
    """A brand removes one of its webhooks."""

    brand_id: str
    subscription_id: UUID
    at: datetime


# --- as recorded ------------------------------------------------------------------------

def facts_args(facts: ComplaintFacts) -> dict[str, Any]:
    """A complaint's facts as a recorded command carries them: JSON, the consumer left out."""
    return {
        "product": facts.product,
        "order": facts.order,
        "description": facts.description,
        "demands": facts.demands,
        "attachments": facts.attachments,
        "media_exposure": facts.media_exposure,
        "injury": facts.injury,
        "received_by": facts.received_by,
        "media_reach": facts.media_reach,
        "loss_fen": facts.loss_fen,
        "fault_date": facts.fault_date,
    }


def facts_from(args: dict[str, Any]) -> ComplaintFacts:
    """The facts a recorded command carries (the consumer is in the vault, sealed)."""
    return ComplaintFacts(consumer=None, **args)
