"""The outbox relay: tails a service's own notification log and publishes it to JetStream.

Nothing is published from a request handler or a consumer. Contract events go to the
service's stream; dead letters (recorded by a consumer with their tracking position)
go to the service's dead-letter stream. After a restart, a reconnect or a failed
publish the relay resumes from the notification id in the last message of those
streams; a notification published twice is dropped by JetStream's Msg-Id dedup. A
notification that cannot be published stops the relay there: it retries, never skips,
and says which notification is stuck and why (`stuck`, shown by /readyz).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from eventsourcing.sqlite import SQLiteApplicationRecorder
from nats.errors import NoRespondersError
from nats.js.errors import NoStreamResponseError, NotFoundError
from opentelemetry.trace import SpanKind

from shared.bus import (
    HEADER_EVENT_TYPE,
    HEADER_MSG_ID,
    HEADER_NOTIFICATION,
    HEADER_SCHEMA,
    HEADER_TRACEPARENT,
    Bus,
    Outgoing,
    PublishFailed,
    dead_letter_stream,
    dead_letter_subject,
)
from shared.contracts import STREAMS, ContractEvent
from shared.store import ServiceApplication
from shared.telemetry import context_for_trace, tracer

log = logging.getLogger("aftersales.outbox")
IDLE_SLEEP_MIN, IDLE_SLEEP_MAX = 0.005, 0.25
INLINE_PAGE_SIZE = 50  # notifications read on the loop at most (SQLite, following the tail)
RETRY_SLEEP_MAX = 5.0
DEAD_LETTER_TOPIC = "shared.DeadLetter.MessageDeadLettered"


class UnpublishableNotification(Exception):
    """A stored event that cannot become a message (e.g. it breaks its contract)."""

    def __init__(self, notification_id: int, error: Exception) -> None:
        super().__init__(f"notification {notification_id}: {error!r}")
        self.notification_id = notification_id
        self.error = error


class OutboxRelay:
    """Publishes every notification of one application, in order, at least once."""

    def __init__(
        self,
        app: ServiceApplication,
        bus: Bus,
        page_size: int = 500,
        publish_timeout: float = 30.0,
    ) -> None:
        self.app = app
        self.bus = bus
        self.stream = STREAMS[app.service]
        self.dead_letters = dead_letter_stream(app.service)
        self.page_size = min(page_size, app.log_section_size)
        self.publish_timeout = publish_timeout
        self.position = 0
        self.published = 0
        self.failures = 0
        self.stuck: dict[str, Any] | None = None  # the notification that cannot be published
        self._wake = asyncio.Event()
        self._epoch = -1
        self._waiting: tuple[int, float] | None = None  # (first unpublished id, seen at)
        self._listening = False
        self._more = False  # the last page was full: more may follow at once
        self._inline_reads = isinstance(app.recorder, SQLiteApplicationRecorder)

    def wake(self) -> None:
        """Called (thread-safely) when the application recorded new events."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop`. Errors are retried here; a failed resume ends the task
        (its supervisor restarts it with backoff)."""
        if not self._listening:  # the supervisor may run this again: listen once
            loop = asyncio.get_running_loop()
            self.app.add_listener(lambda: _call_soon(loop, self._wake.set))
            self._listening = True
        stopping = asyncio.ensure_future(self._wake_on(stop))
        try:
            await self._relay(stop)
        finally:
            stopping.cancel()

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    async def _relay(self, stop: asyncio.Event) -> None:
        await self.resume()
        idle = IDLE_SLEEP_MIN
        while not stop.is_set():
            if self.bus.epoch != self._epoch:
                await self.resume()  # the server may have lost the stream's tail
            self._wake.clear()  # before reading: a wake during the read is not lost
            try:
                moved = await self.relay_once()
            except Exception as error:
                await self._failed(error)
                await self._sleep(stop, min(IDLE_SLEEP_MAX * 2**self.failures, RETRY_SLEEP_MAX))
                if not isinstance(error, UnpublishableNotification):
                    await self.resume()  # what did the server store before the failure?
                continue
            if self.stuck and self.position >= self.stuck["notification_id"]:
                self.failures, self.stuck = 0, None
            if moved:
                idle = IDLE_SLEEP_MIN
                if self._more or self._wake.is_set():
                    continue
                # The page was the log's tail and nothing was recorded in this process
                # since the read began: no read can find more until a wake (a commit
                # here) or the shortest poll (a commit by another process on the store).
            await self._sleep(stop, idle)
            idle = min(idle * 2, IDLE_SLEEP_MAX)

    async def _failed(self, error: Exception) -> None:
        self.failures += 1
        notification = self.position + 1
        if isinstance(error, UnpublishableNotification):
            notification, error = error.notification_id, error.error
        elif isinstance(error, PublishFailed):
            notification = error.message.notification_id
            error = error.error if isinstance(error.error, Exception) else error
        self.stuck = {
            "notification_id": notification,
            "error": f"{type(error).__name__}: {error}"[:500],
            "attempts": self.failures,
        }
        log.error(
            "relay for %s cannot publish notification %s (attempt %s): %r",
            self.stream,
            notification,
            self.failures,
            error,
        )
        if isinstance(error, NoStreamResponseError | NoRespondersError):
            try:  # our own stream is gone (a server that lost its state): it is ours to create
                await self.bus.ensure_own_streams(self.app.service)
            except Exception as again:
                log.warning("re-creating the streams of %s failed: %r", self.app.service, again)

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        """Until a wake (a commit here, or `stop`: see `_wake_on`) or `seconds` passed."""
        if stop.is_set() or self._wake.is_set():
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def resume(self) -> None:
        """Recover the position from the last message this service published."""
        epoch = self.bus.epoch
        try:
            own = await self.bus.last_notification_id(self.stream)
            dead = await self.bus.last_notification_id(self.dead_letters)
        except NotFoundError:  # a server that lost our streams: ours to re-create, and
            log.error("streams of %s missing: re-creating them", self.app.service)
            await self.bus.ensure_own_streams(self.app.service)  # to refill from the log
            own = await self.bus.last_notification_id(self.stream)
            dead = await self.bus.last_notification_id(self.dead_letters)
        self.position, self._epoch = max(own, dead), epoch
        log.info("relay for %s resumes after notification %s", self.stream, self.position)

    async def relay_once(self) -> bool:
        """Publish the next page of notifications; True if the position moved.

        A notification that cannot be turned into a message stops the page right before
        it: what precedes it is published, it is retried, nothing after it is skipped to.
        """
        start = self.position + 1
        inline = self._inline_reads and not self._more  # following the tail: see `_read`
        limit = min(self.page_size, INLINE_PAGE_SIZE) if inline else self.page_size
        self._more = False
        try:
            messages, last = await self._read(inline, self._read_page, start, limit)
        except Exception:
            messages, last = await self._read(False, self._read_until_failure, start)
        if not last:
            return False
        self._more = last - start + 1 >= limit  # ids may skip: it may say so wrongly
        if messages:
            try:
                await self.bus.publish_batch(messages, self.publish_timeout)
            except PublishFailed as failed:  # what went before it is stored: move past it
                self.published += failed.stored
                self.position = max(self.position, failed.message.notification_id - 1)
                raise
            self.published += len(messages)
        self.position = last
        return True

    async def _read(
        self, inline: bool, read: Callable[..., tuple[list[Outgoing], int]], *args: int
    ) -> tuple[list[Outgoing], int]:
        """A read of the log: following the tail of SQLite right here, else in a thread.

        A short page of SQLite's own file is read in a fraction of a millisecond, less than
        the hop to a worker thread and back costs; that hop also waits for the GIL behind
        the busy loop (up to the 5 ms switch interval), once per relayed batch. A backlog
        (the last page was full) is read in full pages in a thread, so the loop is never
        held for long, and a networked store (PostgreSQL) always is.
        """
        if inline:
            return read(*args)
        return await asyncio.to_thread(read, *args)

    def _read_until_failure(self, start: int) -> tuple[list[Outgoing], int]:
        """One notification at a time, up to the first that fails (raised if it is first)."""
        out: list[Outgoing] = []
        last = 0
        for notification_id in range(start, start + self.page_size):
            try:
                messages, read = self._read_page(notification_id, 1)
            except Exception as error:
                if not last:
                    raise UnpublishableNotification(notification_id, error) from error
                break
            if not read:
                break
            out.extend(messages)
            last = read
        return out, last

    def _read_page(self, start: int, limit: int) -> tuple[list[Outgoing], int]:
        """The messages of notifications from `start`, and the last id read (0: none).

        Internal events publish nothing (the position still moves past them), except
        dead letters, which go to the service's dead-letter stream.
        """
        page = list(self.app.contracts_since(start, limit))
        if not page:
            return [], 0
        internal = [nid for nid, event in page if event is None]
        letters = self._dead_letters(internal[0], internal[-1]) if internal else {}
        out: list[Outgoing] = []
        for nid, event in page:
            if event is not None:
                out.append(_contract_message(nid, event))
            elif nid in letters:
                out.append(letters[nid])
        return out, page[-1][0]

    def _dead_letters(self, first: int, last: int) -> dict[int, Outgoing]:
        found = self.app.recorder.select_notifications(
            first, last - first + 1, stop=last, topics=[DEAD_LETTER_TOPIC]
        )
        letters: dict[int, Outgoing] = {}
        for notification in found:
            letter = self.app.mapper.to_domain_event(notification)
            upstream, sequence = getattr(letter, "stream"), getattr(letter, "sequence")  # noqa: B009
            headers = {
                HEADER_MSG_ID: f"{self.app.service}-{notification.id}",
                HEADER_NOTIFICATION: str(notification.id),
                "Aftersales-Error": str(getattr(letter, "error"))[:500],  # noqa: B009
                "Aftersales-Original-Subject": str(getattr(letter, "subject")),  # noqa: B009
                "Aftersales-Original-Sequence": str(sequence),
                "Aftersales-Deliveries": str(getattr(letter, "deliveries")),  # noqa: B009
            }
            letters[notification.id] = Outgoing(
                notification.id,
                self.dead_letters,
                dead_letter_subject(self.app.service, str(upstream).split("/", 1)[0]),
                str(getattr(letter, "data")).encode(),  # noqa: B009
                headers,
            )
        return letters

    def lag(self) -> int:
        return max(0, (self.app.recorder.max_notification_id() or 0) - self.position)

    def unpublished_age(self, max_notification_id: int) -> float:
        """Seconds the first unpublished notification has been waiting (as seen here)."""
        if max_notification_id <= self.position:
            self._waiting = None
            return 0.0
        first = self.position + 1
        if self._waiting is None or self._waiting[0] != first:
            self._waiting = (first, time.monotonic())
        return time.monotonic() - self._waiting[1]


def _contract_message(notification_id: int, event: ContractEvent) -> Outgoing:
    headers = {
        HEADER_MSG_ID: f"{event.service}-{notification_id}",
        HEADER_EVENT_TYPE: event.type,
        HEADER_SCHEMA: event.schema_version,
        HEADER_NOTIFICATION: str(notification_id),
        HEADER_TRACEPARENT: _traceparent(event),
    }
    return Outgoing(notification_id, event.stream, event.subject, event.to_json(), headers)


def _traceparent(event: ContractEvent) -> str:
    """A producer span in the event's own trace; its context rides in the headers.

    The span is started and ended here without becoming the current span, and its W3C
    traceparent is written directly: the same span and header as through the context
    manager and the global propagator, at a fraction of the cost per message.
    """
    producer = tracer().start_span(
        f"publish {event.type}",
        context_for_trace(event.trace_id),
        SpanKind.PRODUCER,
        attributes={
            "messaging.destination": event.stream,
            "aftersales.event_id": str(event.event_id),
        },
    )
    producer.end()
    context = producer.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    if not loop.is_closed():
        loop.call_soon_threadsafe(callback)
