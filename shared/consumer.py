"""The consumer runner: a durable pull consumer whose position lives in the service's store.

Each message is processed once: the new events and the tracking position (upstream
stream, stream sequence) are saved in one transaction, a redelivered message whose
position is recorded is acked and skipped, and a message that fails N times goes to
the dead-letter subject with its error, recorded in the store so the stream moves on.
Messages are processed strictly in stream order, so order holds per complaint.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from eventsourcing.persistence import InterfaceError, OperationalError, Tracking
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from opentelemetry.trace import SpanKind

from shared.bus import Bus
from shared.contracts import ContractError, parse_contract
from shared.store import ServiceApplication
from shared.telemetry import context_from_headers, span

log = logging.getLogger("aftersales.consumer")
TRANSIENT = (OperationalError, InterfaceError, ConnectionError)


class ConsumerRunner:
    """Feeds one upstream stream into a service application, in order, exactly once."""

    def __init__(
        self,
        app: ServiceApplication,
        bus: Bus,
        upstream: str,
        max_deliveries: int = 5,
        batch_size: int = 100,
    ) -> None:
        self.app = app
        self.bus = bus
        self.upstream = upstream
        self.durable = f"{app.service}-from-{upstream.lower()}"
        self.max_deliveries = max_deliveries
        self.batch_size = batch_size
        self.processed = 0
        self.skipped = 0
        self.dead_lettered = 0
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        start = await asyncio.to_thread(self.app.position, self.upstream) + 1
        sub = await self.bus.pull_consumer(self.upstream, self.durable, start, self.max_deliveries)
        log.info("%s resumes at %s sequence %s", self.app.service, self.upstream, start)
        self.ready.set()
        try:
            while not stop.is_set():
                try:
                    msgs = await sub.fetch(1, timeout=1.0)  # wakes on the first message
                except TimeoutError:
                    continue
                except Exception as error:  # connection trouble: back off, keep going
                    if stop.is_set():
                        break
                    log.warning("fetch from %s failed: %s", self.upstream, error)
                    await asyncio.sleep(0.5)
                    continue
                while msgs and not stop.is_set():
                    for msg in msgs:
                        await self.handle(msg, stop)  # a drain finishes the batch in hand
                    msgs = await self._already_there(sub)
        finally:
            await _quietly(sub.unsubscribe())

    async def _already_there(self, sub: JetStreamContext.PullSubscription) -> list[Msg]:
        """Up to a batch of messages already waiting, without lingering for more.

        A plain fetch(batch) long-polls until the batch is full or the request expires,
        which would hold a lone message back for the whole expiry when traffic is sparse.
        """
        try:
            return await sub.fetch(self.batch_size, timeout=0.005)
        except Exception:
            return []

    async def handle(self, msg: Msg, stop: asyncio.Event) -> None:
        meta = msg.metadata
        tracking = Tracking(self.upstream, int(meta.sequence.stream))
        deliveries = int(meta.num_delivered)
        observed_at = datetime.now(UTC)  # the input's time: read once here, recorded with it
        try:
            contract = parse_contract(msg.data)
        except ContractError as error:
            await self._dead_letter(msg, tracking, str(error), deliveries, observed_at)
            return
        context = context_from_headers(msg.headers)
        attempt = deliveries
        while True:
            try:
                with span(
                    f"process {contract.type}",
                    context,
                    SpanKind.CONSUMER,
                    **{
                        "aftersales.service": self.app.service,
                        "aftersales.event_id": str(contract.event_id),
                    },
                ):
                    done = await asyncio.to_thread(
                        self.app.process_contract, contract, tracking, observed_at
                    )
                break
            except TRANSIENT as error:
                log.warning("store unavailable processing %s: %s", tracking, error)
                if stop.is_set():
                    return  # not acked: redelivered after restart
                await asyncio.sleep(1.0)
            except Exception as error:
                log.exception("processing %s %s failed (try %s)", contract.type, tracking, attempt)
                if attempt >= self.max_deliveries:
                    await self._dead_letter(msg, tracking, repr(error), attempt, observed_at)
                    return
                attempt += 1
                await asyncio.sleep(min(0.05 * 2**attempt, 2.0))
        if done:
            self.processed += 1
        else:
            self.skipped += 1
        await _quietly(msg.ack())

    async def _dead_letter(
        self, msg: Msg, tracking: Tracking, error: str, tries: int, observed_at: datetime
    ) -> None:
        log.error("dead-lettering %s after %s tries: %s", tracking, tries, error)
        recorded = await asyncio.to_thread(
            self.app.record_dead_letter, tracking, msg.subject, error, msg.data, tries, observed_at
        )
        if recorded:
            headers = {
                "Aftersales-Error": error[:500],
                "Aftersales-Original-Subject": msg.subject,
                "Aftersales-Original-Sequence": str(tracking.notification_id),
                "Nats-Msg-Id": f"dlq-{self.app.service}-{self.upstream}-{tracking.notification_id}",
            }
            await self.bus.dead_letter(self.app.service, self.upstream, msg.data, headers)
            self.dead_lettered += 1
        await _quietly(msg.ack())

    async def lag(self) -> int | None:
        return await self.bus.consumer_lag(self.upstream, self.durable)


async def _quietly(awaitable: object) -> None:
    try:
        await awaitable  # type: ignore[misc]
    except Exception as error:
        log.debug("ignored: %s", error)
