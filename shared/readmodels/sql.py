"""SQL for read-model tables in the two dialects we run on: SQLite and PostgreSQL.

Identifiers are checked names from `Table` definitions (never request data); every value
is a bound parameter. The same statements serve both stores apart from the placeholder,
the schema prefix, the column types and PostgreSQL's `FOR UPDATE SKIP LOCKED`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from shared.readmodels.schema import (
    Add,
    Cmp,
    Column,
    Delete,
    Insert,
    InvalidCursor,
    PageQuery,
    ReadModelError,
    RowWrite,
    Table,
    Update,
    Upsert,
    identifier,
)

Statement = tuple[str, list[Any]]
_SQL_TYPES = {
    "sqlite": {
        "text": "TEXT",
        "integer": "INTEGER",
        "real": "REAL",
        "boolean": "INTEGER",
        "timestamp": "TEXT",
        "json": "TEXT",
    },
    "postgres": {
        "text": "text",
        "integer": "bigint",
        "real": "double precision",
        "boolean": "boolean",
        "timestamp": "timestamptz",
        "json": "text",
    },
}


@dataclass(frozen=True)
class Dialect:
    """How to spell read-model SQL for one store (and, on PostgreSQL, one schema)."""

    kind: Literal["sqlite", "postgres"]
    schema: str = ""

    @property
    def mark(self) -> str:
        return "?" if self.kind == "sqlite" else "%s"

    def table(self, table: Table) -> str:
        if self.kind == "postgres":
            return f'"{self.schema}"."{table.name}"'
        return f'"{table.name}"'

    # --- values ---------------------------------------------------------------------

    def encode(self, column: Column, value: Any) -> Any:
        """A Python value as this store keeps it in `column`."""
        if value is None:
            if not column.nullable:
                raise ReadModelError(f"column {column.name} may not be null")
            return None
        if column.type == "timestamp":
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise ReadModelError(f"column {column.name} needs an aware datetime")
            utc = value.astimezone(UTC)
            return utc if self.kind == "postgres" else utc.isoformat(timespec="microseconds")
        if column.type == "boolean":
            return bool(value) if self.kind == "postgres" else int(bool(value))
        if column.type == "json":
            return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
        return value

    def decode(self, column: Column, value: Any) -> Any:
        """A stored value of `column` back as the Python value it was written from."""
        if value is None:
            return None
        if column.type == "timestamp":
            if isinstance(value, datetime):
                return value.astimezone(UTC)
            return datetime.fromisoformat(value)
        if column.type == "boolean":
            return bool(value)
        if column.type == "json":
            return json.loads(value)
        return value

    def decode_row(self, table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
        return {name: self.decode(table.column(name), row[name]) for name in row.keys()}  # noqa: SIM118 (sqlite3.Row)

    # --- definitions ----------------------------------------------------------------

    def create(self, table: Table) -> list[str]:
        """CREATE TABLE and CREATE INDEX statements (idempotent)."""
        types = _SQL_TYPES[self.kind]
        columns = [
            f"{c.name} {types[c.type]}{'' if c.nullable else ' NOT NULL'}" for c in table.columns
        ]
        columns.append(f"PRIMARY KEY ({', '.join(table.primary_key)})")
        statements = [f"CREATE TABLE IF NOT EXISTS {self.table(table)} ({', '.join(columns)})"]
        for index in table.indexes:
            unique = "UNIQUE " if index.unique else ""
            statements.append(
                f"CREATE {unique}INDEX IF NOT EXISTS {table.index_name(index)} "
                f"ON {self.table(table)} ({', '.join(index.columns)})"
            )
        return statements

    # --- writes ---------------------------------------------------------------------

    def write(self, table: Table, write: RowWrite) -> Statement:
        """The statement for one row write; an `Update` or `Delete` returns the rows hit."""
        if isinstance(write, Insert | Upsert):
            return self._insert(table, write)
        if isinstance(write, Update):
            return self._update(table, write)
        return self._delete(table, write)

    def _insert(self, table: Table, write: Insert | Upsert) -> Statement:
        names = [identifier(n) for n in write.row]
        params = [self.encode(table.column(n), write.row[n]) for n in names]
        marks = ", ".join(self.mark for _ in names)
        sql = f"INSERT INTO {self.table(table)} ({', '.join(names)}) VALUES ({marks})"  # noqa: S608
        if isinstance(write, Upsert):
            missing = [k for k in table.primary_key if k not in write.row]
            if missing:
                raise ReadModelError(f"upsert into {table.name} lacks key {missing}")
            changed = [n for n in names if n not in table.primary_key]
            conflict = f" ON CONFLICT ({', '.join(table.primary_key)}) DO "
            if changed:
                sql += conflict + "UPDATE SET " + ", ".join(f"{n} = excluded.{n}" for n in changed)
            else:
                sql += conflict + "NOTHING"
        return sql, params

    def _update(self, table: Table, write: Update) -> Statement:
        if not write.values:
            raise ReadModelError(f"update of {table.name} sets nothing")
        sets: list[str] = []
        params: list[Any] = []
        for name, value in write.values.items():
            column = table.column(name)
            if isinstance(value, Add):
                sets.append(f"{name} = {name} + {self.mark}")
                params.append(value.amount)
            else:
                sets.append(f"{name} = {self.mark}")
                params.append(self.encode(column, value))
        where, where_params = self.where(table, {**write.expect, **self.key(table, write.key)})
        sql = f"UPDATE {self.table(table)} SET {', '.join(sets)}{where} RETURNING 1"  # noqa: S608
        return sql, params + where_params

    def _delete(self, table: Table, write: Delete) -> Statement:
        where, params = self.where(table, self.key(table, write.key))
        return f"DELETE FROM {self.table(table)}{where} RETURNING 1", params  # noqa: S608

    def key(self, table: Table, key: Mapping[str, Any]) -> Mapping[str, Any]:
        if set(key) != set(table.primary_key):
            raise ReadModelError(f"{table.name} rows are keyed by {table.primary_key}")
        return key

    def where(self, table: Table, conditions: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """` WHERE a = ? AND b IS NULL AND c >= ?` for equality, None and `Cmp` values."""
        parts: list[str] = []
        params: list[Any] = []
        for name, value in conditions.items():
            column = table.column(name)
            if value is None:
                parts.append(f"{name} IS NULL")
            elif isinstance(value, Cmp) and value.op in ("in", "not in"):
                values = list(value.value)
                if not values:
                    parts.append("1 = 0" if value.op == "in" else "1 = 1")
                else:
                    marks = ", ".join(self.mark for _ in values)
                    parts.append(f"{name} {value.op.upper()} ({marks})")
                    params += [self.encode(column, v) for v in values]
            elif isinstance(value, Cmp):
                parts.append(f"{name} {value.op} {self.mark}")
                params.append(self.encode(column, value.value))
            else:
                parts.append(f"{name} = {self.mark}")
                params.append(self.encode(column, value))
        return (" WHERE " + " AND ".join(parts) if parts else ""), params

    # --- reads ----------------------------------------------------------------------

    def page(self, table: Table, query: PageQuery) -> Statement:
        """A keyset page: `(k1, k2) > (cursor values)` in index order, one row extra."""
        where, params = self.where(table, query.where)
        order = [table.column(n).name for n in query.order_by]
        if query.cursor is not None:
            after = decode_cursor(query.cursor, [table.column(n) for n in order])
            keys = f"({', '.join(order)})"
            marks = f"({', '.join(self.mark for _ in order)})"
            operator = "<" if query.descending else ">"
            where += (" AND " if where else " WHERE ") + f"{keys} {operator} {marks}"
            params += [self.encode(table.column(n), v) for n, v in zip(order, after, strict=True)]
        direction = " DESC" if query.descending else ""
        order_sql = ", ".join(f"{n}{direction}" for n in order)
        sql = f"SELECT * FROM {self.table(table)}{where} ORDER BY {order_sql} LIMIT {self.mark}"  # noqa: S608
        return sql, [*params, query.limit + 1]

    def select(
        self, table: Table, where: Mapping[str, Any], order_by: Sequence[str], limit: int
    ) -> Statement:
        clause, params = self.where(table, where)
        order = ", ".join(table.column(n).name for n in order_by) or ", ".join(table.primary_key)
        sql = f"SELECT * FROM {self.table(table)}{clause} ORDER BY {order} LIMIT {self.mark}"  # noqa: S608
        return sql, [*params, limit]

    def count(self, table: Table, where: Mapping[str, Any]) -> Statement:
        clause, params = self.where(table, where)
        return f"SELECT COUNT(*) AS n FROM {self.table(table)}{clause}", params  # noqa: S608

    # --- leases ---------------------------------------------------------------------

    def claim(
        self,
        table: Table,
        owner: str,
        now: float,
        until: float,
        limit: int,
        due_column: str,
        where: Mapping[str, Any],
    ) -> Statement:
        """Lease up to `limit` due rows that nobody holds (or whose lease has run out)."""
        due = table.column(due_column).name
        clause, params = self.where(table, {**where, due: Cmp("<=", now)})
        clause += " AND (lease_until IS NULL OR lease_until <= " + self.mark + ")"
        params.append(now)
        key = ", ".join(table.primary_key)
        order = f"{due}, {key}"
        name = self.table(table)
        if self.kind == "postgres":
            join = " AND ".join(f"t.{k} = due.{k}" for k in table.primary_key)
            sql = (
                f"WITH due AS (SELECT {key} FROM {name}{clause} ORDER BY {order} "  # noqa: S608
                f"LIMIT %s FOR UPDATE SKIP LOCKED) "
                f"UPDATE {name} AS t SET lease_owner = %s, lease_until = %s "
                f"FROM due WHERE {join} RETURNING t.*"
            )
            return sql, [*params, limit, owner, until]
        sql = (
            f"UPDATE {name} SET lease_owner = ?, lease_until = ? "  # noqa: S608
            f"WHERE ({key}) IN (SELECT {key} FROM {name}{clause} ORDER BY {order} LIMIT ?) "
            "RETURNING *"
        )
        return sql, [owner, until, *params, limit]


# --- cursors -----------------------------------------------------------------------------


def encode_cursor(columns: Sequence[Column], values: Sequence[Any]) -> str:
    """An opaque cursor naming the row `values` (the page's order columns) belong to."""
    plain = [
        v.astimezone(UTC).isoformat() if c.type == "timestamp" and v is not None else v
        for c, v in zip(columns, values, strict=True)
    ]
    raw = json.dumps(plain, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, columns: Sequence[Column]) -> list[Any]:
    """The order-column values a cursor names; `InvalidCursor` if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError) as error:
        raise InvalidCursor("the cursor is not valid") from error
    if not isinstance(values, list) or len(values) != len(columns):
        raise InvalidCursor("the cursor is not valid")
    decoded: list[Any] = []
    for column, value in zip(columns, values, strict=True):
        decoded.append(_cursor_value(column, value))
    return decoded


def _cursor_value(column: Column, value: Any) -> Any:
    expected: dict[str, type | tuple[type, ...]] = {
        "text": str,
        "integer": int,
        "real": (int, float),
        "boolean": bool,
        "timestamp": str,
    }
    kind = expected.get(column.type)
    if value is None or kind is None or not isinstance(value, kind):
        raise InvalidCursor("the cursor is not valid")
    if column.type == "timestamp":
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError as error:
            raise InvalidCursor("the cursor is not valid") from error
        if moment.tzinfo is None:
            raise InvalidCursor("the cursor is not valid")
        return moment
    return value
