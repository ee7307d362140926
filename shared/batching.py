"""One database transaction shared by many commands: pinned connections and savepoints.

eventsourcing's recorders open a transaction of their own for every insert and every
select (`datastore.transaction(...)`, `datastore.get_connection()`). To run a batch of
commands in ONE transaction, the thread leading the batch pins a connection with an open
transaction to the datastore (`pin()`); while it is pinned, every read and write of that
thread goes through it (seeing the batch's uncommitted writes), each write in a savepoint
of its own, as the unpinned transaction would roll back alone. Other threads are not
affected: they keep taking pooled connections and see committed state only.

`pinnable(datastore)` upgrades eventsourcing's SQLite and PostgreSQL datastores in place
(the recorders and the snapshot store share one datastore object, so all of them follow
the pin). SQLite pins with `BEGIN IMMEDIATE`: the write lock is taken up front, so a read
snapshot never has to be upgraded (which SQLite refuses when another writer committed in
between). PostgreSQL pins with a psycopg transaction; psycopg turns the nested
`conn.transaction()` blocks of eventsourcing into savepoints.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import psycopg
from eventsourcing import persistence as es
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteConnection, SQLiteCursor, SQLiteDatastore

_SQLITE_ERRORS: tuple[tuple[type[BaseException], type[Exception]], ...] = (
    (sqlite3.InterfaceError, es.InterfaceError),
    (sqlite3.DataError, es.DataError),
    (sqlite3.OperationalError, es.OperationalError),
    (sqlite3.IntegrityError, es.IntegrityError),
    (sqlite3.InternalError, es.InternalError),
    (sqlite3.ProgrammingError, es.ProgrammingError),
    (sqlite3.NotSupportedError, es.NotSupportedError),
    (sqlite3.DatabaseError, es.DatabaseError),
    (sqlite3.Error, es.PersistenceError),
)
_PG_ERRORS: tuple[tuple[type[BaseException], type[Exception]], ...] = (
    (psycopg.InterfaceError, es.InterfaceError),
    (psycopg.OperationalError, es.OperationalError),
    (psycopg.DataError, es.DataError),
    (psycopg.IntegrityError, es.IntegrityError),
    (psycopg.InternalError, es.InternalError),
    (psycopg.ProgrammingError, es.ProgrammingError),
    (psycopg.NotSupportedError, es.NotSupportedError),
    (psycopg.DatabaseError, es.DatabaseError),
    (psycopg.Error, es.PersistenceError),
)


@contextmanager
def _mapped(table: tuple[tuple[type[BaseException], type[Exception]], ...]) -> Iterator[None]:
    """Driver errors raised in the block as eventsourcing's persistence errors."""
    try:
        yield
    except es.PersistenceError:
        raise
    except Exception as error:
        for driver, ours in table:
            if isinstance(error, driver):
                raise ours(str(error)) from error
        raise


class Pin(Protocol):
    """A connection with an open transaction, held by one thread."""

    def savepoint(self) -> Any:
        """A context: the block's writes are rolled back alone if it raises."""


class PinnedDatastore(Protocol):
    commits: int

    def pin(self) -> Any: ...
    def pinned(self) -> Pin | None: ...


def _pins(datastore: object) -> threading.local:
    pins = datastore.__dict__.get("_pins")
    if pins is None:
        pins = datastore.__dict__.setdefault("_pins", threading.local())
    assert isinstance(pins, threading.local)
    return pins


def _pinned(datastore: object) -> Any:
    return getattr(_pins(datastore), "pin", None)


class _SQLitePin:
    def __init__(self, connection: SQLiteConnection) -> None:
        self.connection = connection
        self.raw: sqlite3.Connection = connection._sqlite_conn
        self.depth = 0

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        self.depth += 1
        name = f"sp{self.depth}"
        try:
            with _mapped(_SQLITE_ERRORS):
                self.raw.execute(f"SAVEPOINT {name}")
                try:
                    yield
                except BaseException:
                    self.raw.execute(f"ROLLBACK TO {name}")
                    self.raw.execute(f"RELEASE {name}")
                    raise
                self.raw.execute(f"RELEASE {name}")
        finally:
            self.depth -= 1

    @contextmanager
    def cursor(self) -> Iterator[SQLiteCursor]:
        cursor = self.connection.cursor()
        try:
            with _mapped(_SQLITE_ERRORS):
                yield cursor
        finally:
            cursor.sqlite_cursor.close()


class PinnableSQLiteDatastore(SQLiteDatastore):
    """eventsourcing's SQLite datastore, whose transactions follow the thread's pin."""

    commits = 0

    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[SQLiteCursor]:
        pin: _SQLitePin | None = _pinned(self)
        if pin is None:
            with super().transaction(commit=commit) as cursor:
                yield cursor
        elif commit:
            with pin.savepoint(), pin.cursor() as cursor:
                yield cursor
        else:
            with pin.cursor() as cursor:
                yield cursor

    def pinned(self) -> _SQLitePin | None:
        pin: _SQLitePin | None = _pinned(self)
        return pin

    @contextmanager
    def pin(self) -> Iterator[_SQLitePin]:
        """Pin a connection in one write transaction to this thread; commit on exit."""
        pins = _pins(self)
        if getattr(pins, "pin", None) is not None:
            raise RuntimeError("this thread has pinned a transaction already")
        connection = self.pool.get_connection(is_writer=True)
        try:
            pin = _SQLitePin(connection)
            with _mapped(_SQLITE_ERRORS):
                pin.raw.execute("BEGIN IMMEDIATE")
            pins.pin = pin
            try:
                yield pin
            except BaseException:
                pins.pin = None
                with _mapped(_SQLITE_ERRORS):
                    pin.raw.rollback()
                raise
            pins.pin = None
            try:
                with _mapped(_SQLITE_ERRORS):
                    pin.raw.commit()
            except BaseException:
                pin.raw.rollback()
                raise
            self.commits += 1
        finally:
            pins.pin = None
            self.pool.put_connection(connection)


class _PgPin:
    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        with _mapped(_PG_ERRORS), self.connection.transaction():
            yield


class PinnablePostgresDatastore(PostgresDatastore):
    """eventsourcing's PostgreSQL datastore, whose connections follow the thread's pin."""

    commits = 0

    @contextmanager
    def get_connection(self) -> Iterator[psycopg.Connection[Any]]:
        pin: _PgPin | None = _pinned(self)
        if pin is None:
            with super().get_connection() as connection:
                yield connection
        else:
            with _mapped(_PG_ERRORS):
                yield pin.connection

    @contextmanager
    def transaction(self, *, commit: bool = False) -> Iterator[psycopg.Cursor[Any]]:
        pin: _PgPin | None = _pinned(self)
        if pin is None:
            with super().transaction(commit=commit) as cursor:
                yield cursor
        elif commit:
            with pin.savepoint(), pin.connection.cursor() as cursor:
                yield cursor
        else:
            with _mapped(_PG_ERRORS), pin.connection.cursor() as cursor:
                yield cursor

    def pinned(self) -> _PgPin | None:
        pin: _PgPin | None = _pinned(self)
        return pin

    @contextmanager
    def pin(self) -> Iterator[_PgPin]:
        """Pin a connection in one transaction to this thread; commit on exit."""
        pins = _pins(self)
        if getattr(pins, "pin", None) is not None:
            raise RuntimeError("this thread has pinned a transaction already")
        with super().get_connection() as connection:
            try:
                with connection.transaction():
                    pins.pin = _PgPin(connection)
                    try:
                        yield pins.pin
                    finally:
                        pins.pin = None
            finally:
                pins.pin = None
        self.commits += 1


def pinnable(datastore: object) -> bool:
    """Upgrade an eventsourcing SQLite or PostgreSQL datastore in place; False if neither."""
    if isinstance(datastore, PinnableSQLiteDatastore | PinnablePostgresDatastore):
        return True
    if type(datastore) is SQLiteDatastore:
        datastore.__class__ = PinnableSQLiteDatastore
        return True
    if type(datastore) is PostgresDatastore:
        datastore.__class__ = PinnablePostgresDatastore
        return True
    return False
