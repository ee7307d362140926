"""ROUTING stream contracts: classification, severity and the named handler."""

from __future__ import annotations

from typing import ClassVar

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
    """Step 4 (确定责任部门): a named handler with authority now owns the complaint."""

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    team: str
    handler_id: str
    authority_fen: int


PAYLOADS: dict[str, type[EventPayload]] = {
    "ComplaintClassified": ComplaintClassified,
    "SeverityAssessed": SeverityAssessed,
    "HandlerAssigned": HandlerAssigned,
}
