"""ROUTING stream contracts: classification, severity and the named handler."""

from __future__ import annotations

from pydantic import BaseModel

from shared.contracts.base import Payload


class ComplaintClassified(Payload):
    """Step 2 (判定/分类): category and the service-quality dimension it touches."""

    category: str
    dimension: str
    well_founded: bool
    reasons: list[str]


class SeverityAssessed(Payload):
    """Step 3 (评估): severity and what raised it."""

    severity: str
    factors: list[str]


class HandlerAssigned(Payload):
    """Step 4 (确定责任部门): a named handler with authority now owns the complaint."""

    team: str
    handler_id: str
    authority_fen: int


PAYLOADS: dict[str, type[BaseModel]] = {
    "ComplaintClassified": ComplaintClassified,
    "SeverityAssessed": SeverityAssessed,
    "HandlerAssigned": HandlerAssigned,
}
