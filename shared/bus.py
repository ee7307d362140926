"""NATS JetStream: connection, the platform's streams, publishing with headers, reading.

Every service publishes to its own stream only; subjects are
`<service>.<brand>.<complaint_id>.<EventType>` so a complaint's events can be read
back per brand without touching anyone's database.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

import nats
from nats.aio.client import Client
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

from shared.contracts import STREAMS, ContractEvent

log = logging.getLogger("aftersales.bus")
DEAD_LETTER_STREAM = "DEADLETTER"
DUPLICATE_WINDOW_S = 300.0
HEADER_EVENT_TYPE = "Aftersales-Event-Type"
HEADER_SCHEMA = "Aftersales-Schema-Version"
HEADER_NOTIFICATION = "Aftersales-Notification-Id"
HEADER_TRACEPARENT = "traceparent"
HEADER_MSG_ID = "Nats-Msg-Id"


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
        replicas: int = 1,
        state: dict[str, bool] | None = None,
    ) -> None:
        self.nc = nc
        self.js = js
        self.replicas = replicas
        self.state = state if state is not None else {"closing": False}

    @classmethod
    async def connect(cls, url: str, name: str, replicas: int = 1) -> Bus:
        await asyncio.to_thread(wait_for_port, url)
        state = {"closing": False}

        async def disconnected() -> None:
            if not state["closing"]:
                log.warning("NATS disconnected; reconnecting")

        nc = await nats.connect(
            url,
            name=name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=_log_error,
            disconnected_cb=disconnected,
        )
        return cls(nc, nc.jetstream(timeout=10), replicas, state)

    @property
    def connected(self) -> bool:
        return bool(self.nc.is_connected)

    async def ensure_streams(self) -> None:
        """Create or update the four service streams and the dead-letter stream."""
        for service, stream in STREAMS.items():
            await self._ensure(stream, [f"{service}.>"])
        await self._ensure(DEAD_LETTER_STREAM, ["dlq.>"])

    async def _ensure(self, name: str, subjects: list[str]) -> None:
        config = StreamConfig(
            name=name,
            subjects=subjects,
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            num_replicas=self.replicas,
            duplicate_window=DUPLICATE_WINDOW_S,
            discard=DiscardPolicy.OLD,
            allow_direct=True,
        )
        try:
            await self.js.stream_info(name)
        except NotFoundError:
            await self.js.add_stream(config)
            return
        await self.js.update_stream(config)

    async def publish_batch(self, events: Sequence[tuple[int, ContractEvent, str]]) -> None:
        """Publish (notification id, event, traceparent) in order; wait for every ack.

        The Msg-Id `<service>-<notification id>` makes a re-publish after a crash a no-op.
        """
        futures = []
        for notification_id, event, traceparent in events:
            headers = {
                HEADER_MSG_ID: f"{event.service}-{notification_id}",
                HEADER_EVENT_TYPE: event.type,
                HEADER_SCHEMA: event.schema_version,
                HEADER_NOTIFICATION: str(notification_id),
                HEADER_TRACEPARENT: traceparent,
            }
            futures.append(
                await self.js.publish_async(
                    event.subject, event.to_json(), stream=event.stream, headers=headers
                )
            )
        await asyncio.wait_for(asyncio.gather(*futures), timeout=30)

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

    async def pull_consumer(
        self, stream: str, durable: str, start_sequence: int, max_deliver: int
    ) -> JetStreamContext.PullSubscription:
        """A durable pull consumer on `stream` that resumes after `start_sequence - 1`.

        The tracking position in the service's own store is the truth: if the durable
        consumer is ahead of it (store restored, consumer re-created elsewhere), it is
        re-created to start at the recorded position.
        """
        try:
            info = await self.js.consumer_info(stream, durable)
            ack_floor = info.ack_floor.stream_seq if info.ack_floor else 0
            if (ack_floor or 0) >= start_sequence:
                log.warning(
                    "consumer %s on %s is at %s, ahead of the recorded position %s: re-creating",
                    durable,
                    stream,
                    ack_floor,
                    start_sequence - 1,
                )
                await self.js.delete_consumer(stream, durable)
        except NotFoundError:
            pass
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=60.0,
            max_deliver=-1,
            max_ack_pending=10_000,
            deliver_policy=(
                DeliverPolicy.BY_START_SEQUENCE if start_sequence > 1 else DeliverPolicy.ALL
            ),
            opt_start_seq=start_sequence if start_sequence > 1 else None,
        )
        del max_deliver  # deliveries are counted by the runner, which dead-letters itself
        return await self.js.pull_subscribe(
            f"{stream.lower()}.>", durable=durable, stream=stream, config=config
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
        sub = await self.js.pull_subscribe(subject, stream=stream, config=config)
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

    async def dead_letter(
        self, service: str, stream: str, data: bytes, headers: dict[str, str]
    ) -> None:
        await self.js.publish(f"dlq.{service}.{stream}", data, headers=headers)

    async def close(self) -> None:
        self.state["closing"] = True  # a drain's disconnect is not worth a warning
        if not self.nc.is_closed:
            await self.nc.drain()


async def _log_error(error: Exception) -> None:
    log.warning("NATS error: %s", error)
