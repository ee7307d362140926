"""The outbox relay: tails a service's own notification log and publishes it to JetStream.

Nothing is published from a request handler. After a restart the relay resumes from
the notification id in the last message of its stream; a notification published twice
(a crash between publish and the next read) is dropped by JetStream's Msg-Id dedup.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from opentelemetry.trace import SpanKind

from shared.bus import Bus
from shared.contracts import STREAMS, ContractEvent
from shared.store import ServiceApplication
from shared.telemetry import context_for_trace, inject_headers, span

log = logging.getLogger("aftersales.outbox")
IDLE_SLEEP_MIN, IDLE_SLEEP_MAX = 0.005, 0.25


class OutboxRelay:
    """Publishes every notification of one application, in order, at least once."""

    def __init__(self, app: ServiceApplication, bus: Bus, page_size: int = 500) -> None:
        self.app = app
        self.bus = bus
        self.stream = STREAMS[app.service]
        self.page_size = min(page_size, app.log_section_size)
        self.position = 0
        self.published = 0
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Called (thread-safely) when the application recorded new events."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        self.app.add_listener(lambda: _call_soon(loop, self._wake.set))
        await self.resume()
        idle = IDLE_SLEEP_MIN
        while not stop.is_set():
            self._wake.clear()  # before reading: a wake during the read is not lost
            try:
                moved = await self.relay_once()
            except Exception:
                log.exception("relay for %s failed; retrying", self.stream)
                moved = False
                idle = IDLE_SLEEP_MAX
            if moved:
                idle = IDLE_SLEEP_MIN
                continue
            await self._sleep(stop, idle)
            idle = min(idle * 2, IDLE_SLEEP_MAX)

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        _, pending = await asyncio.wait(waiters, timeout=seconds, return_when="FIRST_COMPLETED")
        for waiter in pending:
            waiter.cancel()

    async def resume(self) -> None:
        """Recover the position from the last message this service published."""
        self.position = await self.bus.last_notification_id(self.stream)
        log.info("relay for %s resumes after notification %s", self.stream, self.position)

    async def relay_once(self) -> bool:
        """Publish the next page of notifications; True if the position moved."""
        page = await asyncio.to_thread(self._read_page, self.position + 1)
        if not page:
            return False
        batch = [(nid, event, _traceparent(event)) for nid, event in page if event is not None]
        if batch:
            await self.bus.publish_batch(batch)
            self.published += len(batch)
        self.position = page[-1][0]
        return True

    def _read_page(self, start: int) -> list[tuple[int, ContractEvent | None]]:
        return list(self.app.contracts_since(start, self.page_size))

    def lag(self) -> int:
        return max(0, (self.app.recorder.max_notification_id() or 0) - self.position)


def _traceparent(event: ContractEvent) -> str:
    """A producer span in the event's own trace; its context rides in the headers."""
    with span(
        f"publish {event.type}",
        context_for_trace(event.trace_id),
        SpanKind.PRODUCER,
        **{"messaging.destination": event.stream, "aftersales.event_id": str(event.event_id)},
    ):
        return inject_headers({}).get("traceparent", "")


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    if not loop.is_closed():
        loop.call_soon_threadsafe(callback)
