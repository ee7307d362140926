"""FOLLOWUP stream contracts: revisits (回访)."""

from __future__ import annotations

from pydantic import BaseModel

from shared.contracts.base import Payload


class RevisitScheduled(Payload):
    """Step 10 (回访): a follow-up revisit is due on a Shanghai working day."""

    revisit_id: str
    due_date: str
    channel: str
    calendar_covered: bool


PAYLOADS: dict[str, type[BaseModel]] = {
    "RevisitScheduled": RevisitScheduled,
}
