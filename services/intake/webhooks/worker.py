"""The delivery worker: takes due deliveries from the log, POSTs them signed, records each.

A background job of the intake process; a few deliveries are in flight at once and a
slow brand endpoint never holds up the event flow.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import httpx
from opentelemetry.trace import SpanKind

from services.intake.webhooks.delivery_log import DeliveryLog, delivery_log
from services.intake.webhooks.policy import BackoffPolicy
from services.intake.webhooks.service import Attempt, WebhookUseCases
from shared.security import WEBHOOK_SIGNATURE_HEADER, sign_webhook
from shared.service import Runtime
from shared.telemetry import context_for_trace, inject_headers, span

log = logging.getLogger("aftersales.webhooks")
PARALLEL_DELIVERIES = 8
REQUEST_TIMEOUT_S = 10.0


async def deliver_webhooks(runtime: Runtime) -> None:
    """Background job: POST due deliveries, a few at once, until the service stops."""
    app = runtime.application
    assert isinstance(app, WebhookUseCases)
    worker = DeliveryWorker(app, delivery_log(runtime), runtime.settings.webhook_base_delay_s)
    await worker.run(runtime.stop)


class DeliveryWorker:
    """Takes due deliveries from the log, POSTs them concurrently, records each attempt."""

    def __init__(self, app: WebhookUseCases, log: DeliveryLog, base_delay_s: float) -> None:
        self.app = app
        self.log = log
        # Leases in the store name their holder: one per worker, unique across processes.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:8]}"
        self.policy = BackoffPolicy(base_delay_s=base_delay_s)
        self.wake = asyncio.Event()
        self.in_flight: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()

        def recorded() -> None:  # called from whichever thread recorded events
            loop.call_soon_threadsafe(self.wake.set)

        self.app.add_listener(recorded)
        async with httpx.AsyncClient(
            timeout=REQUEST_TIMEOUT_S, follow_redirects=False, trust_env=False
        ) as client:
            while not stop.is_set():
                self.wake.clear()
                wait = await self._dispatch(client)
                await _nap(self.wake, stop, wait)
            if self.in_flight:
                await asyncio.gather(*self.in_flight, return_exceptions=True)

    async def _dispatch(self, client: httpx.AsyncClient) -> float:
        """Start what is due; return how long to sleep before looking again."""
        now = datetime.now(UTC)
        free = PARALLEL_DELIVERIES - len(self.in_flight)
        try:
            taken = await asyncio.to_thread(self.log.claim_due, self.owner, now, free)
            until_due = await asyncio.to_thread(self.log.seconds_until_due, now)
        except Exception:
            log.exception("reading the webhook delivery log failed")
            return 1.0
        for delivery_id in taken:
            task = asyncio.create_task(self._attempt(client, delivery_id))
            self.in_flight.add(task)
            task.add_done_callback(self._finished)
        # Another process's new deliveries wake nobody here: look again within a second.
        return 1.0 if until_due is None else min(1.0, max(until_due, 0.005))

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        self.wake.set()

    async def _attempt(self, client: httpx.AsyncClient, delivery_id: UUID) -> None:
        retry_at: datetime | None = None
        try:
            attempt = await asyncio.to_thread(
                self.app.prepare_attempt, delivery_id, datetime.now(UTC)
            )
            if attempt is not None:
                attempted_at = datetime.now(UTC)
                status_code, error = await post(client, attempt, int(time.time()))
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


async def post(
    client: httpx.AsyncClient, attempt: Attempt, timestamp: int
) -> tuple[int | None, str | None]:
    """POST the signed body once; the status code, or the transport error."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "aftersales-webhooks/1",
        WEBHOOK_SIGNATURE_HEADER: sign_webhook(attempt.secret, timestamp, attempt.body),
        "X-Aftersales-Event-Type": attempt.event_type,
        "X-Aftersales-Event-Id": attempt.event_id,
        "X-Aftersales-Delivery-Id": str(attempt.delivery_id),
    }
    with span(
        f"webhook {attempt.event_type}",
        context_for_trace(attempt.trace_id),
        SpanKind.CLIENT,
        **{"aftersales.delivery_id": str(attempt.delivery_id)},
    ) as current:
        inject_headers(headers)
        try:
            # Streamed and not read: an endpoint's response body is none of our business.
            async with client.stream(
                "POST", attempt.url, content=attempt.body, headers=headers
            ) as response:
                current.set_attribute("http.status_code", response.status_code)
                return response.status_code, None
        except httpx.HTTPError as error:
            return None, f"{type(error).__name__}: {error}"[:500]


async def _nap(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
    _, pending = await asyncio.wait(waiters, timeout=seconds, return_when="FIRST_COMPLETED")
    for waiter in pending:
        waiter.cancel()
