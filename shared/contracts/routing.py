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


PAYLOADS: dict[str, type[EventPayload]] = {
    "ComplaintClassified": ComplaintClassified,
    "SeverityAssessed": SeverityAssessed,
    "HandlerAssigned": HandlerAssigned,
}
