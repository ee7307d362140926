"""The consumer runner: a durable pull consumer whose position lives in the service's store.

Exactly once, in order: the runner processes only the message right after its recorded
position. The new events and the tracking position (upstream, stream sequence) are saved
in one transaction. On start, and whenever a delivery does not follow the position (a
gap), the durable consumer is deleted and re-created at the recorded position + 1, so a
dead process's unacked messages can never be overtaken. A redelivery at or below the
position is acked and skipped. A message that fails N times is recorded as a dead letter
with its tracking position (the relay publishes it to the service's dead-letter stream),
so the stream moves on. Messages the stream discarded before they were processed, and a
stream that ends before the recorded position, are reported loudly (log, metrics, readyz).
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, Tracking
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from opentelemetry.trace import SpanKind

from shared.bus import Bus
from shared.contracts import ContractError, ContractEvent, parse_contract
from shared.dead_letters import safe_reason
from shared.store import ServiceApplication
from shared.telemetry import context_from_headers, span

log = logging.getLogger("aftersales.consumer")
TRANSIENT = (OperationalError, InterfaceError, ConnectionError)
IDLE_CHECK_S = 2.0  # while idle, confirm this often that the durable and the stream are sane
WAIT_FOR_STREAM_S = 0.25


def tracking_name(upstream: str, partition: str | None = None) -> str:
    """The tracking position's name: one per (upstream stream, partition).

    Unpartitioned it is the plain stream name, which existing stores already use.
    """
    return upstream if partition is None else f"{upstream}/{partition}"


class ConsumerRunner:
    """Feeds one upstream stream (or one partition of it) into a service application."""

    def __init__(
        self,
        app: ServiceApplication,
        bus: Bus,
        upstream: str,
        max_deliveries: int = 5,
        batch_size: int = 100,
        partition: str | None = None,
        filter_subject: str | None = None,
        instance: str = "",
    ) -> None:
        if (partition is None) != (filter_subject is None):
            raise ValueError("a partition needs its filter subject, and only a partition has one")
        self.app = app
        self.bus = bus
        self.upstream = upstream
        self.tracking = tracking_name(upstream, partition)
        suffix = "".join(f"-{part}" for part in (partition, instance) if part)
        self.durable = f"{app.service}-from-{upstream.lower()}{suffix}"
        self.filter_subject = filter_subject
        self.max_deliveries = max_deliveries
        self.batch_size = batch_size
        self.position = 0  # the last upstream sequence recorded in the store
        self.next_sequence = 1  # the only sequence that may be processed next
        self.status = "starting"  # waiting-for-stream | holding | running | stopped
        self.problem: str | None = None  # why the runner is not consuming, for /readyz
        self.losses: list[dict[str, Any]] = []  # sequences discarded before processing
        self.processed = 0
        self.skipped = 0
        self.dead_lettered = 0
        self.gaps = 0
        self.lost = 0
        self.repositions = 0
        self.settled = asyncio.Event()  # consuming, or known to be waiting: start may go on
        self._epoch = -1

    @property
    def ready(self) -> bool:
        return self.status == "running"

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop`; reposition on start, on a gap and after a reconnect."""
        try:
            while not stop.is_set():
                sub = await self._position(stop)
                if sub is None:
                    return
                try:
                    await self._consume(sub, stop)
                finally:
                    await _quietly(sub.unsubscribe())
        finally:
            self.status = "stopped"

    async def _position(self, stop: asyncio.Event) -> JetStreamContext.PullSubscription | None:
        """Re-create the durable at the recorded position + 1, once the stream allows it."""
        epoch = self.bus.epoch
        self.position = await asyncio.to_thread(self.app.position, self.tracking)
        while not stop.is_set():
            try:
                first, last = await self.bus.stream_bounds(self.upstream)
            except NotFoundError:
                self._not_consuming(
                    "waiting-for-stream",
                    f"upstream stream {self.upstream} does not exist yet (its owner creates it)",
                )
                await _sleep(stop, WAIT_FOR_STREAM_S)
                continue
            if last < self.position:
                self._hold(last)
                await _sleep(stop, 1.0)
                continue
            next_sequence = self.position + 1
            if first > next_sequence:
                self._record_loss(next_sequence, first - 1)
                next_sequence = first
            self.next_sequence = next_sequence
            sub = await self.bus.position_consumer(
                self.upstream, self.durable, next_sequence, self.filter_subject
            )
            self.repositions += 1
            self._epoch = epoch
            self.status, self.problem = "running", None
            self.settled.set()
            log.info(
                "%s consumes %s from sequence %s", self.app.service, self.tracking, next_sequence
            )
            return sub
        return None

    def _not_consuming(self, status: str, problem: str) -> None:
        if self.problem != problem:
            log.warning("%s: %s", self.durable, problem)
        self.status, self.problem = status, problem
        self.settled.set()

    def _hold(self, last: int) -> None:
        """The stream ends before the recorded position: it lost messages (a restored or
        re-created stream). New messages would get sequences already recorded and be
        skipped as done, so nothing is consumed until the stream reaches the position
        again (the owner's relay re-publishes its log in the same order)."""
        problem = (
            f"{self.upstream} ends at sequence {last} but {self.tracking} is recorded up to "
            f"{self.position}: the stream lost messages; holding until it reaches the "
            "recorded position (nothing is skipped)"
        )
        if self.problem != problem:
            log.error("%s: %s", self.durable, problem)
        self.status, self.problem = "holding", problem
        self.settled.set()

    def _record_loss(self, first: int, last: int) -> None:
        """Messages first..last left the stream (limits) before this consumer saw them."""
        count = last - first + 1
        self.lost += count
        what = "messages" if self.filter_subject is None else "messages (any partition)"
        loss = {
            "first": first,
            "last": last,
            "count": count,
            "detail": f"{self.upstream} discarded {what} {first}..{last} before {self.tracking} "
            "processed them; moving on from the first available sequence",
            "at": time.time(),
        }
        self.losses = [*self.losses[-9:], loss]
        log.error("%s: %s", self.durable, loss["detail"])

    async def _consume(self, sub: JetStreamContext.PullSubscription, stop: asyncio.Event) -> None:
        """Process deliveries in order; return when the consumer must be repositioned."""
        checked = time.monotonic()
        while not stop.is_set():
            if self.bus.epoch != self._epoch:
                log.warning("%s: reconnected to NATS, repositioning", self.durable)
                return
            try:
                msgs = await sub.fetch(1, timeout=1.0)  # wakes on the first message
            except TimeoutError:
                if time.monotonic() - checked > IDLE_CHECK_S:
                    checked = time.monotonic()
                    if not await self._still_positioned():
                        return
                continue
            except Exception as error:  # the durable vanished, connection trouble
                if stop.is_set():
                    return
                log.warning("fetch from %s failed (%r): repositioning", self.upstream, error)
                await _sleep(stop, 0.5)
                return
            while msgs and not stop.is_set():
                if not await self.handle_batch(msgs, stop):
                    return
                msgs = await self._already_there(sub)

    async def _still_positioned(self) -> bool:
        """False when the durable is gone or the stream ends before the position."""
        try:
            await self.bus.js.consumer_info(self.upstream, self.durable)
            _, last = await self.bus.stream_bounds(self.upstream)
        except NotFoundError:
            return False
        return last >= self.position

    async def _already_there(self, sub: JetStreamContext.PullSubscription) -> list[Msg]:
        """Up to a batch of messages already waiting, without lingering for more.

        A plain fetch(batch) long-polls until the batch is full or the request expires,
        which would hold a lone message back for the whole expiry when traffic is sparse.
        """
        try:
            return await sub.fetch(self.batch_size, timeout=0.005)
        except Exception:
            return []

    async def handle_batch(self, msgs: list[Msg], stop: asyncio.Event) -> bool:
        """Process deliveries in order, runs of next messages in one transaction each.

        A run holds the messages that follow the position one after the other (on the
        filter: each the next on our subject) and parse: they are processed in ONE
        transaction, each in a savepoint with its own tracking row, then committed once
        and acked. Anything else (a redelivery, a gap, an unreadable message) and a
        message that fails in a run goes through `handle` alone, exactly as before.
        False when a gap needs repositioning.
        """
        run: list[tuple[Msg, Tracking, ContractEvent]] = []
        expected = self.next_sequence
        for msg in msgs:
            if stop.is_set():
                return True
            sequence = int(msg.metadata.sequence.stream)
            contract = await self._next_in_run(msg, sequence, expected)
            if contract is not None:
                run.append((msg, Tracking(self.tracking, sequence), contract))
                expected = sequence + 1
                continue
            if not await self._process_run(run, stop) or not await self.handle(msg, stop):
                return False
            run, expected = [], self.next_sequence
        return await self._process_run(run, stop)

    async def _next_in_run(self, msg: Msg, sequence: int, expected: int) -> ContractEvent | None:
        """The message's contract when it may join a run that expects `expected` next."""
        if sequence <= self.position:
            return None
        if sequence != expected:
            if self.filter_subject is None:
                return None
            found = await self.bus.next_sequence(self.upstream, expected, self.filter_subject)
            if found != sequence:
                return None
        try:
            return parse_contract(msg.data)
        except ContractError:
            return None

    async def _process_run(
        self, run: list[tuple[Msg, Tracking, ContractEvent]], stop: asyncio.Event
    ) -> bool:
        """Process a run in one transaction; a failing message goes alone (`handle`)."""
        while run:
            observed_at = datetime.now(UTC)  # the inputs' time: read once here, recorded
            contexts = [context_from_headers(msg.headers) for msg, _, _ in run]
            try:
                results, failure = await asyncio.to_thread(
                    self._process_in_one_transaction, run, contexts, observed_at
                )
            except Exception as error:  # the commit failed: nothing of the run is there
                log.warning("a run of %s from %s failed: %r", len(run), self.tracking, error)
                results, failure = [], error
            for (msg, tracking, _), done in zip(run, results, strict=False):
                sequence = tracking.notification_id
                self.position, self.next_sequence = sequence, sequence + 1
                if done:
                    self.processed += 1
                else:
                    self.skipped += 1
                await _quietly(msg.ack())
            run = run[len(results) :]
            if failure is None or not run:
                return True
            # the first message left failed (or the whole run did): alone, with its retries
            msg = run.pop(0)[0]
            if not await self.handle(msg, stop):
                return False
            if stop.is_set():
                return True
        return True

    def _process_in_one_transaction(
        self,
        run: list[tuple[Msg, Tracking, ContractEvent]],
        contexts: list[Any],
        observed_at: datetime,
    ) -> tuple[list[bool], Exception | None]:
        """In a worker thread: the run's messages in savepoints of one transaction; stops
        at the first that raises (rolled back alone) and commits those before it."""
        results: list[bool] = []
        failure: Exception | None = None
        app = self.app
        with app.unit_of_work() as work:
            for (_, tracking, contract), context in zip(run, contexts, strict=True):
                try:
                    with span(
                        f"process {contract.type}",
                        context,
                        SpanKind.CONSUMER,
                        **{
                            "aftersales.service": app.service,
                            "aftersales.event_id": str(contract.event_id),
                        },
                    ), app.step(work):
                        results.append(app.process_contract(contract, tracking, observed_at))
                except Exception as error:
                    log.warning("%s %s failed in a run: %r", contract.type, tracking, error)
                    failure = error
                    break
        return results, failure

    async def handle(self, msg: Msg, stop: asyncio.Event) -> bool:
        """Process one delivery if it is the next one; False when a gap needs repositioning."""
        sequence = int(msg.metadata.sequence.stream)
        if sequence <= self.position:  # a redelivery of what is recorded
            self.skipped += 1
            await _quietly(msg.ack())
            return True
        if sequence != self.next_sequence and not await self._next_on_filter(sequence):
            # Another process sharing the store may have moved the position on.
            self.position = await asyncio.to_thread(self.app.position, self.tracking)
            if sequence <= self.position:
                self.skipped += 1
                await _quietly(msg.ack())
                return True
            self.gaps += 1
            log.warning(
                "%s: got sequence %s, expected %s: repositioning, nothing is skipped",
                self.durable,
                sequence,
                self.next_sequence,
            )
            return False
        tracking = Tracking(self.tracking, sequence)
        if not await self._process(msg, tracking, stop):
            return True  # stopping: not acked, redelivered after restart
        self.position, self.next_sequence = sequence, sequence + 1
        await _quietly(msg.ack())
        return True

    async def _next_on_filter(self, sequence: int) -> bool:
        """With a filter, messages of other partitions sit between ours: `sequence` is next
        when it is the first message on our subject at or after the expected sequence."""
        if self.filter_subject is None:
            return False
        found = await self.bus.next_sequence(
            self.upstream, self.next_sequence, self.filter_subject
        )
        return found == sequence

    async def _process(self, msg: Msg, tracking: Tracking, stop: asyncio.Event) -> bool:
        """Process (or dead-letter) one message; False only when stopping mid-way."""
        observed_at = datetime.now(UTC)  # the input's time: read once here, recorded with it
        try:
            contract = parse_contract(msg.data)
        except ContractError as error:
            deliveries = int(msg.metadata.num_delivered)
            await self._dead_letter(msg, tracking, safe_reason(error), deliveries, observed_at)
            return True
        context = context_from_headers(msg.headers)
        attempt = 1
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
                    return False
                await _sleep(stop, 1.0)
            except Exception as error:
                log.exception("processing %s %s failed (try %s)", contract.type, tracking, attempt)
                if attempt >= self.max_deliveries:
                    await self._dead_letter(msg, tracking, safe_reason(error), attempt, observed_at)
                    return True
                attempt += 1
                await asyncio.sleep(min(0.05 * 2**attempt, 2.0))
        if done:
            self.processed += 1
        else:
            self.skipped += 1
        return True

    async def _dead_letter(
        self, msg: Msg, tracking: Tracking, error: str, tries: int, observed_at: datetime
    ) -> None:
        """Record the poison message with its position; the relay publishes it."""
        log.error("dead-lettering %s after %s tries: %s", tracking, tries, error)
        recorded = await asyncio.to_thread(
            self.app.record_dead_letter, tracking, msg.subject, error, msg.data, tries, observed_at
        )
        if recorded:
            self.dead_lettered += 1

    async def lag(self) -> int | None:
        """Upstream messages not yet processed (None while not consuming)."""
        if not self.ready:
            return None
        if self.filter_subject is None:
            _, last = await self.bus.stream_bounds(self.upstream)
            return max(0, last - self.position)
        return await self.bus.consumer_lag(self.upstream, self.durable)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake as soon as `stop` is set."""
    with suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _quietly(awaitable: object) -> None:
    try:
        await awaitable  # type: ignore[misc]
    except Exception as error:
        log.debug("ignored: %s", error)
