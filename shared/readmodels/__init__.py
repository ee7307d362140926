"""Read models that persist: tables in the service's own store, written with its events.

`schema` declares tables, row writes and page queries; `sql` spells them for SQLite and
PostgreSQL; `recorders` executes the writes inside the transaction that records events and
the tracking position, and serves pages and leases; `application` is the mixin a service
application uses to declare its tables and derive row writes on every save.
"""

from shared.readmodels.application import (
    ReadModelApplication,
    add_writes,
    recorder_topic,
)
from shared.readmodels.recorders import (
    PostgresReadModelRecorder,
    ReadModelRecorder,
    SQLiteReadModelRecorder,
)
from shared.readmodels.schema import (
    Add,
    Cmp,
    Column,
    Delete,
    Index,
    Insert,
    InvalidCursor,
    Page,
    PageQuery,
    ReadModelError,
    RowWrite,
    Table,
    Update,
    Upsert,
    WriteConflict,
    lease_columns,
)

__all__ = [
    "Add",
    "Cmp",
    "Column",
    "Delete",
    "Index",
    "Insert",
    "InvalidCursor",
    "Page",
    "PageQuery",
    "PostgresReadModelRecorder",
    "ReadModelApplication",
    "ReadModelError",
    "ReadModelRecorder",
    "RowWrite",
    "SQLiteReadModelRecorder",
    "Table",
    "Update",
    "Upsert",
    "WriteConflict",
    "add_writes",
    "lease_columns",
    "recorder_topic",
]
