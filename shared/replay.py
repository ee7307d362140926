"""Replay verification: re-run a service over its recorded inputs and diff against its store.

The service's application runs every recorded input (`shared.inputs.INPUT_TOPICS`), in
notification order, into a scratch store (a temporary SQLite file, or a scratch
PostgreSQL schema dropped afterwards); then every stored event of the live store is
compared with the replayed one on aggregate id, version, type and decoded state
(timestamp included). Zero differences means the store is exactly what its inputs make.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

from shared.inputs import INPUT_TOPICS
from shared.settings import postgres_admin, prepare_store
from shared.store import ServiceApplication

PAGE = 500
# The scratch store is read back only by the diff: one transaction per page of inputs,
# and every aggregate it builds kept in memory (the replay is its only writer).
REPLAY_CACHE = {
    "AGGREGATE_CACHE_MAXSIZE": "50000",
    "AGGREGATE_CACHE_FASTFORWARD": "n",
    "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",  # a failed input's aggregates are evicted
}
Progress = Callable[[str, int, int], None]  # service, position reached, last position
Key = tuple[str, int]


@dataclass(frozen=True)
class Difference:
    """One stored event that the replay did not reproduce exactly."""

    service: str
    aggregate_id: str
    version: int
    event_type: str
    field: str
    live: str = ""
    replayed: str = ""

    def __str__(self) -> str:
        where = f"{self.service}: {self.event_type} {self.aggregate_id} v{self.version}"
        if self.live or self.replayed:
            return f"{where}: {self.field} differs (live {self.live}, replayed {self.replayed})"
        return f"{where}: {self.field}"


@dataclass
class ReplayReport:
    """What one service's verification found."""

    service: str
    inputs: int = 0
    events: int = 0
    seconds: float = 0.0
    differences: list[Difference] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not self.differences

    def summary(self) -> str:
        verdict = "exact" if self.exact else f"{len(self.differences)} differences"
        return (
            f"{self.service}: {self.inputs} inputs, {self.events} events, "
            f"{self.seconds:.2f} s, {verdict}"
        )


def verify_replay(
    service: str,
    application: type[ServiceApplication],
    live_env: dict[str, str],
    progress: Progress | None = None,
) -> ReplayReport:
    """Replay `service`'s recorded inputs into a scratch store and diff it with the live one."""
    started = time.monotonic()
    report = ReplayReport(service)
    live = application(env=live_env)
    try:
        stop = live.recorder.max_notification_id() or 0
        with scratch_store(service, live_env) as scratch_env:
            scratch = open_scratch(application, scratch_env)
            try:
                _replay(live, scratch, stop, report, progress)
                _diff(live, scratch, stop, report)
            finally:
                scratch.close()
    finally:
        live.close()
    report.seconds = time.monotonic() - started
    return report


def open_scratch(
    application: type[ServiceApplication], scratch_env: dict[str, str]
) -> ServiceApplication:
    """The application on a scratch store, set up for replaying into it (no fsync, cache)."""
    scratch = application(env={**scratch_env, **REPLAY_CACHE})
    _without_fsync(scratch)
    return scratch


@contextmanager
def scratch_transaction(scratch: ServiceApplication) -> Iterator[Any]:
    """One unit of work on the scratch store; PostgreSQL does not wait for its WAL flush."""
    with scratch.unit_of_work() as work:
        connection: Any = getattr(getattr(work, "pin", None), "connection", None)
        if hasattr(connection, "pgconn"):  # a psycopg connection: the scratch is thrown away
            connection.execute("SET LOCAL synchronous_commit TO OFF")
        yield work


def _without_fsync(scratch: ServiceApplication) -> None:
    """The scratch store is thrown away: skip SQLite's fsync per commit (~8 ms each here)."""
    from eventsourcing.sqlite import SQLiteConnectionPool

    pool: Any = getattr(getattr(scratch.recorder, "datastore", None), "pool", None)
    if not isinstance(pool, SQLiteConnectionPool):
        return
    create = pool._create_connection

    def create_without_fsync() -> Any:
        connection = create()
        connection._sqlite_conn.execute("PRAGMA synchronous=OFF")
        return connection

    pool._create_connection = create_without_fsync  # type: ignore[method-assign]
    for connection in list(pool._pool):
        connection._sqlite_conn.execute("PRAGMA synchronous=OFF")


def _replay(
    live: ServiceApplication,
    scratch: ServiceApplication,
    stop: int,
    report: ReplayReport,
    progress: Progress | None,
) -> None:
    for page in _pages(live, stop, INPUT_TOPICS):
        with scratch_transaction(scratch) as work:  # one transaction per page, a savepoint each
            for notification in page:
                recorded = live.mapper.to_domain_event(notification)
                try:
                    with scratch.step(work):
                        scratch.replay_input(recorded)
                except Exception as error:
                    report.differences.append(
                        _difference(report.service, notification, f"replay failed: {error!r}")
                    )
                report.inputs += 1
        if progress is not None and page:
            progress(report.service, page[-1].id, stop)
    if progress is not None:
        progress(report.service, stop, stop)


def _diff(
    live: ServiceApplication, scratch: ServiceApplication, stop: int, report: ReplayReport
) -> None:
    replayed: dict[Key, tuple[int, str, bytes]] = {
        _key(n): (n.id, n.topic, _digest(n.state)) for n in _notifications(scratch, None, ())
    }
    for notification in _notifications(live, stop, ()):
        report.events += 1
        found = replayed.pop(_key(notification), None)
        if found is None:
            report.differences.append(
                _difference(report.service, notification, "not produced by the replay")
            )
        elif found[1] != notification.topic:
            report.differences.append(
                _difference(report.service, notification, "type", notification.topic, found[1])
            )
        elif found[2] != _digest(notification.state):
            twin = scratch.recorder.select_notifications(found[0], 1)[0]
            report.differences.extend(_field_differences(report.service, live, notification, twin))
    for notification_id, _, _ in replayed.values():
        extra = scratch.recorder.select_notifications(notification_id, 1)[0]
        report.differences.append(
            _difference(report.service, extra, "produced by the replay, missing from the store")
        )


def _field_differences(
    service: str, live: ServiceApplication, stored: Any, twin: Any
) -> list[Difference]:
    ours = vars(live.mapper.to_domain_event(stored))
    theirs = vars(live.mapper.to_domain_event(twin))
    return [
        _difference(service, stored, name, _show(ours.get(name)), _show(theirs.get(name)))
        for name in sorted(set(ours) | set(theirs))
        if ours.get(name) != theirs.get(name)
    ]  # empty when only the encoding differs (e.g. a cipher's nonce)


def _notifications(app: ServiceApplication, stop: int | None, topics: Any) -> Iterator[Any]:
    for page in _pages(app, stop, topics):
        yield from page


def _pages(app: ServiceApplication, stop: int | None, topics: Any) -> Iterator[list[Any]]:
    start = 1
    while True:
        page = app.recorder.select_notifications(start, PAGE, stop=stop, topics=list(topics))
        yield page
        if len(page) < PAGE:
            return
        start = page[-1].id + 1


def _key(notification: Any) -> Key:
    return str(notification.originator_id), int(notification.originator_version)


def _digest(state: bytes) -> bytes:
    return hashlib.blake2b(state, digest_size=16).digest()


def _difference(
    service: str, notification: Any, what: str, live: str = "", replayed: str = ""
) -> Difference:
    return Difference(
        service,
        str(notification.originator_id),
        int(notification.originator_version),
        notification.topic.rsplit(".", 1)[-1],
        what,
        live,
        replayed,
    )


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


@contextmanager
def scratch_store(service: str, live_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """An empty store like the live one: a temporary SQLite file or PostgreSQL schema."""
    if live_env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
        schema = f"replay_{service}_{uuid4().hex[:12]}"
        env = {**live_env, "POSTGRES_SCHEMA": schema, "CREATE_TABLE": "y"}
        prepare_store(env)
        try:
            yield env
        finally:
            _drop_schema(env)
        return
    with tempfile.TemporaryDirectory(prefix=f"aftersales-replay-{service}-") as directory:
        path = Path(directory) / f"{service}.db"
        yield {**live_env, "SQLITE_DBNAME": str(path), "CREATE_TABLE": "y"}


def _drop_schema(env: dict[str, str]) -> None:
    with postgres_admin(env) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{env["POSTGRES_SCHEMA"]}" CASCADE')
