"""SLA policies as versioned data: per brand and per source, which clocks run and for how long.

A brand's policy is a document (`SlaPolicy`) loaded by a recorded command into the brand's
`SlaPolicyFile` aggregate; brands without one use `DEFAULT_POLICY`. Every clock records the
version of the policy it was started with [DOMAIN.md "Deadlines the seeds quote"].
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.inputs import InputClocked
from shared.store import derive_id

# Upstream and own event types a clause may start at or be met by (routing consumes them).
ROUTING_EVENTS = ("ComplaintClassified", "SeverityAssessed", "HandlerAssigned")
UPSTREAM_EVENTS = (
    "ComplaintDetailsConfirmed",
    "ConsumerActed",
    "ApologyIssued",
    "RemedyOptionsOffered",
    "OfferAccepted",
    "OfferRejected",
    "CounterProposalReceived",
    "ApprovalRequested",
    "ApprovalGranted",
    "RemedyFulfilled",
    "FollowupCaseOpened",
    "RevisitScheduled",
    "RevisitCompleted",
    "ComplaintResolved",
    "ComplaintReopened",
    "ComplaintClosed",
    "RegulatorOutcomeReported",
)
KNOWN_EVENTS = frozenset(ROUTING_EVENTS + UPSTREAM_EVENTS)
SOURCES = frozenset(
    {"phone", "web", "app", "email", "letter", "visit", "social_media", "regulator"}
)
Level = Literal["supervisor", "crisis"]
ESCALATION_LEVELS: tuple[Level, ...] = ("supervisor", "crisis")
MAX_ELAPSED_DAYS = 3660
MAX_ELAPSED = timedelta(days=MAX_ELAPSED_DAYS)
MAX_WORKING_DAYS = 2000


class Within(BaseModel):
    """A time limit: elapsed hours/minutes/seconds, or working days on the China calendar."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hours: int | None = Field(default=None, ge=0, le=MAX_ELAPSED_DAYS * 24)
    minutes: int | None = Field(default=None, ge=0, le=MAX_ELAPSED_DAYS * 24 * 60)
    seconds: int | None = Field(default=None, ge=0, le=MAX_ELAPSED_DAYS * 86_400)
    working_days: int | None = Field(default=None, ge=0, le=MAX_WORKING_DAYS)

    @model_validator(mode="after")
    def _one_kind(self) -> Within:
        elapsed = (self.hours, self.minutes, self.seconds)
        if self.working_days is not None and any(v is not None for v in elapsed):
            raise ValueError("give working_days or hours/minutes/seconds, not both")
        if self.working_days is None and all(v is None for v in elapsed):
            raise ValueError("give working_days or hours/minutes/seconds")
        if self.working_days is None and self.elapsed() > MAX_ELAPSED:
            raise ValueError("an elapsed limit is at most 3660 days")
        return self

    def elapsed(self) -> timedelta:
        return timedelta(
            hours=self.hours or 0, minutes=self.minutes or 0, seconds=self.seconds or 0
        )


class Clause(BaseModel):
    """One promise: for these sources, `within` from `starts_at`, kept by one of `met_by`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_\-]+$")
    sources: list[str] = Field(min_length=1, description='Channels, or "regulator".')
    within: Within
    starts_at: str = Field(
        default="received", description='"received", "transferred" or an event type.'
    )
    met_by: list[str] = Field(min_length=1)
    complex_only: bool = Field(default=False, description="Only severity high or critical.")
    pausable: bool = True
    source_doc: str = Field(default="", max_length=200, description="Where the rule comes from.")

    @model_validator(mode="after")
    def _known(self) -> Clause:
        unknown = [s for s in self.sources if s not in SOURCES]
        if unknown:
            raise ValueError(f"unknown sources {unknown}; known: {sorted(SOURCES)}")
        events = [e for e in self.met_by if e not in KNOWN_EVENTS]
        if self.starts_at not in ("received", "transferred") and self.starts_at not in KNOWN_EVENTS:
            events.append(self.starts_at)
        if events:
            raise ValueError(f"unknown event types {events}; known: {sorted(KNOWN_EVENTS)}")
        return self


class Escalation(BaseModel):
    """After a breach: the first level, then the next ones `again_after` each (if given)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    levels: list[Level] = Field(default_factory=lambda: list(ESCALATION_LEVELS), min_length=1)
    again_after: Within | None = None

    @model_validator(mode="after")
    def _elapsed(self) -> Escalation:
        if self.again_after is not None and self.again_after.working_days is not None:
            raise ValueError("again_after is an elapsed duration (hours/minutes/seconds)")
        return self


class SlaPolicy(BaseModel):
    """A brand's SLA policy document, versioned."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1, max_length=64)
    clauses: list[Clause] = Field(max_length=50)
    escalation: Escalation = Field(default_factory=Escalation)

    @model_validator(mode="after")
    def _unique(self) -> SlaPolicy:
        names = [c.name for c in self.clauses]
        if len(names) != len(set(names)):
            raise ValueError("clause names must be unique")
        return self

    def clause(self, name: str) -> Clause | None:
        return next((c for c in self.clauses if c.name == name), None)


CHANNELS = ["phone", "web", "app", "email", "letter", "visit", "social_media"]
ALL_SOURCES = [*CHANNELS, "regulator"]
DEFAULT_POLICY = SlaPolicy(
    version="default-1",
    clauses=[
        Clause(
            name="acknowledge",
            sources=ALL_SOURCES,
            within=Within(hours=24),
            met_by=["ApologyIssued"],
            source_doc="002 承诺书: 24小时内答复",
        ),
        Clause(
            name="plan",
            sources=ALL_SOURCES,
            within=Within(hours=72),
            met_by=["RemedyOptionsOffered"],
            complex_only=True,
            source_doc="002 承诺书: 复杂问题72小时内提出处理方案",
        ),
        Clause(
            name="regulator_accept",
            sources=["regulator"],
            within=Within(working_days=7),
            starts_at="transferred",
            met_by=["HandlerAssigned"],
            source_doc="DOMAIN.md deadlines: decide on acceptance within 7 working days",
        ),
        Clause(
            name="regulator_negotiate",
            sources=["regulator"],
            within=Within(working_days=10),
            starts_at="transferred",
            met_by=["OfferAccepted", "ComplaintResolved"],
            source_doc="DOMAIN.md deadlines: negotiate within 10 working days",
        ),
        Clause(
            name="regulator_mediate",
            sources=["regulator"],
            within=Within(working_days=45),
            starts_at="transferred",
            met_by=["ComplaintResolved", "ComplaintClosed"],
            source_doc="DOMAIN.md deadlines: mediation within 45 working days",
        ),
    ],
    escalation=Escalation(levels=["supervisor", "crisis"], again_after=Within(hours=24)),
)


def policy_id(brand_id: str) -> UUID:
    return derive_id("sla-policy", brand_id)


class SlaPolicyFile(Aggregate):
    """One brand's SLA policy, each version loaded as a recorded command."""

    TOPIC = "routing.SlaPolicyFile"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "routing.SlaPolicyFile.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "routing.SlaPolicyFile.Created"

    @event("SlaPolicyFileOpened", topic="routing.SlaPolicyFile.SlaPolicyFileOpened")
    def __init__(self, id: UUID, brand_id: str) -> None:
        self.brand_id = brand_id
        self.document: dict[str, Any] | None = None
        self.versions: list[str] = []

    @event("SlaPolicyLoaded", topic="routing.SlaPolicyFile.SlaPolicyLoaded")
    def load(self, version: str, document: dict[str, Any]) -> None:
        """A new version of the brand's SLA policy applies to clocks started from now on."""
        self.document = document
        self.versions.append(version)

    @property
    def policy(self) -> SlaPolicy | None:
        return None if self.document is None else SlaPolicy.model_validate(self.document)
