"""ROUTING stream contracts: classification, severity and the named handler."""

from __future__ import annotations

from typing import ClassVar

from shared.contracts.base import EventPayload


class ComplaintClassified(EventPayload):
    """Step 2 (判定/分类): category and the service-quality dimension it touches."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    category: str
    dimension: str
    well_founded: bool
    reasons: list[str]


class SeverityAssessed(EventPayload):
    """Step 3 (评估): severity and what raised it."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    severity: str
    factors: list[str]


class HandlerAssigned(EventPayload):
    """Step 4 (确定责任部门): a named handler with authority now owns the complaint."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    team: str
    handler_id: str
    authority_fen: int


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
    """The case went up the brand's chain: handler → supervisor → crisis team."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    level: str
    to_team: str
    to_handler: str
    reason: str
    clause: str | None = None
    by: str


PAYLOADS: dict[str, type[EventPayload]] = {
    "ComplaintClassified": ComplaintClassified,
    "SeverityAssessed": SeverityAssessed,
    "HandlerAssigned": HandlerAssigned,
    "SlaStarted": SlaStarted,
    "SlaMet": SlaMet,
    "SlaPaused": SlaPaused,
    "SlaResumed": SlaResumed,
    "SlaDeadlineRevised": SlaDeadlineRevised,
    "SlaBreached": SlaBreached,
    "Escalated": Escalated,
}
