"""Raw eventsourcing baselines on the same store, same settings, same run.

- save: an `Application` saving a 3-event aggregate shaped like a received complaint,
  one save per complaint, sequentially or from N threads (like N HTTP clients);
- bulk: the same aggregates saved in batches (one `save(*aggregates)` per batch);
- replay: what eventsourcing itself does to rebuild a store from another: every stored
  event read back through `select_notifications`, decoded by the application's mapper,
  encoded again and written into a scratch store of the same kind, one transaction per
  page, with the same scratch settings as `aftersales replay` (no fsync). Our replay does
  all of that plus running each recorded input's handlers and comparing the two stores.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.servers import Progress


class BenchComplaint(Aggregate):
    """Shaped like intake's complaint as received: the facts, the sealed consumer, an index."""

    @event("ComplaintReceived")
    def __init__(
        self,
        brand_id: str,
        trace_id: str,
        channel: str,
        product: dict[str, Any],
        order: dict[str, Any],
        description: str,
        demands: list[dict[str, Any]],
    ) -> None:
        self.brand_id = brand_id
        self.trace_id = trace_id
        self.channel = channel
        self.product = product
        self.order = order
        self.description = description
        self.demands = demands
        self.status = "received"

    @event("ConsumerSealed")
    def seal_consumer(self, subject_ref: str, sealed: str, phone_index: str) -> None:
        self.subject_ref = subject_ref
        self.sealed = sealed
        self.phone_index = phone_index

    @event("ContactRecorded")
    def record_contact(self, contact_id: str, received_at: str) -> None:
        self.contact_id = contact_id
        self.received_at = received_at


class BenchApplication(Application[UUID]):
    """A plain eventsourcing application on the store the bench gives it."""

    name = "BenchRaw"


def make_complaint(n: int) -> BenchComplaint:
    complaint = BenchComplaint(
        brand_id="bench",
        trace_id=f"{n:032x}",
        channel="web",
        product={"category": "冰箱 refrigerator", "model": "BCD-470", "serial": f"HR{n}"},
        order={"purchase_date": "2026-06-18", "price_fen": 459900, "merchant": f"门店{n}"},
        description="冰箱不制冷，质量故障，要求上门维修。",
        demands=[{"kind": "repair", "amount_fen": None}],
    )
    complaint.seal_consumer(str(uuid4()), "x" * 160, f"{n:064x}")
    complaint.record_contact(str(uuid4()), "2026-11-25T07:00:00+00:00")
    return complaint


def raw_save(
    env: dict[str, str], threads: int, duration: float, max_saves: int, phase: str
) -> tuple[float, list[float]]:
    """Saves per second (one 3-event aggregate per save) and each save's latency (s)."""
    app = BenchApplication(env={**env, "CREATE_TABLE": "y"})
    latencies: list[float] = []
    count = 0
    lock = threading.Lock()
    progress = Progress(phase, unit="saves")
    deadline = time.perf_counter() + duration
    started = time.perf_counter()

    def worker() -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            with lock:
                if count >= max_saves:
                    return
                count += 1
                n = count
            complaint = make_complaint(n)
            began = time.perf_counter()
            app.save(complaint)
            took = time.perf_counter() - began
            with lock:
                latencies.append(took)
                if n % 50 == 0:
                    progress(len(latencies))

    try:
        workers = [threading.Thread(target=worker) for _ in range(threads)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        seconds = time.perf_counter() - started
    finally:
        app.close()
    progress.done(f"{len(latencies) / seconds:.0f} saves/s")
    return len(latencies) / seconds, latencies


def raw_bulk(env: dict[str, str], total: int, batch: int, phase: str) -> float:
    """Aggregates per second saved `batch` at a time (one transaction per batch)."""
    app = BenchApplication(env={**env, "CREATE_TABLE": "y"})
    progress = Progress(phase, total, unit="aggregates")
    started = time.perf_counter()
    try:
        done = 0
        while done < total:
            size = min(batch, total - done)
            app.save(*(make_complaint(done + i) for i in range(size)))
            done += size
            progress(done)
        seconds = time.perf_counter() - started
    finally:
        app.close()
    progress.done(f"{total / seconds:.0f} aggregates/s")
    return total / seconds


def raw_replay(
    application: type[Any], env: dict[str, str], service: str, phase: str, page: int = 500
) -> tuple[int, float]:
    """(events, events/s): every stored event read, decoded, re-encoded and written to a
    scratch store of the same kind (one transaction per page)."""
    from shared.replay import open_scratch, scratch_store, scratch_transaction

    app = application(env=env)
    try:
        last = app.recorder.max_notification_id() or 0
        progress = Progress(phase, last, unit="events")
        with scratch_store(f"raw{service}", env) as scratch_env:
            scratch = open_scratch(application, scratch_env)
            try:
                started = time.perf_counter()
                start, events = 1, 0
                while True:
                    notifications = app.recorder.select_notifications(start, page)
                    stored = [
                        scratch.mapper.to_stored_event(app.mapper.to_domain_event(n))
                        for n in notifications
                    ]
                    with scratch_transaction(scratch):
                        scratch.recorder.insert_events(stored)
                    events += len(notifications)
                    progress(events)
                    if len(notifications) < page:
                        break
                    start = notifications[-1].id + 1
                seconds = time.perf_counter() - started
            finally:
                scratch.close()
    finally:
        app.close()
    progress.done(f"{events / seconds:.0f} events/s" if seconds else "")
    return events, events / seconds if seconds else 0.0
