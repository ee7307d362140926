"""NATS JetStream: connection, the platform's streams, publishing with headers, reading.

Every service publishes to its own stream only; subjects are
`<service>.<brand>.<complaint_id>.<EventType>` so a complaint's events can be read
back per brand without touching anyone's database. Streams have owners: a service
creates and configures only its own stream and its own dead-letter stream
(`DLQ_<SERVICE>`, subjects `dlq.<service>.>`); it reads other streams once they exist.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from nats.aio.client import Client
from nats.aio.subscription import Subscription
from nats.errors import AuthorizationError
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from shared.contracts import STREAMS
from shared.natsauth import inbox_prefix

log = logging.getLogger("aftersales.bus")
DUPLICATE_WINDOW_S = 300.0
STALL_S = 2.0  # no publish ack for this long: look for a refused message
REPEAT_LOG_S = 60.0  # the same NATS error is logged again only after this long
CREDENTIAL_SETTINGS = "AFTERSALES_NATS_USER / AFTERSALES_NATS_PASSWORD"
# Before streams had owners one shared stream took every dead letter on `dlq.>`; its
# subjects would overlap the per-service ones, so it is moved aside (its messages kept).
LEGACY_DEAD_LETTER_STREAM = "DEADLETTER"
LEGACY_DEAD_LETTER_SUBJECTS = ["deadletter-legacy.>"]
HEADER_EVENT_TYPE = "Aftersales-Event-Type"
HEADER_SCHEMA = "Aftersales-Schema-Version"
HEADER_NOTIFICATION = "Aftersales-Notification-Id"
HEADER_TRACEPARENT = "traceparent"
HEADER_MSG_ID = "Nats-Msg-Id"
# What a direct get adds to a stored message's own headers.
DIRECT_GET_HEADERS = frozenset(
    {
        "Nats-Stream",
        "Nats-Subject",
        "Nats-Sequence",
        "Nats-Time-Stamp",
        "Nats-Num-Pending",
        "Nats-Last-Sequence",
    }
)


def dead_letter_stream(service: str) -> str:
    """The stream holding what `service` could not process (owned by `service`)."""
    return f"DLQ_{service.upper()}"


def dead_letter_subject(service: str, upstream: str) -> str:
    return f"dlq.{service}.{upstream}"


@dataclass(frozen=True)
class StreamLimits:
    """How a service configures the streams it owns (from settings)."""

    max_age_s: float = 0.0  # 0: no limit
    max_bytes: int = -1
    max_msgs: int = -1
    duplicate_window_s: float = DUPLICATE_WINDOW_S
    replicas: int = 1


@dataclass(frozen=True)
class Outgoing:
    """One message the relay publishes: a notification of the service's own log."""

    notification_id: int
    stream: str
    subject: str
    data: bytes
    headers: dict[str, str]


class DirectGetFailed(Exception):
    """A direct get was answered with an error status (e.g. the stream disallows it)."""


class NatsAuthRefused(ConnectionError):
    """NATS refused this process's credentials (wrong, missing, or a user it does not know)."""


class PublishFailed(Exception):
    """`message` was refused (or not acked); the `stored` messages before it were stored."""

    def __init__(self, message: Outgoing, stored: int, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.message = message
        self.stored = stored
        self.error = error


@dataclass(frozen=True)
class Published:
    """A message read back from a stream."""

    stream: str
    sequence: int
    subject: str
    data: bytes
    headers: dict[str, str]


def wait_for_port(url: str, timeout: float = 10.0) -> None:
    """Block until the server's TCP port accepts (nats.connect itself waits ~2 s per try)."""
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 4222
    end = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > end:
                raise ConnectionError(f"NATS at {host}:{port} is not reachable") from None
            time.sleep(0.02)


class Bus:
    """One NATS connection with JetStream, shared by a service's relay and consumers."""

    def __init__(
        self,
        nc: Client,
        js: JetStreamContext,
        limits: StreamLimits | None = None,
        state: dict[str, bool] | None = None,
        request_s: float = 10.0,
    ) -> None:
        self.nc = nc
        self.request_s = request_s
        self.js = js
        self.limits = limits or StreamLimits()
        self.state: dict[str, Any] = state if state is not None else {"closing": False}
        # Bumped on every reconnect: relay and consumers re-check their positions then
        # (a restarted server may have lost a stream's tail or a consumer's state).
        self.epoch = 0

    @classmethod
    async def connect(
        cls,
        url: str,
        name: str,
        limits: StreamLimits | None = None,
        request_s: float = 10.0,
        user: str = "",
        password: str = "",
    ) -> Bus:
        """Connect as `user` (or as the user in `url`); NatsAuthRefused, said once, if refused.

        nats-py retries a refused connect forever, calling only the error callback: the
        first refusal ends the attempt here instead, with a message naming the settings.
        """
        await asyncio.to_thread(wait_for_port, url)
        who = user or urlparse(url).username or ""
        state: dict[str, Any] = {"closing": False, "problem": None}
        holder: list[Bus] = []
        refused = asyncio.Event()
        errors = _ErrorLog()

        async def on_error(error: Exception) -> None:
            if _is_auth_error(error):
                problem = (
                    f"NATS refused the credentials of user {who or '(none)'!r} "
                    f"(check {CREDENTIAL_SETTINGS}): {error}"
                )
                if state["problem"] != problem:
                    log.error("%s", problem)  # once per streak, not once per retry
                state["problem"] = problem
                refused.set()
                return
            errors.warn(error)

        async def disconnected() -> None:
            if not state["closing"]:
                log.warning("NATS disconnected; reconnecting")

        async def reconnected() -> None:
            log.warning("NATS reconnected")
            state["problem"] = None
            for bus in holder:
                bus.epoch += 1

        async def closed() -> None:
            if not state["closing"]:
                state["problem"] = state["problem"] or "the NATS connection was closed"
                log.error("NATS connection closed for good: %s", state["problem"])

        credentials: dict[str, Any] = {"user": user, "password": password} if user else {}
        if who:
            credentials["inbox_prefix"] = inbox_prefix(who)
        nc = Client()
        connecting = asyncio.ensure_future(
            nc.connect(
                url,
                name=name,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,  # type: ignore[arg-type]  # typed int, a float works
                error_cb=on_error,
                disconnected_cb=disconnected,
                reconnected_cb=reconnected,
                closed_cb=closed,
                **credentials,
            )
        )
        waiting = asyncio.ensure_future(refused.wait())
        try:
            await asyncio.wait({connecting, waiting}, return_when=asyncio.FIRST_COMPLETED)
        finally:  # refused, or this call cancelled: stop nats-py's retrying
            waiting.cancel()
            if not connecting.done():
                state["closing"] = True
                await _abandon(nc, connecting)
        if connecting.cancelled():
            raise NatsAuthRefused(state["problem"])
        connecting.result()
        bus = cls(nc, nc.jetstream(timeout=request_s), limits, state, request_s)
        holder.append(bus)
        return bus

    @property
    def problem(self) -> str | None:
        """Why the connection is down, when NATS said (credentials refused, closed)."""
        problem: str | None = self.state.get("problem")
        return problem

    @property
    def connected(self) -> bool:
        return bool(self.nc.is_connected)

    async def ensure_own_streams(self, service: str) -> None:
        """Create or update the streams `service` owns: its own and its dead-letter stream."""
        await self._ensure(STREAMS[service], [f"{service}.>"])
        await self._retire_legacy_dead_letters()
        await self._ensure(dead_letter_stream(service), [f"dlq.{service}.>"])

    async def _retire_legacy_dead_letters(self) -> None:
        """Move the old shared DEADLETTER stream off `dlq.>`; nothing of it is deleted
        (each service's store also holds its dead letters, listed by /ops/dead-letters)."""
        try:
            info = await self.js.stream_info(LEGACY_DEAD_LETTER_STREAM)
        except NotFoundError:
            return
        if list(info.config.subjects or []) == LEGACY_DEAD_LETTER_SUBJECTS:
            return
        log.warning(
            "the shared stream %s is retired: its subjects move to %s, its %s messages stay",
            LEGACY_DEAD_LETTER_STREAM,
            LEGACY_DEAD_LETTER_SUBJECTS[0],
            info.state.messages,
        )
        info.config.subjects = LEGACY_DEAD_LETTER_SUBJECTS
        with suppress(NotFoundError):  # another service retired it meanwhile
            await self.js.update_stream(info.config)

    async def stream_exists(self, name: str) -> bool:
        try:
            await self.js.stream_info(name)
        except NotFoundError:
            return False
        return True

    async def stream_bounds(self, name: str) -> tuple[int, int]:
        """(first, last) sequence the stream holds now; NotFoundError if it is missing."""
        info = await self.js.stream_info(name)
        return int(info.state.first_seq or 0), int(info.state.last_seq or 0)

    async def next_sequence(self, stream: str, start: int, subject: str) -> int | None:
        """The sequence of the first message on `subject` at or after `start` (None: none)."""
        try:
            msg = await self.js.get_msg(stream, seq=start, subject=subject, next=True)
        except NotFoundError:
            return None
        return int(msg.seq) if msg.seq is not None else None

    async def _ensure(self, name: str, subjects: list[str]) -> None:
        limits = self.limits
        config = StreamConfig(
            name=name,
            subjects=subjects,
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            num_replicas=limits.replicas,
            duplicate_window=limits.duplicate_window_s,
            discard=DiscardPolicy.OLD,
            max_age=limits.max_age_s,
            max_bytes=limits.max_bytes,
            max_msgs=limits.max_msgs,
            allow_direct=True,
        )
        try:
            await self.js.stream_info(name)
        except NotFoundError:
            await self.js.add_stream(config)
            return
        await self.js.update_stream(config)

    async def publish_batch(self, messages: Sequence[Outgoing], ack_s: float = 30.0) -> None:
        """Publish in order and wait for every ack; PublishFailed names the first refused.

        The Msg-Id `<service>-<notification id>` makes a re-publish after a crash a no-op.
        Each run of messages to one stream is acked before the next run is sent: a later
        notification in one stream then proves the earlier ones stored, which is what the
        relay's resume relies on.
        """
        stored = 0
        run: list[Outgoing] = []
        for message in [*messages, None]:
            if run and (message is None or message.stream != run[0].stream):
                try:
                    await self._publish_run(run, ack_s)
                except PublishFailed as failed:
                    failed.stored += stored
                    raise
                stored += len(run)
                run = []
            if message is not None:
                run.append(message)

    async def _publish_run(self, run: Sequence[Outgoing], ack_s: float) -> None:
        futures = [
            await self.js.publish_async(m.subject, m.data, stream=m.stream, headers=m.headers)
            for m in run
        ]
        # A refused async publish only reaches the error callback and its future never
        # resolves: after a short stall, publish what is unacked again, in order and
        # synchronously (the Msg-Id dedups), so the first refusal raises with its reason.
        await asyncio.wait(futures, timeout=min(ack_s, STALL_S))
        for index, (message, future) in enumerate(zip(run, futures, strict=True)):
            if future.done() and not future.cancelled() and future.exception() is None:
                continue
            future.cancel()
            try:
                await self.js.publish(
                    message.subject,
                    message.data,
                    timeout=ack_s,
                    stream=message.stream,
                    headers=message.headers,
                )
            except Exception as error:
                for rest in futures[index + 1 :]:
                    rest.cancel()
                raise PublishFailed(message, index, error) from error

    async def last_notification_id(self, stream: str) -> int:
        """The notification id of the last message a service published (0 if none)."""
        info = await self.js.stream_info(stream)
        if not info.state.last_seq:
            return 0
        try:
            msg = await self.js.get_msg(stream, seq=info.state.last_seq)
        except NotFoundError:
            return 0
        return int((msg.headers or {}).get(HEADER_NOTIFICATION, "0"))

    async def position_consumer(
        self, stream: str, durable: str, next_sequence: int, filter_subject: str | None = None
    ) -> JetStreamContext.PullSubscription:
        """A durable pull consumer on `stream` whose first delivery is `next_sequence`.

        The tracking position in the service's own store is the truth, so the durable is
        always deleted and re-created there: a reused one would hand out new messages
        first and the unacked ones of a dead process only after `ack_wait`.
        """
        with suppress(NotFoundError):
            await self.js.delete_consumer(stream, durable)
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=60.0,
            max_deliver=-1,
            max_ack_pending=10_000,
            deliver_policy=(
                DeliverPolicy.BY_START_SEQUENCE if next_sequence > 1 else DeliverPolicy.ALL
            ),
            opt_start_seq=next_sequence if next_sequence > 1 else None,
            filter_subject=filter_subject,
        )
        return await self.js.pull_subscribe(
            filter_subject or f"{stream.lower()}.>", durable=durable, stream=stream, config=config
        )

    async def consumer_lag(self, stream: str, durable: str) -> int | None:
        try:
            info = await self.js.consumer_info(stream, durable)
        except NotFoundError:
            return None
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def read_subject(self, stream: str, subject: str, limit: int = 10_000) -> list[Published]:
        """Every stored message of a stream matching `subject`, in stream order."""
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=subject,
            inactive_threshold=30.0,
            mem_storage=True,
        )
        try:
            sub = await self.js.pull_subscribe(subject, stream=stream, config=config)
        except NotFoundError:  # the owner has not created its stream yet: nothing published
            return []
        try:
            info = await sub.consumer_info()
            remaining = min(int(info.num_pending or 0), limit)
            out: list[Published] = []
            while remaining > 0:
                msgs = await sub.fetch(min(remaining, 256), timeout=5)
                for msg in msgs:
                    meta = msg.metadata
                    out.append(
                        Published(
                            stream=stream,
                            sequence=int(meta.sequence.stream),
                            subject=msg.subject,
                            data=msg.data,
                            headers=dict(msg.headers or {}),
                        )
                    )
                remaining -= len(msgs)
            return out
        finally:
            await sub.unsubscribe()

    async def read_subject_direct(
        self, stream: str, subject: str, limit: int = 10_000, batch: int = 256
    ) -> list[Published]:
        """Every stored message of `stream` on `subject`, in stream order, with no consumer.

        JetStream batched direct get (`$JS.API.DIRECT.GET.<stream>`, `next_by_subj`, nats-server
        2.11+): the server answers a batch of messages then an end-of-batch status carrying how
        many more match, so a read costs one request per `batch` messages and leaves no state
        on the server (a consumer per read would live on after it). Needs `allow_direct`,
        which every stream of the platform has (`_ensure`).
        """
        inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(inbox)
        out: list[Published] = []
        try:
            start = 1
            while len(out) < limit:
                size = min(batch, limit - len(out))
                request = {"seq": start, "next_by_subj": subject, "batch": size}
                await self.nc.publish(
                    f"$JS.API.DIRECT.GET.{stream}", json.dumps(request).encode(), reply=inbox
                )
                more = await self._read_batch(sub, stream, out)
                if not more:
                    return out
                start = out[-1].sequence + 1
            return out
        finally:
            await sub.unsubscribe()

    async def _read_batch(self, sub: Subscription, stream: str, out: list[Published]) -> bool:
        """Collect one direct-get batch into `out`; True when more messages match."""
        while True:
            msg = await sub.next_msg(timeout=self.request_s)
            headers = dict(msg.headers or {})
            status = headers.get("Status")
            if status is None:
                out.append(
                    Published(
                        stream=stream,
                        sequence=int(headers["Nats-Sequence"]),
                        subject=headers["Nats-Subject"],
                        data=msg.data,
                        headers={
                            k: v for k, v in headers.items() if k not in DIRECT_GET_HEADERS
                        },
                    )
                )
                continue
            if status == "204":  # end of batch
                return int(headers.get("Nats-Num-Pending", "0")) > 0
            if status == "404":  # no (more) message on the subject
                return False
            if status == "503" and not await self.stream_exists(stream):
                return False  # the owner has not created its stream yet: nothing published
            description = headers.get("Description", "")
            raise DirectGetFailed(f"direct get on {stream} answered {status} {description}")

    async def close(self) -> None:
        self.state["closing"] = True  # a drain's disconnect is not worth a warning
        if self.nc.is_closed:
            return
        if not self.nc.is_connected:  # reconnecting (or refused): nothing to drain
            await self.nc.close()
            return
        await self.nc.drain()


async def _abandon(nc: Client, connecting: asyncio.Future[None]) -> None:
    connecting.cancel()
    with suppress(asyncio.CancelledError, Exception):
        await connecting
    with suppress(Exception):
        await nc.close()


def _is_auth_error(error: Exception) -> bool:
    """A refused CONNECT. nats-py types it only after the handshake (AuthorizationError);
    during the handshake it raises a plain Error carrying the server's -ERR text."""
    if isinstance(error, AuthorizationError):
        return True
    return isinstance(error, NatsError) and "authorization violation" in str(error).lower()


class _ErrorLog:
    """Warn about each distinct NATS error, then at most once per REPEAT_LOG_S: a permission
    refusal repeated on every retry says nothing new after the first time."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}  # error text -> when it was last logged

    def warn(self, error: Exception) -> None:
        key = f"{type(error).__name__}: {error}"
        now = time.monotonic()
        if now - self.last.get(key, -REPEAT_LOG_S) >= REPEAT_LOG_S:
            if len(self.last) >= 1000:  # distinct subjects in refusals: keep it bounded
                self.last.clear()
            self.last[key] = now
            log.warning("NATS error: %s", key)
