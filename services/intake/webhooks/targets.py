"""Where webhooks may point: public endpoints only, at registration and at every attempt.

One `TargetGuard` per runtime (its policy from the settings, the system resolver), shared
by the router and the delivery worker; tests may give it a resolver of their own.
"""

from __future__ import annotations

import asyncio
import logging

from services.intake.errors import WebhookTargetRefused
from shared.netguard import NOT_PUBLIC_NAME, TargetGuard, TargetPolicy, TargetRefused
from shared.service import Runtime
from shared.settings import Settings

log = logging.getLogger("aftersales.webhooks")
GUARD = "webhook_guard"


def target_policy(settings: Settings) -> TargetPolicy:
    """Public endpoints, or the allowed networks; https only in production."""
    return TargetPolicy(
        allow_networks=settings.webhook_allow_networks,
        https_only=settings.environment == "production",
    )


def webhook_guard(runtime: Runtime) -> TargetGuard:
    """The runtime's guard of webhook targets."""
    guard = runtime.extras.get(GUARD)
    if not isinstance(guard, TargetGuard):
        guard = runtime.extras[GUARD] = TargetGuard(target_policy(runtime.settings))
    return guard


async def admit_new_target(runtime: Runtime, url: str) -> None:
    """Refuse (422) a URL that is not a public endpoint now, with the reason in general terms."""
    try:
        async with asyncio.timeout(runtime.settings.webhook_attempt_timeout_s):
            await webhook_guard(runtime).admit(url)
    except TargetRefused as refused:
        log.info("webhook target refused at registration: %s", refused)
        raise WebhookTargetRefused(refused.reason) from None
    except TimeoutError:
        raise WebhookTargetRefused(NOT_PUBLIC_NAME) from None
