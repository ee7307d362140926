"""SLA policies as versioned data: per brand and per source, which clocks run and for how long.

A brand's policy is a document (`SlaPolicy`) loaded by a recorded command into the brand's
`SlaPolicyFile` aggregate; brands without one use `DEFAULT_POLICY`. Every clock records the
version of the policy it was started with [DOMAIN.md "Deadlines the seeds quote"].
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal, get_args
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, model_validator

from shared.inputs import InputClocked
from shared.store import derive_id

# Event types a clause may start at or be met by: routing's own decisions, then the upstream
# events routing consumes for them. Literal types, so the OpenAPI schema says what a policy
# may name.
RoutingEvent = Literal["ComplaintClassified", "SeverityAssessed", "HandlerAssigned"]
UpstreamEvent = Literal[
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
]
EventType = Literal[RoutingEvent, UpstreamEvent]
ROUTING_EVENTS: tuple[str, ...] = get_args(RoutingEvent)
UPSTREAM_EVENTS: tuple[str, ...] = get_args(UpstreamEvent)
KNOWN_EVENTS = frozenset(ROUTING_EVENTS + UPSTREAM_EVENTS)
StartsAt = Literal["received", "transferred"] | EventType
Source = Literal["phone", "web", "app", "email", "letter", "visit", "social_media", "regulator"]
SOURCES = frozenset(get_args(Source))
Level = Literal["supervisor", "crisis"]
ESCALATION_LEVELS: tuple[Level, ...] = ("supervisor", "crisis")
MAX_ELAPSED_DAYS = 3660


def _not_a_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a number is required, not true/false")
    return value


# JSON integers (1.0 included), never booleans; booleans only true/false (the schema's types).
Count = Annotated[int, BeforeValidator(_not_a_bool)]
Flag = Annotated[bool, Strict()]
MAX_WORKING_DAYS = 2000


class Elapsed(BaseModel):
    """An elapsed time limit: hours, minutes and seconds (at least one given)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"minProperties": 1}
    )

    hours: Count = Field(default=0, ge=0, le=MAX_ELAPSED_DAYS * 24)
    minutes: Count = Field(default=0, ge=0, le=MAX_ELAPSED_DAYS * 24 * 60)
    seconds: Count = Field(default=0, ge=0, le=MAX_ELAPSED_DAYS * 86_400)

    @model_validator(mode="after")
    def _given(self) -> Elapsed:
        if not self.model_fields_set:
            raise ValueError("give hours, minutes or seconds")
        return self

    def elapsed(self) -> timedelta:
        return timedelta(hours=self.hours, minutes=self.minutes, seconds=self.seconds)


class WorkingDays(BaseModel):
    """A limit in working days of mainland China (调休 included), ending 23:59:59 Shanghai."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    working_days: Count = Field(ge=0, le=MAX_WORKING_DAYS)


Within = Elapsed | WorkingDays


class Clause(BaseModel):
    """One promise: for these sources, `within` from `starts_at`, kept by one of `met_by`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_\-]+$")
    sources: list[Source] = Field(min_length=1, description='Channels, or "regulator".')
    within: Within
    starts_at: StartsAt = Field(
        default="received", description='"received", "transferred" or an event type.'
    )
    met_by: list[EventType] = Field(min_length=1)
    complex_only: Flag = Field(default=False, description="Only severity high or critical.")
    pausable: Flag = True
    source_doc: str = Field(default="", max_length=200, description="Where the rule comes from.")


class Escalation(BaseModel):
    """After a breach: the first level, then the next ones `again_after` each (if given)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    levels: list[Level] = Field(default_factory=lambda: list(ESCALATION_LEVELS), min_length=1)
    again_after: Elapsed | None = None


class SlaPolicy(BaseModel):
    """A brand's SLA policy document, versioned. Clause names are unique within it (a
    document naming one twice is refused by the load, 409)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1, max_length=64)
    clauses: list[Clause] = Field(max_length=50)
    escalation: Escalation = Field(default_factory=Escalation)

    def repeated_names(self) -> list[str]:
        names = [c.name for c in self.clauses]
        return sorted({n for n in names if names.count(n) > 1})

    def clause(self, name: str) -> Clause | None:
        return next((c for c in self.clauses if c.name == name), None)


ALL_SOURCES: list[Source] = list(get_args(Source))
DEFAULT_POLICY = SlaPolicy(
    version="default-1",
    clauses=[
        Clause(
            name="acknowledge",
            sources=ALL_SOURCES,
            within=Elapsed(hours=24),
            met_by=["ApologyIssued"],
            source_doc="002 承诺书: 24小时内答复",
        ),
        Clause(
            name="plan",
            sources=ALL_SOURCES,
            within=Elapsed(hours=72),
            met_by=["RemedyOptionsOffered"],
            complex_only=True,
            source_doc="002 承诺书: 复杂问题72小时内提出处理方案",
        ),
        Clause(
            name="regulator_accept",
            sources=["regulator"],
            within=WorkingDays(working_days=7),
            starts_at="transferred",
            met_by=["HandlerAssigned"],
            source_doc="DOMAIN.md deadlines: decide on acceptance within 7 working days",
        ),
        Clause(
            name="regulator_negotiate",
            sources=["regulator"],
            within=WorkingDays(working_days=10),
            starts_at="transferred",
            met_by=["OfferAccepted", "ComplaintResolved"],
            source_doc="DOMAIN.md deadlines: negotiate within 10 working days",
        ),
        Clause(
            name="regulator_mediate",
            sources=["regulator"],
            within=WorkingDays(working_days=45),
            starts_at="transferred",
            met_by=["ComplaintResolved", "ComplaintClosed"],
            source_doc="DOMAIN.md deadlines: mediation within 45 working days",
        ),
    ],
    escalation=Escalation(levels=["supervisor", "crisis"], again_after=Elapsed(hours=24)),
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
