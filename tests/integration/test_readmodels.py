"""Read models that persist (issue 15 point 5), on SQLite and PostgreSQL.

Rows are written in the transaction that records the events and the tracking position
(a failing write rolls all three back), pages are keyset pages over an index, and
leases hand each due row to one worker at a time, also across two stores (two
connection pools: two processes as far as the database can tell) on one PostgreSQL.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID, uuid5

import pytest
from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.projection import EventSourcedProjection

from shared.readmodels import (
    Add,
    Cmp,
    Column,
    Index,
    Insert,
    InvalidCursor,
    PageQuery,
    ReadModelApplication,
    RowWrite,
    Table,
    Update,
    Upsert,
    WriteConflict,
    add_writes,
    lease_columns,
)

NAMESPACE = UUID("6f1c2a1e-9d0b-4a43-9b7e-1f0a4c1d2e3f")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

NOTES = Table(
    "notes",
    (
        Column("note_id", "text", nullable=False),
        Column("shelf", "text", nullable=False),
        Column("title", "text"),
        Column("written_at", "timestamp", nullable=False),
        Column("pinned", "boolean", nullable=False),
        Column("edits", "integer", nullable=False),
        Column("tags", "json"),
    ),
    primary_key=("note_id",),
    indexes=(Index(("shelf", "pinned", "written_at", "note_id")),),
)
JOBS = Table(
    "jobs",
    (
        Column("job_id", "text", nullable=False),
        Column("due_at", "real"),
        Column("attempts", "integer", nullable=False),
        Column("done_by", "text"),
        *lease_columns(),
    ),
    primary_key=("job_id",),
    indexes=(Index(("due_at",)),),
)


class Note(Aggregate):
    @event("Written")
    def __init__(self, id: UUID, shelf: str, title: str, written_at: datetime) -> None:
        self.shelf = shelf
        self.title = title
        self.written_at = written_at
        self.edits = 0

    @event("Retitled")
    def retitle(self, title: str) -> None:
        self.title = title
        self.edits += 1


class Shelves(ReadModelApplication, EventSourcedProjection[UUID]):
    """A tiny application whose notes list is a read-model table, like a service's."""

    read_model_tables: ClassVar[tuple[Table, ...]] = (NOTES, JOBS)

    def read_model_writes(self, processing_event: ProcessingEvent[Any]) -> list[RowWrite]:
        return [
            Upsert(
                "notes",
                {
                    "note_id": str(note.id),
                    "shelf": note.shelf,
                    "title": note.title,
                    "written_at": note.written_at,
                    "pinned": False,
                    "edits": note.edits,
                },
            )
            for note in processing_event.aggregates.values()
            if isinstance(note, Note)
        ]

    def write(self, shelf: str, title: str, at: datetime) -> Note:
        note = Note(uuid5(NAMESPACE, f"{shelf}:{title}:{at}"), shelf, title, at)
        self.save(note)
        return note

    def policy(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        """Upstream 'events' here are tuples: (note id, new title, extra row writes)."""
        note_id, title, extra = domain_event
        note: Note = self.repository.get(note_id)
        note.retitle(title)
        processing_event.collect_events(note)
        add_writes(processing_event, *extra)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The environment of a fresh store of each kind (PostgreSQL: its own schema)."""
    if request.param == "sqlite":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(tmp_path / "shelves.db"),
            "SQLITE_LOCK_TIMEOUT": "10",
        }
    server = request.getfixturevalue("postgres_server")
    dbname = request.getfixturevalue("postgres_dbname")
    server.create_schema(dbname, "shelves")
    return {**server.eventsourcing_env(dbname, schema="shelves"), "POSTGRES_POOL_SIZE": "4"}


@pytest.fixture
def app(env: dict[str, str]) -> Iterator[Shelves]:
    shelves = Shelves(env)
    yield shelves
    shelves.close()


def _notifications(app: Shelves) -> int:
    return app.recorder.max_notification_id() or 0


# --- rows commit with the events and the tracking position ------------------------------


def test_a_saved_aggregate_is_listed_from_its_table_after_a_restart(
    app: Shelves, env: dict[str, str]
) -> None:
    note = app.write("kitchen", "buy rice", T0)
    reopened = Shelves(env)
    try:
        row = reopened.read_models.get_row("notes", {"note_id": str(note.id)})
    finally:
        reopened.close()
    assert row == {
        "note_id": str(note.id),
        "shelf": "kitchen",
        "title": "buy rice",
        "written_at": T0,
        "pinned": False,
        "edits": 0,
        "tags": None,
    }


def test_rows_and_tracking_commit_together_when_an_upstream_event_is_processed(
    app: Shelves,
) -> None:
    note = app.write("kitchen", "buy rice", T0)
    extra = [Update("notes", {"note_id": str(note.id)}, {"tags": ["food"], "pinned": True})]
    app.process_event((note.id, "buy jasmine rice", extra), Tracking("UPSTREAM", 7))  # type: ignore[arg-type]
    assert app.recorder.max_tracking_id("UPSTREAM") == 7
    row = app.read_models.get_row("notes", {"note_id": str(note.id)})
    assert row is not None
    assert (row["title"], row["edits"], row["tags"], row["pinned"]) == (
        "buy jasmine rice",
        1,
        ["food"],
        True,
    )


def test_a_failing_row_insert_rolls_back_the_events_and_the_tracking_position(
    app: Shelves,
) -> None:
    note = app.write("kitchen", "buy rice", T0)
    app.process_event((note.id, "v2", []), Tracking("UPSTREAM", 1))  # type: ignore[arg-type]
    before = _notifications(app)
    duplicate = Insert(
        "notes",
        {"note_id": str(note.id), "shelf": "x", "written_at": T0, "pinned": False, "edits": 0},
    )
    with pytest.raises(IntegrityError):
        app.process_event((note.id, "v3", [duplicate]), Tracking("UPSTREAM", 2))  # type: ignore[arg-type]
    assert app.recorder.max_tracking_id("UPSTREAM") == 1
    assert _notifications(app) == before
    row = app.read_models.get_row("notes", {"note_id": str(note.id)})
    assert row is not None
    assert row["title"] == "v2"
    app.repository.cache = None
    assert app.repository.get(note.id).title == "v2"  # the failed save left no event


def test_a_required_update_that_matches_no_row_rolls_everything_back(app: Shelves) -> None:
    note = app.write("kitchen", "buy rice", T0)
    before = _notifications(app)
    lost = Update(
        "jobs", {"job_id": "j1"}, {"done_by": "me"}, expect={"lease_owner": "me"}, required=True
    )
    with pytest.raises(WriteConflict):
        app.process_event((note.id, "v2", [lost]), Tracking("UPSTREAM", 1))  # type: ignore[arg-type]
    assert app.recorder.max_tracking_id("UPSTREAM") is None
    assert _notifications(app) == before
    row = app.read_models.get_row("notes", {"note_id": str(note.id)})
    assert row is not None
    assert row["title"] == "buy rice"


# --- keyset pages ------------------------------------------------------------------------


def _fill(app: Shelves, rng: random.Random, count: int) -> list[dict[str, Any]]:
    rows = []
    for n in range(count):
        rows.append(
            {
                "note_id": f"n{rng.randrange(10**9):09d}-{n}",
                "shelf": rng.choice(["kitchen", "garage"]),
                "title": f"note {n}",
                # Few distinct minutes: many ties, which the key column must break.
                "written_at": T0 + timedelta(minutes=rng.randrange(20)),
                "pinned": rng.random() < 0.2,
                "edits": 0,
            }
        )
    app.read_models.write([Insert("notes", r) for r in rows])
    return rows


@pytest.mark.parametrize("descending", [False, True])
def test_paging_by_cursor_lists_every_row_once_in_index_order(
    app: Shelves, seed: int, descending: bool
) -> None:
    rows = _fill(app, random.Random(seed), 230)
    since = T0 + timedelta(minutes=3)
    expected = sorted(
        (
            (r["written_at"], r["note_id"])
            for r in rows
            if r["shelf"] == "kitchen" and not r["pinned"] and r["written_at"] >= since
        ),
        reverse=descending,
    )
    seen: list[tuple[datetime, str]] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = app.read_models.page(
            PageQuery(
                "notes",
                order_by=("written_at", "note_id"),
                where={"shelf": "kitchen", "pinned": False, "written_at": Cmp(">=", since)},
                cursor=cursor,
                limit=17,
                descending=descending,
            )
        )
        seen += [(r["written_at"], r["note_id"]) for r in page.rows]
        pages += 1
        if page.cursor is None:
            break
        cursor = page.cursor
    assert seen == expected
    # A full last page hands out no cursor (one row more is read to know): ceil, at least 1.
    assert pages == max(1, -(-len(expected) // 17))


def test_a_cursor_that_was_not_handed_out_is_refused(app: Shelves) -> None:
    for cursor in ["not-base64!", "W10", "WyJ4IiwxXQ", "WzEsMl0"]:  # [], ["x",1], [1,2]
        with pytest.raises(InvalidCursor):
            app.read_models.page(
                PageQuery("notes", order_by=("written_at", "note_id"), cursor=cursor)
            )


def test_a_page_query_reads_the_index_without_sorting(app: Shelves, seed: int) -> None:
    _fill(app, random.Random(seed), 300)
    query = PageQuery(
        "notes",
        order_by=("written_at", "note_id"),
        where={"shelf": "kitchen", "pinned": False},
        limit=20,
    )
    page = app.read_models.page(query)
    query = PageQuery(**{**query.__dict__, "cursor": page.cursor})
    recorder = app.read_models
    sql, params = recorder.dialect.page(recorder.table("notes"), query)
    with recorder._transaction(commit=False) as cursor:
        if recorder.dialect.kind == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = " ".join(str(row["detail"]) for row in cursor.fetchall())
            assert "USING INDEX notes_shelf_pinned_written_at_note_id_idx" in plan, plan
            assert "TEMP B-TREE" not in plan, plan
        else:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
            plan = " ".join(str(row["QUERY PLAN"]) for row in cursor.fetchall())
            assert "notes_shelf_pinned_written_at_note_id_idx" in plan, plan
            assert "Sort" not in plan, plan


def test_counts_and_counters(app: Shelves) -> None:
    note = app.write("kitchen", "buy rice", T0)
    key = {"note_id": str(note.id)}
    app.read_models.write(
        [Update("notes", key, {"edits": Add(2)}), Update("notes", key, {"edits": Add(3)})]
    )
    row = app.read_models.get_row("notes", key)
    assert row is not None
    assert row["edits"] == 5
    assert app.read_models.count_rows("notes", {"shelf": "kitchen"}) == 1
    assert app.read_models.count_rows("notes", {"shelf": "garage"}) == 0


# --- leases --------------------------------------------------------------------------------


def _jobs(app: Shelves, count: int, due_at: float) -> None:
    app.read_models.write(
        [
            Insert("jobs", {"job_id": f"j{n:04d}", "due_at": due_at, "attempts": 0})
            for n in range(count)
        ]
    )


def test_a_leased_row_is_not_handed_out_again_until_its_lease_runs_out(app: Shelves) -> None:
    _jobs(app, 3, due_at=100.0)
    leases = app.read_models
    assert leases.claim("jobs", "later", now=99.0, lease_s=30, limit=10) == []  # not due yet
    first = leases.claim("jobs", "a", now=100.0, lease_s=30, limit=2)
    assert [r["job_id"] for r in first] == ["j0000", "j0001"]
    assert {r["lease_owner"] for r in first} == {"a"}
    second = leases.claim("jobs", "b", now=101.0, lease_s=30, limit=10)
    assert [r["job_id"] for r in second] == ["j0002"]
    assert leases.claim("jobs", "c", now=129.0, lease_s=30, limit=10) == []
    assert leases.renew("jobs", {"job_id": "j0000"}, "a", now=129.0, lease_s=30)
    assert not leases.renew("jobs", {"job_id": "j0000"}, "b", now=129.0, lease_s=30)
    # j0001's lease ran out at 130: another worker may take it; a's renewal then fails.
    taken = leases.claim("jobs", "c", now=130.5, lease_s=30, limit=10)
    assert [r["job_id"] for r in taken] == ["j0001"]
    assert not leases.renew("jobs", {"job_id": "j0001"}, "a", now=131.0, lease_s=30)
    assert leases.release("jobs", {"job_id": "j0001"}, "c", {"due_at": 500.0})
    assert not leases.release("jobs", {"job_id": "j0001"}, "c")
    # At 140 only j0002 is free (b's lease ran out at 131); j0001 is due at 500 only.
    assert [r["job_id"] for r in leases.claim("jobs", "d", now=140.0, lease_s=30, limit=9)] == [
        "j0002"
    ]
    assert not leases.release("jobs", {"job_id": "j0002"}, "b", {"due_at": None})
    assert leases.release("jobs", {"job_id": "j0002"}, "d", {"due_at": None})
    # a's expired lease makes j0000 due again, j0001 is due; j0002 has no due time: done.
    late = leases.claim("jobs", "e", now=10_000.0, lease_s=30, limit=10)
    assert [(r["job_id"], r["lease_owner"], r["lease_until"]) for r in late] == [
        ("j0000", "e", 10_030.0),
        ("j0001", "e", 10_030.0),
    ]


def test_a_claim_can_skip_rows_by_value_with_not_in(app: Shelves) -> None:
    """What the webhook worker does to skip the brands already at their cap (issue 17)."""
    _jobs(app, 4, due_at=100.0)
    leases = app.read_models
    skip = {"job_id": Cmp("not in", ["j0000", "j0002"])}
    taken = leases.claim("jobs", "a", now=100.0, lease_s=30, limit=10, where=skip)
    assert [r["job_id"] for r in taken] == ["j0001", "j0003"]
    rest = leases.select_rows("jobs", {"job_id": Cmp("not in", [])}, order_by=("job_id",))
    assert [r["job_id"] for r in rest] == ["j0000", "j0001", "j0002", "j0003"]


def test_two_stores_on_one_database_never_hold_the_same_row(
    app: Shelves, env: dict[str, str]
) -> None:
    """Workers in two application instances (own connection pools) race for 300 jobs."""
    _jobs(app, 300, due_at=1.0)
    other = Shelves(env)
    claims: list[tuple[str, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    start = threading.Barrier(6)  # every worker claims from the same moment (a loaded
    # machine otherwise lets the first threads drain the table before the others start)

    def work(store: Shelves, owner: str) -> None:
        try:
            start.wait(timeout=60)
            while batch := store.read_models.claim("jobs", owner, now=2.0, lease_s=600, limit=7):
                for row in batch:
                    key = {"job_id": row["job_id"]}
                    store.read_models.write(
                        [
                            Update(
                                "jobs",
                                key,
                                {"attempts": Add(1), "done_by": owner},
                                expect={"lease_owner": owner},
                                required=True,
                            )
                        ]
                    )
                    assert store.read_models.release("jobs", key, owner, {"due_at": None})
                    with lock:
                        claims.append((row["job_id"], owner))
        except BaseException as error:  # reported below, with the owner
            errors.append(error)

    workers = [
        threading.Thread(target=work, args=(store, f"{name}-{n}"))
        for name, store in (("one", app), ("two", other))
        for n in range(3)
    ]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
    finally:
        other.close()
    assert not errors, errors
    assert sorted(job for job, _ in claims) == [f"j{n:04d}" for n in range(300)]
    assert {owner.split("-")[0] for _, owner in claims} == {"one", "two"}
    rows = app.read_models.select_rows("jobs", {})
    assert {r["attempts"] for r in rows} == {1}
    assert all(r["due_at"] is None and r["lease_owner"] is None for r in rows)
