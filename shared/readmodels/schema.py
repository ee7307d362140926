"""Read-model tables as data: columns, keys and indexes, the row writes and the page queries.

A service declares its tables once (`Table`); its handlers describe changes as typed row
writes (`Insert`, `Upsert`, `Update`, `Delete`) that the recorder executes in the same
transaction as the new events and the tracking position. Nothing here touches a database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

ColumnType = Literal["text", "integer", "real", "boolean", "timestamp", "json"]
COLUMN_TYPES: frozenset[str] = frozenset(
    {"text", "integer", "real", "boolean", "timestamp", "json"}
)
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")
Operator = Literal["=", "!=", "<", "<=", ">", ">=", "in", "not in"]


class ReadModelError(Exception):
    """A read-model definition, write or query the store cannot accept."""


class InvalidCursor(ReadModelError, ValueError):
    """A page cursor that this listing did not hand out (tampered, or another listing's)."""


class WriteConflict(ReadModelError):
    """A required row write matched no row (e.g. a lease this worker no longer holds).

    Raised inside the transaction, so the events and tracking position roll back with it.
    """


def identifier(name: str) -> str:
    """`name` if it is a safe SQL identifier (lower case, digits, underscores)."""
    if not _IDENTIFIER.match(name):
        raise ReadModelError(f"{name!r} is not a valid table or column name")
    return name


@dataclass(frozen=True)
class Column:
    """One column; `timestamp` values are timezone-aware datetimes (stored in UTC)."""

    name: str
    type: ColumnType
    nullable: bool = True

    def __post_init__(self) -> None:
        identifier(self.name)
        if self.type not in COLUMN_TYPES:
            raise ReadModelError(f"column {self.name}: unknown type {self.type!r}")


@dataclass(frozen=True)
class Index:
    """A b-tree index over `columns`, in order (equality columns first, then the sort key)."""

    columns: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class Table:
    """A read-model table: rows keyed by `primary_key`, listed through its `indexes`."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[Index, ...] = ()
    by_name: Mapping[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        identifier(self.name)
        object.__setattr__(self, "by_name", {c.name: c for c in self.columns})
        if len(self.by_name) != len(self.columns):
            raise ReadModelError(f"table {self.name}: a column name is repeated")
        for name in (*self.primary_key, *(c for i in self.indexes for c in i.columns)):
            self.column(name)
        if not self.primary_key:
            raise ReadModelError(f"table {self.name}: a primary key is required")

    def column(self, name: str) -> Column:
        try:
            return self.by_name[name]
        except KeyError:
            raise ReadModelError(f"table {self.name} has no column {name!r}") from None

    def index_name(self, index: Index) -> str:
        return f"{self.name}_{'_'.join(index.columns)}_idx"[:63]


def lease_columns() -> tuple[Column, Column]:
    """The two columns a leased table needs: who holds a row and until when (epoch s)."""
    return Column("lease_owner", "text"), Column("lease_until", "real")


# --- row writes --------------------------------------------------------------------------


@dataclass(frozen=True)
class Add:
    """An `Update` value that adds to the column's current value (counters)."""

    amount: int | float


@dataclass(frozen=True)
class Insert:
    """A new row; a row with the same key already there fails the whole transaction."""

    table: str
    row: Mapping[str, Any]


@dataclass(frozen=True)
class Upsert:
    """A row inserted, or the row with the same key updated with these values."""

    table: str
    row: Mapping[str, Any]


@dataclass(frozen=True)
class Update:
    """Set `values` on the row with `key`, where `expect` also holds.

    With `required`, no matching row raises `WriteConflict` and the transaction rolls back.
    """

    table: str
    key: Mapping[str, Any]
    values: Mapping[str, Any]
    expect: Mapping[str, Any] = field(default_factory=dict)
    required: bool = False


@dataclass(frozen=True)
class Delete:
    """Remove the row with `key` (no row is not an error)."""

    table: str
    key: Mapping[str, Any]


RowWrite = Insert | Upsert | Update | Delete
WRITES_KWARG = "read_model_writes"


def collect_writes(saved_kwargs: dict[Any, Any], writes: Sequence[RowWrite]) -> None:
    """Add `writes` to a processing event's keyword arguments (several handlers may add)."""
    pending: list[RowWrite] = saved_kwargs.setdefault(WRITES_KWARG, [])
    pending.extend(writes)


# --- queries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cmp:
    """A `where` value compared by an operator other than `=` (`in`, `not in`: a sequence)."""

    op: Operator
    value: Any


@dataclass(frozen=True)
class PageQuery:
    """One page of `table` in `order_by` order, after the row a cursor names.

    `order_by` must end in columns that make the order unique (e.g. the primary key), and
    an index should start with the equality columns of `where` followed by `order_by`.
    """

    table: str
    order_by: tuple[str, ...]
    where: Mapping[str, Any] = field(default_factory=dict)
    cursor: str | None = None
    limit: int = 50
    descending: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= 10_000:
            raise ReadModelError(f"page limit must be 1..10000, got {self.limit}")
        if not self.order_by:
            raise ReadModelError("a page query needs an order")


@dataclass(frozen=True)
class Page:
    """Rows of one page, and the cursor of the next (None on the last page)."""

    rows: list[dict[str, Any]]
    cursor: str | None
