"""Crash-test machinery: load from concurrent clients, kill -9 at a seeded moment, count.

The load: `clients` keep-alive HTTP clients post complaints, each POST carrying an
Idempotency-Key and retried on connection errors and 5xx until it is acknowledged (a
crashed intake answers nothing; the retry returns the first response). Half of the
complaints, chosen by the seeded random generator, are accepted by the consumer: a client
waits until the complaint shows an open offer, then POSTs the accept action.

The verdict never trusts the services: it reads the four JetStream streams directly and
counts, per complaint and event type, what was published, and every event id.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from shared.cli import Platform
from tests.platform import complaint_body

STREAMS = ("INTAKE", "ROUTING", "COMPENSATION", "FOLLOWUP")
SERVICES = ("intake", "routing", "compensation", "followup")
# Exactly one of each, per acknowledged complaint / per accepted complaint.
# (The load's complaints are distinct, not nuisance, never grouped: nothing reassesses them.)
ONCE_PER_COMPLAINT = {
    "INTAKE": ("ComplaintReceived",),
    "ROUTING": (
        "ComplaintClassified",
        "SeverityAssessed",
        "FirstContactOwned",
        "HandlerAssigned",
        "ResponseModeChosen",
    ),
    "COMPENSATION": ("ApologyIssued", "RemedyOptionsOffered"),
    "FOLLOWUP": ("FollowupCaseOpened",),
}
ONCE_PER_ACCEPTED = {
    "INTAKE": ("ConsumerActed",),
    "COMPENSATION": ("OfferAccepted",),
    "FOLLOWUP": ("RevisitScheduled",),
}
TRANSIENT_STATUS = frozenset({500, 502, 503, 504})


@dataclass
class LoadResult:
    """What the clients saw: acknowledged and accepted complaints, and what went wrong."""

    acknowledged: dict[int, str] = field(default_factory=dict)  # n -> complaint id
    accepted: set[str] = field(default_factory=set)
    never_offered: set[str] = field(default_factory=set)
    refused: list[str] = field(default_factory=list)  # unexpected answers, verbatim
    retries: int = 0
    seconds: float = 0.0
    last_ack: float = 0.0  # monotonic time of the latest acknowledgement
    last_progress: float = 0.0  # ... of the latest acknowledgement or offer seen
    posting_seconds: float = 0.0  # until the last complaint was acknowledged


@dataclass
class StreamCounts:
    """Everything published, counted by (stream, complaint id, type) and by event id."""

    per_complaint: dict[tuple[str, str], Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    event_ids: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    messages: dict[str, int] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)  # per dead-letter stream
    sequence: dict[tuple[str, str, str], int] = field(default_factory=dict)  # first seen at
    holes: dict[str, str] = field(default_factory=dict)  # streams whose sequences have gaps

    def count(self, stream: str, complaint_id: str, event_type: str) -> int:
        return self.per_complaint[(stream, complaint_id)][event_type]

    def duplicate_event_ids(self) -> dict[str, list[str]]:
        return {
            stream: sorted(e for e, n in ids.items() if n > 1)
            for stream, ids in self.event_ids.items()
            if any(n > 1 for n in ids.values())
        }


def brand_headers(platform: Platform, brand_id: str) -> dict[str, str]:
    response = httpx.post(
        f"{platform.url('intake')}/v1/admin/brands",
        headers={"Authorization": f"Bearer {_admin_token()}"},
        json={"brand_id": brand_id, "name": brand_id},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return {"X-Api-Key": response.json()["api_key"]}


def _admin_token() -> str:
    from tests.platform import env_admin_token

    return env_admin_token()


def complaint_of(n: int, tag: str) -> dict[str, Any]:
    """Complaint n: its own consumer and merchant, so none is a duplicate or a group."""
    return complaint_body(
        consumer={"name": "顾客", "phone": f"136{n:08d}"},
        order={"merchant": f"门店{tag}-{n}", "price_fen": 329900},
        demands=[{"kind": "exchange"}, {"kind": "repair"}],
    )


async def _with_retries(
    send: Callable[[], Awaitable[httpx.Response]], result: LoadResult, deadline: float
) -> httpx.Response | None:
    """Send until an answer that is not a crash (connection error, 5xx); None at deadline."""
    pause = 0.05
    while time.monotonic() < deadline:
        try:
            response = await send()
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code not in TRANSIENT_STATUS:
            return response
        result.retries += 1
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.5)
    return None


async def run_load(
    platform: Platform,
    brand: dict[str, str],
    *,
    complaints: int,
    clients: int,
    rng: random.Random,
    tag: str,
    on_posted: Callable[[int], Awaitable[None]] | None = None,
    post_budget_s: float = 150.0,
    offer_wait_s: float = 20.0,
    budget_s: float = 240.0,
) -> LoadResult:
    """Post `complaints` from `clients` concurrent clients; accept a seeded half of them.

    `on_posted(count)` runs after each acknowledgement (the killer watches the count).
    Bounded: posting stops at `post_budget_s`, everything at `budget_s`. The pipeline
    runs behind the posting clients, so a client waiting for an offer gives up only after
    `offer_wait_s` in which no complaint was acknowledged and no offer showed anywhere.
    """
    result = LoadResult()
    to_accept = set(rng.sample(range(complaints), complaints // 2))
    numbers = iter(range(complaints))
    started = time.monotonic()
    post_deadline = started + post_budget_s
    deadline = started + budget_s
    result.last_progress = started
    polling = asyncio.Semaphore(4 * clients)
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)

    async def accept(client: httpx.AsyncClient, complaint_id: str) -> None:
        path = f"/v1/complaints/{complaint_id}"
        offer: dict[str, Any] | None = None
        async with polling:
            while offer is None:
                view = await _with_retries(
                    lambda: client.get(path, headers=brand), result, deadline
                )
                if view is None or view.status_code != 200:
                    result.refused.append(f"GET {complaint_id}: {_said(view)}")
                    return
                body = view.json()
                now = time.monotonic()
                if body["offer_status"] == "open" and body["offer"]:
                    offer = body["offer"]
                    result.last_progress = now
                elif body["offer_status"] is not None:
                    result.refused.append(f"{complaint_id}: offer is {body['offer_status']}")
                    return
                elif now > result.last_progress + offer_wait_s or now > deadline:
                    # A slow pipeline is not a loss; silence everywhere is.
                    result.never_offered.add(complaint_id)
                    return
                else:
                    await asyncio.sleep(0.2)
        action = {
            "action": "accept",
            "offer_id": offer["offer_id"],
            "option_id": offer["options"][0]["option_id"],
        }
        acted = await _with_retries(
            lambda: client.post(
                f"{path}/consumer-actions",
                json=action,
                headers={**brand, "Idempotency-Key": f"accept-{complaint_id}"},
            ),
            result,
            deadline,
        )
        if acted is not None and acted.status_code == 202:
            result.accepted.add(complaint_id)
        elif acted is not None and acted.status_code == 409:
            # A retry after a crash: the first accept may have landed before the reply.
            view = await client.get(path, headers=brand)
            if view.status_code == 200 and view.json()["offer_status"] in ("accepting", "accepted"):
                result.accepted.add(complaint_id)
            else:
                result.refused.append(f"accept {complaint_id}: {_said(acted)}")
        else:
            result.refused.append(f"accept {complaint_id}: {_said(acted)}")

    async def client_loop() -> None:
        acceptors: list[asyncio.Task[None]] = []
        async with httpx.AsyncClient(
            base_url=platform.url("intake"), timeout=10, limits=limits
        ) as client:
            for n in numbers:
                response = await _with_retries(
                    lambda n=n: client.post(  # type: ignore[misc]
                        "/v1/complaints",
                        json=complaint_of(n, tag),
                        headers={**brand, "Idempotency-Key": f"{tag}-complaint-{n}"},
                    ),
                    result,
                    post_deadline,
                )
                if response is None or response.status_code != 201:
                    result.refused.append(f"POST complaint {n}: {_said(response)}")
                    continue
                complaint_id = response.json()["complaint_id"]
                result.acknowledged[n] = complaint_id
                result.last_ack = result.last_progress = time.monotonic()
                if on_posted is not None:
                    await on_posted(len(result.acknowledged))
                if n in to_accept:
                    acceptors.append(asyncio.create_task(accept(client, complaint_id)))
            await asyncio.gather(*acceptors)

    await asyncio.gather(*(client_loop() for _ in range(clients)))
    result.seconds = time.monotonic() - started
    result.posting_seconds = max(result.last_ack - started, 0.0)
    return result


def _said(response: httpx.Response | None) -> str:
    if response is None:
        return "no answer before the deadline"
    return f"{response.status_code} {response.text[:300]}"


# ------------------------------------------------------------------------- the verdict


async def read_streams(nats_url: str) -> StreamCounts:
    """Every message of the four service streams, counted (nothing is acked or changed)."""
    counts = StreamCounts()
    nc = await nats.connect(nats_url, max_reconnect_attempts=5)
    try:
        js = nc.jetstream(timeout=10)
        for stream in STREAMS:
            state = (await js.stream_info(stream)).state
            if state.first_seq != 1 or state.messages != state.last_seq or state.num_deleted:
                counts.holes[stream] = (
                    f"sequences {state.first_seq}..{state.last_seq} hold {state.messages} "
                    f"messages ({state.num_deleted or 0} deleted)"
                )
            for sequence, data in await _all_messages(js, stream):
                event = json.loads(data)
                # An SLA event is once per clause: SlaStarted[acknowledge], SlaStarted[plan]…
                clause = (event.get("payload") or {}).get("clause")
                kind = f"{event['type']}[{clause}]" if clause else event["type"]
                counts.per_complaint[(stream, event["complaint_id"])][kind] += 1
                counts.sequence.setdefault((stream, event["complaint_id"], event["type"]), sequence)
                counts.event_ids[stream][event["event_id"]] += 1
            counts.messages[stream] = sum(counts.event_ids[stream].values())
        # Dead letters: each service's DLQ_<SERVICE> stream (the older shared DEADLETTER too).
        counts.messages["DEADLETTER"] = 0
        for info in await js.streams_info():
            name = info.config.name or ""
            if name == "DEADLETTER" or name.startswith("DLQ_"):
                held = int(info.state.messages)
                counts.dead_letters[name] = held
                counts.messages["DEADLETTER"] += held
    finally:
        await nc.close()
    return counts


async def _all_messages(js: Any, stream: str) -> list[tuple[int, bytes]]:
    """(stream sequence, data) of every message `stream` holds, in order."""
    info = await js.stream_info(stream)
    total = int(info.state.messages)
    if total == 0:
        return []
    config = ConsumerConfig(
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.ALL,
        inactive_threshold=30.0,
        mem_storage=True,
    )
    sub = await js.pull_subscribe(info.config.subjects[0], stream=stream, config=config)
    out: list[tuple[int, bytes]] = []
    try:
        while len(out) < total:
            msgs = await sub.fetch(min(total - len(out), 500), timeout=5)
            out.extend((int(msg.metadata.sequence.stream), msg.data) for msg in msgs)
    finally:
        await sub.unsubscribe()
    return out


def verdict(load: LoadResult, counts: StreamCounts) -> tuple[dict[str, list[str]], list[str]]:
    """(lost, duplicated): for each, lines naming the complaint and the event type."""
    lost: dict[str, list[str]] = defaultdict(list)
    duplicated: list[str] = []
    complaints = set(load.acknowledged.values())
    for complaint_id in sorted(complaints):
        wanted = [(s, t) for s, types in ONCE_PER_COMPLAINT.items() for t in types]
        if complaint_id in load.accepted:
            wanted += [(s, t) for s, types in ONCE_PER_ACCEPTED.items() for t in types]
        for stream, event_type in wanted:
            if counts.count(stream, complaint_id, event_type) == 0:
                lost[event_type].append(complaint_id)
    for (stream, complaint_id), types in sorted(counts.per_complaint.items()):
        for event_type, n in sorted(types.items()):
            if n > 1:
                duplicated.append(f"{stream} {complaint_id} {event_type} x{n}")
    for stream, ids in counts.duplicate_event_ids().items():
        duplicated.extend(f"{stream} event_id {e} published twice or more" for e in ids)
    return dict(lost), duplicated


# ---------------------------------------------------------------------- quiescence


async def wait_quiescent(platform: Platform, bound_s: float) -> tuple[bool, float, str]:
    """Until every /readyz is 200 with relay and consumer lag 0 and no stream moves.

    Returns (quiescent, seconds waited, the last thing that was not settled).
    """
    started = time.monotonic()
    previous: dict[str, int] | None = None
    calm = 0
    why = ""
    async with httpx.AsyncClient(timeout=3) as client:
        while time.monotonic() - started < bound_s:
            why = await _unsettled(platform, client)
            sizes = await _stream_sizes(platform)
            if not why and sizes == previous:
                calm += 1
                if calm >= 2:
                    return True, time.monotonic() - started, ""
            else:
                calm = 0
                why = why or "streams still growing"
            previous = sizes
            await asyncio.sleep(0.5)
    return False, time.monotonic() - started, why


async def _unsettled(platform: Platform, client: httpx.AsyncClient) -> str:
    for service in SERVICES:
        try:
            response = await client.get(f"{platform.url(service)}/readyz")
        except httpx.TransportError as error:
            return f"{service} /readyz: {type(error).__name__}"
        if response.status_code != 200:
            return f"{service} /readyz {response.status_code}: {response.text[:300]}"
        lags = dict(_lags(response.json()))
        busy = {k: v for k, v in lags.items() if v != 0}
        if busy:
            return f"{service} lag {busy}"
    return ""


def _lags(body: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every `*lag*` value in a /readyz body, wherever its shape puts it."""
    found: list[tuple[str, Any]] = []
    if isinstance(body, dict):
        for key, value in body.items():
            where = f"{path}.{key}" if path else str(key)
            if "lag" in str(key) and not isinstance(value, dict | list):
                found.append((where, value))
            else:
                found.extend(_lags(value, where))
    elif isinstance(body, list):
        for i, value in enumerate(body):
            found.extend(_lags(value, f"{path}[{i}]"))
    return found


async def _stream_sizes(platform: Platform) -> dict[str, int]:
    nc = await nats.connect(platform.admin_url, max_reconnect_attempts=5)
    try:
        js = nc.jetstream(timeout=5)
        return {s: int((await js.stream_info(s)).state.last_seq) for s in STREAMS}
    finally:
        await nc.close()


async def wait_for_in_flight(nats_url: str, service: str, bound_s: float) -> int:
    """Wait (≤ bound_s) until one of `service`'s durable consumers holds delivered, unacked
    messages — the dangerous moment to die — and return how many (0 if none showed)."""
    nc = await nats.connect(nats_url, max_reconnect_attempts=2)
    try:
        js = nc.jetstream(timeout=2)
        deadline = time.monotonic() + bound_s
        while time.monotonic() < deadline:
            for stream in STREAMS:
                for info in await js.consumers_info(stream):
                    if info.name.startswith(f"{service}-") and info.num_ack_pending:
                        return int(info.num_ack_pending)
            await asyncio.sleep(0.002)
        return 0
    finally:
        await nc.close()


def assert_replays_exactly(platform: Platform) -> str:
    """Every store is exactly what its recorded inputs make, checked as an operator would:
    `aftersales replay --verify` on the platform's data dir; returns what it printed."""
    started = time.monotonic()
    command = ["replay", "--verify", "--data-dir", str(platform.data_dir)]
    replay = subprocess.run(
        [sys.executable, "-m", "shared.cli", *command],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    summary = [line for line in replay.stdout.splitlines() if line.strip()]
    print(f"replay --verify ({time.monotonic() - started:.0f} s): {summary}")
    assert replay.returncode == 0, replay.stdout[-4000:] + replay.stderr[-2000:]
    return replay.stdout
