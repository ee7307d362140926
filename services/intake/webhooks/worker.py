"""The delivery worker: takes due deliveries from the log, POSTs them signed, records each.

A background job of the intake process; a few deliveries are in flight at once, at most
a few of them for one brand, and each attempt ends by a deadline whatever the receiver
does: a slow or hostile endpoint delays its own brand only, never the event flow. Every
attempt resolves and checks the target again and connects to the address it checked.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import ssl
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from uuid import UUID, uuid4

import httpx
from opentelemetry.trace import SpanKind

from services.intake.webhooks.delivery_log import (
    CONNECTION_FAILED,
    TARGET_NOT_ALLOWED,
    TIMEOUT,
    DeliveryLog,
    delivery_log,
)
from services.intake.webhooks.policy import BackoffPolicy
from services.intake.webhooks.service import Attempt, WebhookUseCases
from services.intake.webhooks.targets import webhook_guard
from shared.netguard import TargetGuard, TargetRefused
from shared.security import WEBHOOK_SIGNATURE_HEADER, sign_webhook
from shared.service import Runtime
from shared.settings import Settings
from shared.telemetry import context_for_trace, inject_headers, span

log = logging.getLogger("aftersales.webhooks")
PARALLEL_DELIVERIES = 8


@dataclass(frozen=True)
class AttemptLimits:
    """What one attempt may take: its overall deadline, and how much of the answer is read."""

    deadline_s: float = 10.0
    max_response_bytes: int = 65_536

    @classmethod
    def of(cls, settings: Settings) -> AttemptLimits:
        return cls(settings.webhook_attempt_timeout_s, settings.webhook_max_response_bytes)


async def deliver_webhooks(runtime: Runtime) -> None:
    """Background job: POST due deliveries, a few at once, until the service stops."""
    app = runtime.application
    assert isinstance(app, WebhookUseCases)
    settings = runtime.settings
    worker = DeliveryWorker(
        app,
        delivery_log(runtime),
        settings.webhook_base_delay_s,
        webhook_guard(runtime),
        AttemptLimits.of(settings),
        settings.webhook_brand_parallel_deliveries,
    )
    await worker.run(runtime.stop)


class DeliveryWorker:
    """Takes due deliveries from the log, POSTs them concurrently, records each attempt."""

    def __init__(
        self,
        app: WebhookUseCases,
        log: DeliveryLog,
        base_delay_s: float,
        guard: TargetGuard,
        limits: AttemptLimits,
        per_brand: int,
    ) -> None:
        self.app = app
        self.log = log
        # Leases in the store name their holder: one per worker, unique across processes.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:8]}"
        self.policy = BackoffPolicy(base_delay_s=base_delay_s)
        self.guard = guard
        self.limits = limits
        self.per_brand = per_brand
        self.wake = asyncio.Event()
        self.in_flight: set[asyncio.Task[None]] = set()
        self.brands_in_flight: Counter[str] = Counter()

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()

        def recorded() -> None:  # called from whichever thread recorded events
            loop.call_soon_threadsafe(self.wake.set)

        self.app.add_listener(recorded)
        async with new_client(self.limits) as client:
            while not stop.is_set():
                self.wake.clear()
                wait = await self._dispatch(client)
                await _nap(self.wake, stop, wait)
            if self.in_flight:
                await asyncio.gather(*self.in_flight, return_exceptions=True)

    async def _dispatch(self, client: httpx.AsyncClient) -> float:
        """Start what is due; return how long to sleep before looking again."""
        now = datetime.now(UTC)
        try:
            while await self._start_due(client, now):
                pass
            if len(self.in_flight) >= PARALLEL_DELIVERIES:
                return 1.0  # every slot busy: the first to finish wakes the loop
            full = self._full_brands()
            until_due = await asyncio.to_thread(self.log.seconds_until_due, now, full)
        except Exception:
            log.exception("reading the webhook delivery log failed")
            return 1.0
        # Another process's new deliveries wake nobody here: look again within a second.
        return 1.0 if until_due is None else min(1.0, max(until_due, 0.005))

    async def _start_due(self, client: httpx.AsyncClient, now: datetime) -> bool:
        """Claim due deliveries into free slots, none beyond its brand's cap; start them.

        A claim skips the brands at their cap and takes no more than the least room any
        other brand has left, so nothing claimed is over a cap. True when it took all it
        asked for and slots are left: claim again.
        """
        free = PARALLEL_DELIVERIES - len(self.in_flight)
        full = self._full_brands()
        partly = [n for b, n in self.brands_in_flight.items() if b not in full]
        limit = min(free, self.per_brand - max(partly, default=0))
        if limit <= 0:
            return False
        taken = await asyncio.to_thread(self.log.claim_due, self.owner, now, limit, full)
        for delivery_id, brand in taken:
            self.brands_in_flight[brand] += 1
            task = asyncio.create_task(self._attempt(client, delivery_id))
            self.in_flight.add(task)
            task.add_done_callback(partial(self._finished, brand))
        return len(taken) == limit and len(self.in_flight) < PARALLEL_DELIVERIES

    def _full_brands(self) -> set[str]:
        return {b for b, n in self.brands_in_flight.items() if n >= self.per_brand}

    def _finished(self, brand: str, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        self.brands_in_flight[brand] -= 1
        if self.brands_in_flight[brand] <= 0:
            del self.brands_in_flight[brand]
        self.wake.set()

    async def _attempt(self, client: httpx.AsyncClient, delivery_id: UUID) -> None:
        retry_at: datetime | None = None
        try:
            attempt = await asyncio.to_thread(
                self.app.prepare_attempt, delivery_id, datetime.now(UTC)
            )
            if attempt is not None:
                attempted_at = datetime.now(UTC)
                status_code, error = await post(
                    client, attempt, self.guard, self.limits, int(time.time())
                )
                await asyncio.to_thread(
                    self.app.record_attempt,
                    delivery_id,
                    attempted_at,
                    status_code,
                    error,
                    random.random(),
                    self.policy,
                )
        except Exception:
            log.exception("webhook delivery %s could not be attempted or recorded", delivery_id)
            retry_at = datetime.now(UTC) + timedelta(seconds=5)
        try:
            await asyncio.to_thread(self.log.release, delivery_id, self.owner, retry_at)
        except Exception:  # the lease runs out by itself
            log.exception("releasing webhook delivery %s failed", delivery_id)


def new_client(limits: AttemptLimits, verify: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    """The worker's HTTP client: no redirects, no proxies from the environment, and no
    connection kept for reuse (a kept TLS connection was verified for another name)."""
    return httpx.AsyncClient(
        timeout=limits.deadline_s,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
        verify=verify,
    )


async def post(
    client: httpx.AsyncClient,
    attempt: Attempt,
    guard: TargetGuard,
    limits: AttemptLimits,
    timestamp: int,
) -> tuple[int | None, str | None]:
    """POST the signed body once: the status code, or a coarse error.

    Within one deadline: resolve and check the target, connect to the checked address
    (the URL's host in `Host` and in TLS), send, read the status and at most
    `max_response_bytes` of the body. What went wrong in detail goes to the log only.
    """
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "aftersales-webhooks/1",
        WEBHOOK_SIGNATURE_HEADER: sign_webhook(attempt.secret, timestamp, attempt.body),
        "X-Aftersales-Event-Type": attempt.event_type,
        "X-Aftersales-Event-Id": attempt.event_id,
        "X-Aftersales-Delivery-Id": str(attempt.delivery_id),
    }
    status: int | None = None
    with span(
        f"webhook {attempt.event_type}",
        context_for_trace(attempt.trace_id),
        SpanKind.CLIENT,
        **{"aftersales.delivery_id": str(attempt.delivery_id)},
    ) as current:
        inject_headers(headers)
        try:
            async with asyncio.timeout(limits.deadline_s):
                pinned = await guard.admit(attempt.url)
                headers["Host"] = pinned.host_header
                extensions = {"sni_hostname": pinned.server_name} if pinned.server_name else {}
                async with client.stream(
                    "POST", pinned.url, content=attempt.body, headers=headers, extensions=extensions
                ) as response:
                    status = response.status_code
                    current.set_attribute("http.status_code", status)
                    await _read_at_most(response, limits.max_response_bytes)
        except TargetRefused as refused:
            log.info("webhook delivery %s refused: %s", attempt.delivery_id, refused)
            return None, TARGET_NOT_ALLOWED
        except (TimeoutError, httpx.TimeoutException) as error:
            if status is None:
                _log_failure(attempt, error)
                return None, TIMEOUT
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as error:
            if status is None:
                _log_failure(attempt, error)
                return None, CONNECTION_FAILED
    return status, None


async def _read_at_most(response: httpx.Response, limit: int) -> None:
    """Read the body up to `limit` bytes (an answer's body is none of our business)."""
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read >= limit:
            return


def _log_failure(attempt: Attempt, error: BaseException) -> None:
    log.info(
        "webhook delivery %s failed: %s: %s", attempt.delivery_id, type(error).__name__, error
    )


async def _nap(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
    _, pending = await asyncio.wait(waiters, timeout=seconds, return_when="FIRST_COMPLETED")
    for waiter in pending:
        waiter.cancel()
