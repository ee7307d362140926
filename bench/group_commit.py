"""Group commit vs one transaction per command, in one process, same store, same run.

Each command reads one aggregate (a dedup check) and saves a new aggregate with 3 events,
recorded as an input (4 stored events), from `--threads` threads at once:
- `serial`: the old path, the write lock then one transaction + commit per command;
- `group`: `ServiceApplication.execute` (group commit: one transaction per batch);
- `raw`: eventsourcing's `Application.save` of the same 3-event aggregate, one thread.

Usage: .venv/bin/python -m bench.group_commit [--count 3000] [--threads 32]
       [--store sqlite|postgres]
(`--store postgres` uses POSTGRES_* from the environment).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate, event

from shared.inputs import InputClocked, ReceivedCommand, input_clock
from shared.store import ServiceApplication, derive_id

AT = datetime(2026, 9, 30, 1, 0, tzinfo=UTC)


class Item(Aggregate):
    TOPIC = "benchpad.Item"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "benchpad.Item.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "benchpad.Item.Created"

    @event("ItemOpened", topic="benchpad.Item.ItemOpened")
    def __init__(self, id: UUID, title: str) -> None:
        self.title = title
        self.notes: list[str] = []

    @event("ItemNoted", topic="benchpad.Item.ItemNoted")
    def note(self, text: str) -> None:
        self.notes.append(text)


class Benchpad(ServiceApplication):
    service = "benchpad"
    name = "benchpad"

    def register_handlers(self) -> None:
        self.command("open", self._open)

    def _open(self, command: ReceivedCommand, processing: ProcessingEvent[UUID]) -> None:
        assert command.given_id is not None
        self.get_or_none(derive_id("dedup", command.given_id))
        item = Item(id=UUID(command.given_id), title=command.args["title"])
        item.note("classified")
        item.note("routed")
        processing.collect_events(item)


def _env(store: str, directory: str, name: str) -> dict[str, str]:
    if store == "sqlite":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": os.path.join(directory, f"{name}.db"),
            "SQLITE_LOCK_TIMEOUT": "10",
        }
    schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if k.startswith("POSTGRES_")}
    return {**env, "PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_SCHEMA": schema}


def _rate(count: int, threads: int, call: Any) -> float:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(call, ids))
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        if args.store == "postgres":
            from shared.settings import prepare_store

            envs = {n: _env("postgres", directory, n) for n in ("serial", "group", "raw")}
            for env in envs.values():
                prepare_store({**env, "CREATE_TABLE": "y"})
        else:
            envs = {n: _env("sqlite", directory, n) for n in ("serial", "group", "raw")}
        serial = Benchpad(envs["serial"])
        group = Benchpad(envs["group"])
        raw = Application[UUID](envs["raw"])

        def one_serial(given_id: str) -> None:
            command = ReceivedCommand("open", {"title": "t"}, AT, given_id, uuid.uuid4())
            with serial.write_lock:
                serial._execute(command)

        def one_group(given_id: str) -> None:
            group.execute("open", {"title": "t"}, AT, given_id)

        lock = threading.Lock()

        def one_raw(given_id: str) -> None:
            with input_clock(AT):
                item = Item(id=UUID(given_id), title="t")
                item.note("classified")
                item.note("routed")
            with lock:
                raw.save(item)

        rates = {
            "raw eventsourcing save (1 thread)": _rate(args.count, 1, one_raw),
            f"serial: lock + commit per command ({args.threads} threads)": _rate(
                args.count, args.threads, one_serial
            ),
            f"group commit ({args.threads} threads)": _rate(args.count, args.threads, one_group),
        }
        batches = group.batches
        for name, rate in rates.items():
            print(f"{args.store}: {name}: {rate:,.0f} commands/s")
        print(f"group commit: {batches} transactions, {args.count / max(batches, 1):.1f} per batch")
        for app in (serial, group, raw):
            app.close()


if __name__ == "__main__":
    main()
