"""What intake is asked to do: one small dataclass per command, as entrypoints build them.

Routers turn HTTP bodies and headers into these; the service layer takes nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

# --- webhooks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscribeWebhook:
    """A brand registers an endpoint for some contract event types."""

    brand_id: str
    url: str
    event_types: list[str]


@dataclass(frozen=True)
class UnsubscribeWebhook:
    """A brand removes one of its webhooks."""

    brand_id: str
    subscription_id: UUID
