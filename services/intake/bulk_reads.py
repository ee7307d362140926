"""Reading many aggregates at once, for a batch import: one query per slice of ids.

eventsourcing reads one aggregate per call (a snapshot query, then an events query, each
in its own transaction). A chunk of thousands of transfers asks which of its aggregates
exist, and loads those, with a few queries instead; aggregates are rebuilt exactly as the
repository rebuilds them (latest snapshot, then the events after it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from shared.store import ServiceApplication

# SQLite takes at most 32766 bound parameters (999 before 3.32): ask in slices.
ID_SLICE = 900


def stored_ids(app: ServiceApplication, ids: Sequence[UUID]) -> set[UUID]:
    """Which of these aggregates have events in the application's store."""
    found: set[UUID] = set()
    for rows in _select(app.recorder, ids, "DISTINCT originator_id"):
        found.update(UUID(str(row["originator_id"])) for row in rows)
    return found


def load_many(
    app: ServiceApplication, ids: Sequence[UUID], snapshotted: bool = True
) -> dict[UUID, Any]:
    """The current state of each stored aggregate among `ids` (absent ones are left out).

    `snapshotted=False` skips the snapshot query, for aggregates never snapshotted.
    """
    snapshots: dict[UUID, StoredEvent] = {}
    if app.snapshots is not None and snapshotted:
        for event in _stored_events(app.snapshots.recorder, ids):
            snapshots[UUID(str(event.originator_id))] = event  # ascending: the last is latest
    plain = [i for i in ids if i not in snapshots]
    events: dict[UUID, list[StoredEvent]] = defaultdict(list)
    for event in _stored_events(app.recorder, plain):
        events[UUID(str(event.originator_id))].append(event)
    for aggregate_id, snapshot in snapshots.items():  # few: only long-lived indexes
        events[aggregate_id] = list(
            app.recorder.select_events(aggregate_id, gt=snapshot.originator_version)
        )
    loaded: dict[UUID, Any] = {}
    for aggregate_id, stored in events.items():
        aggregate = None
        if aggregate_id in snapshots:
            assert app.snapshots is not None
            latest: Any = app.snapshots.mapper.to_domain_event(snapshots[aggregate_id])
            aggregate = latest.mutate(None)
        for stored_event in stored:
            domain_event: Any = app.mapper.to_domain_event(stored_event)
            aggregate = domain_event.mutate(aggregate)
        if aggregate is not None:
            loaded[aggregate_id] = aggregate
    return loaded


def _stored_events(recorder: Any, ids: Sequence[UUID]) -> Iterator[StoredEvent]:
    columns = "originator_id, originator_version, topic, state"
    for rows in _select(recorder, ids, columns, "ORDER BY originator_id, originator_version"):
        for row in rows:
            yield StoredEvent(
                originator_id=UUID(str(row["originator_id"])),
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )


def _select(recorder: Any, ids: Sequence[UUID], columns: str, order: str = "") -> Iterator[Any]:
    """Rows of `recorder`'s table for each slice of `ids` (SQLite or PostgreSQL)."""
    if not ids:
        return
    table = recorder.events_table_name
    schema = getattr(recorder.datastore, "schema", None)
    with recorder.datastore.transaction(commit=False) as cursor:
        for start in range(0, len(ids), ID_SLICE):
            part = ids[start : start + ID_SLICE]
            if schema is not None:  # PostgreSQL: a uuid column
                query = f'SELECT {columns} FROM "{schema}"."{table}" '  # noqa: S608
                cursor.execute(query + f"WHERE originator_id = ANY(%s) {order}", (list(part),))
            else:  # SQLite: ids stored as 32 hex digits
                marks = ",".join("?" * len(part))
                query = f"SELECT {columns} FROM {table} "  # noqa: S608
                cursor.execute(
                    query + f"WHERE originator_id IN ({marks}) {order}", [i.hex for i in part]
                )
            yield cursor.fetchall()
