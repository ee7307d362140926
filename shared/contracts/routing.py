"""ROUTING stream contracts: classification, severity and the named handler."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from shared.contracts.base import EventPayload


class ComplaintClassified(EventPayload):
    """Step 2 (判定/分类): category, the 五度 dimensions it touches, judged well-founded or not.

    1.1 added (optional): every dimension touched (`dimension` stays the primary one), the
    judgement in a sentence, the safety signals found in the text (as written), and the
    version of the rules document that decided.
    """

    SCHEMA_VERSION: ClassVar[str] = "1.1"

    category: str
    dimension: str
    well_founded: bool
    reasons: list[str]
    dimensions: list[str] = Field(default_factory=list)
    judgement: str = ""
    safety_signals: list[str] = Field(default_factory=list)
    rules_version: str | None = None


class SeverityAssessed(EventPayload):
    """Step 3 (评估): severity and what raised it."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    severity: str
    factors: list[str]


class HandlerAssigned(EventPayload):
    """Step 4 (确定责任部门): a named handler with authority now owns the complaint.

    1.1: why (`reason`), who owned it before (`from_owner`, e.g. "desk:hotline-desk") and
    the roster version the choice was made from.
    """

    SCHEMA_VERSION: ClassVar[str] = "1.1"

    team: str
    handler_id: str
    authority_fen: int
    reason: str = ""
    from_owner: str | None = None
    roster_version: str | None = None


class FirstContactOwned(EventPayload):
    """首问负责制 [003]: the desk that received the complaint owns it until a named handler."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    desk: str
    channel: str


class HandlerReassigned(EventPayload):
    """Another owner: reassigned, handed over, severity raised or escalated; 三变法 [002]
    `change` (another person, place or time; "time" carries the new contact time)."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    from_team: str | None
    from_handler: str | None
    to_team: str
    to_handler: str
    kind: Literal["reassigned", "handover", "severity_raised", "escalated"]
    change: Literal["person", "place", "time"] | None = None
    reason: str
    by: str
    authority_fen: int = 0
    contact_at: str | None = None
    place: str | None = None


class ResponseModeChosen(EventPayload):
    """Step 5, one of three modes [002]: immediate, deferred (answer and callback promised)
    or transfer (outside our remit, to the receiving party)."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    mode: Literal["immediate", "deferred", "transfer"]
    reason: str
    answer_by: str | None = None
    callback_due: str | None = None
    receiving_party: str | None = None


class ConsumerCallbackPromised(EventPayload):
    """A call back promised to the consumer at a time, kept even with no news [000]."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    callback_at: str
    reason: str
    by: str


# --- SLA clocks, breaches and escalation (DOMAIN.md deadlines) ----------------------------


class SlaStarted(EventPayload):
    """A promise clock started for one clause of the brand's SLA policy (null due: `reason`)."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    clause: str
    starts_at: str
    due_at: str | None
    provisional: bool = False
    calendar_version: str | None = None
    policy_version: str
    reason: str | None = None


class SlaMet(EventPayload):
    """A clause was kept by `by_event` (late, if it was breached before)."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    clause: str
    at: str
    by_event: str


class SlaPaused(EventPayload):
    """Clocks stopped while the case waits (appraisal, inspection)."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    reason: str
    clauses: list[str]


class SlaResumed(EventPayload):
    """Clocks counting again, each due later by the span paused."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    reason: str
    clauses: list[str]
    due_at: dict[str, str | None]


class SlaDeadlineRevised(EventPayload):
    """A provisional deadline recomputed when its calendar year was loaded."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    clause: str
    previous_due_at: str | None
    due_at: str | None
    calendar_version: str
    provisional: bool


class SlaBreached(EventPayload):
    """A clause's deadline passed unmet (once per clause)."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    clause: str
    due_at: str


class Escalated(EventPayload):
    """The case went up the brand's chain: handler → supervisor → crisis team; 1.1 adds the
    authority (fen) of whom it reached, from the roster (None: not known, e.g. before 1.1)."""

    SCHEMA_VERSION: ClassVar[str] = "1.1"

    level: str
    to_team: str
    to_handler: str
    reason: str
    clause: str | None = None
    by: str
    authority_fen: int | None = None


PAYLOADS: dict[str, type[EventPayload]] = {
    "ComplaintClassified": ComplaintClassified,
    "SeverityAssessed": SeverityAssessed,
    "HandlerAssigned": HandlerAssigned,
    "FirstContactOwned": FirstContactOwned,
    "HandlerReassigned": HandlerReassigned,
    "ResponseModeChosen": ResponseModeChosen,
    "ConsumerCallbackPromised": ConsumerCallbackPromised,
    "SlaStarted": SlaStarted,
    "SlaMet": SlaMet,
    "SlaPaused": SlaPaused,
    "SlaResumed": SlaResumed,
    "SlaDeadlineRevised": SlaDeadlineRevised,
    "SlaBreached": SlaBreached,
    "Escalated": Escalated,
}
