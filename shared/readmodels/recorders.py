"""Process recorders that also keep read-model tables, for SQLite and PostgreSQL.

They extend eventsourcing's process recorders the way its `searchabletimestamps` example
does: `_insert_events` runs inside the transaction that stores the new events and the
tracking position, so the row writes passed as `read_model_writes=[...]` commit or roll
back with them. Reads, page queries and leases run in their own short transactions; call
them from a worker thread (`asyncio.to_thread`), never on the event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresDatastore, PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteProcessRecorder
from eventsourcing.utils import retry

from shared.batching import PinnablePostgresDatastore, pinnable
from shared.readmodels.schema import (
    WRITES_KWARG,
    Insert,
    Page,
    PageQuery,
    ReadModelError,
    RowWrite,
    Table,
    Update,
    Upsert,
    WriteConflict,
)
from shared.readmodels.sql import Dialect, Statement, encode_cursor

TRANSIENT = (InterfaceError, OperationalError)


class Cursor(Protocol):
    def execute(self, query: Any, params: Any = ...) -> Any: ...
    def fetchall(self) -> Any: ...


class ReadModelRecorder:
    """What both stores offer for read models; the dialect-specific parts are below."""

    dialect: Dialect
    tables: dict[str, Table]

    def _init_read_models(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.tables = {}
        self._tables_lock = threading.Lock()

    # --- definitions ----------------------------------------------------------------

    def create_read_model_tables(self, tables: Iterable[Table]) -> None:
        """Create the tables and their indexes if they are not there (idempotent)."""
        new = list(tables)
        with self._tables_lock:
            for table in new:
                known = self.tables.get(table.name)
                if known is not None and known != table:
                    raise ReadModelError(f"table {table.name} is defined twice, differently")
                self.tables[table.name] = table
        if new:
            self._run_ddl([s for t in new for s in self.dialect.create(t)])

    def table(self, name: str) -> Table:
        try:
            return self.tables[name]
        except KeyError:
            raise ReadModelError(f"no read-model table {name!r} is defined") from None

    # --- writes ---------------------------------------------------------------------

    def _apply_writes(self, cursor: Cursor, writes: Sequence[RowWrite]) -> None:
        for write in writes:
            sql, params = self.dialect.write(self.table(write.table), write)
            cursor.execute(sql, params)
            if isinstance(write, Insert | Upsert):
                continue
            hit = cursor.fetchall()  # UPDATE/DELETE ... RETURNING: read to the end
            if isinstance(write, Update) and write.required and not hit:
                raise WriteConflict(
                    f"{write.table} row {dict(write.key)} with {dict(write.expect)} is not there"
                )

    def write(self, writes: Sequence[RowWrite]) -> None:
        """Apply row writes in one transaction of their own (no events with them)."""
        with self._transaction(commit=True) as cursor:
            self._apply_writes(cursor, writes)

    # --- reads ----------------------------------------------------------------------

    def page(self, query: PageQuery) -> Page:
        """One page of rows in index order, with the cursor of the next page."""
        table = self.table(query.table)
        rows = self._fetch(table, self.dialect.page(table, query))
        if len(rows) <= query.limit:
            return Page(rows, None)
        rows = rows[: query.limit]
        columns = [table.column(n) for n in query.order_by]
        cursor = encode_cursor(columns, [rows[-1][n] for n in query.order_by])
        return Page(rows, cursor)

    def get_row(self, table_name: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
        table = self.table(table_name)
        rows = self.select_rows(table_name, self.dialect.key(table, key), limit=1)
        return rows[0] if rows else None

    def select_rows(
        self,
        table_name: str,
        where: Mapping[str, Any],
        order_by: Sequence[str] = (),
        limit: int = 10_000,
    ) -> list[dict[str, Any]]:
        """Rows matching `where` (equality, None, `Cmp`), in `order_by` (default: key) order."""
        table = self.table(table_name)
        return self._fetch(table, self.dialect.select(table, where, order_by, limit))

    def count_rows(self, table_name: str, where: Mapping[str, Any]) -> int:
        table = self.table(table_name)
        sql, params = self.dialect.count(table, where)
        with self._transaction(commit=False) as cursor:
            cursor.execute(sql, params)
            (row,) = cursor.fetchall()
        return int(row["n"])

    def _fetch(self, table: Table, statement: Statement) -> list[dict[str, Any]]:
        sql, params = statement
        with self._transaction(commit=False) as cursor:
            cursor.execute(sql, params)
            found = cursor.fetchall()
        return [self.dialect.decode_row(table, row) for row in found]

    # --- leases ---------------------------------------------------------------------

    def claim(
        self,
        table_name: str,
        owner: str,
        now: float,
        lease_s: float,
        limit: int,
        due_column: str = "due_at",
        where: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Lease up to `limit` rows due at `now` to `owner` for `lease_s` seconds.

        A row held by another owner whose lease has not run out is never handed out; on
        PostgreSQL concurrent claimers skip each other's locked rows instead of waiting.
        """
        table = self.table(table_name)
        sql, params = self.dialect.claim(
            table, owner, now, now + lease_s, limit, due_column, where or {}
        )
        with self._transaction(commit=True) as cursor:
            cursor.execute(sql, params)
            found = cursor.fetchall()
        rows = [self.dialect.decode_row(table, row) for row in found]
        return sorted(rows, key=lambda r: (r[due_column], *(r[k] for k in table.primary_key)))

    def renew(
        self, table_name: str, key: Mapping[str, Any], owner: str, now: float, lease_s: float
    ) -> bool:
        """Extend `owner`'s lease of a row; False if it is no longer theirs."""
        return self._leased_update(table_name, key, owner, {"lease_until": now + lease_s})

    def release(
        self,
        table_name: str,
        key: Mapping[str, Any],
        owner: str,
        values: Mapping[str, Any] | None = None,
    ) -> bool:
        """Give a row back (setting `values`, e.g. its next due time); False if not held."""
        changes = {"lease_owner": None, "lease_until": None, **(values or {})}
        return self._leased_update(table_name, key, owner, changes)

    def _leased_update(
        self,
        table_name: str,
        key: Mapping[str, Any],
        owner: str,
        values: Mapping[str, Any],
    ) -> bool:
        expect = {"lease_owner": owner}
        table = self.table(table_name)
        sql, params = self.dialect.write(table, Update(table_name, key, values, expect))
        with self._transaction(commit=True) as cursor:
            cursor.execute(sql, params)
            return bool(cursor.fetchall())

    # --- the dialect-specific parts -------------------------------------------------

    def _transaction(self, *, commit: bool) -> Any:
        raise NotImplementedError

    def _run_ddl(self, statements: list[str]) -> None:
        raise NotImplementedError


class SQLiteReadModelRecorder(ReadModelRecorder, SQLiteProcessRecorder):
    """SQLite process recorder whose transactions also carry read-model row writes."""

    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        pinnable(self.datastore)  # batches of commands share one transaction (shared.batching)
        self._init_read_models(Dialect("sqlite"))

    def _insert_events(
        self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        returning = super()._insert_events(c, stored_events, **kwargs)
        self._apply_writes(c, kwargs.get(WRITES_KWARG, ()))
        return returning

    def _transaction(self, *, commit: bool) -> Any:
        return self.datastore.transaction(commit=commit)

    def _run_ddl(self, statements: list[str]) -> None:
        with self.datastore.transaction(commit=True) as c:
            for statement in statements:
                c.execute(statement)


class PostgresReadModelRecorder(ReadModelRecorder, PostgresProcessRecorder):
    """PostgreSQL process recorder whose transactions also carry read-model row writes."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        pinnable(self.datastore)  # batches of commands share one transaction (shared.batching)
        self._init_read_models(Dialect("postgres", self.datastore.schema))

    def _insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        self._apply_writes(curs, kwargs.get(WRITES_KWARG, ()))

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        datastore = self.datastore
        if not isinstance(datastore, PinnablePostgresDatastore) or datastore.pinned() is None:
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return ids
        # In a batch's transaction (shared.batching): a savepoint, without the pipeline that
        # eventsourcing uses (psycopg cannot roll a failed pipeline back to a savepoint).
        with datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._insert_events(curs, stored_events, **kwargs)
            if not stored_events:
                return None
            self._insert_stored_events(curs, stored_events, **kwargs)
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)

    def _transaction(self, *, commit: bool) -> Any:
        return self.datastore.transaction(commit=commit)

    @retry(TRANSIENT, max_attempts=10, wait=0.2)
    def page(self, query: PageQuery) -> Page:
        return super().page(query)

    @retry(TRANSIENT, max_attempts=10, wait=0.2)
    def select_rows(
        self,
        table_name: str,
        where: Mapping[str, Any],
        order_by: Sequence[str] = (),
        limit: int = 10_000,
    ) -> list[dict[str, Any]]:
        return super().select_rows(table_name, where, order_by, limit)

    def _run_ddl(self, statements: list[str]) -> None:
        # Two processes starting together must not race on CREATE TABLE IF NOT EXISTS.
        with self.datastore.transaction(commit=True) as curs:
            curs.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [self.dialect.schema])
            for statement in statements:
                curs.execute(statement)
