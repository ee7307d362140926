"""Read-model definitions and SQL (shared/readmodels): what the store is never asked to run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.readmodels import Column, Index, PageQuery, ReadModelError, Table, Update, Upsert
from shared.readmodels.sql import Dialect, decode_cursor, encode_cursor

ROWS = Table(
    "rows",
    (Column("row_id", "text", nullable=False), Column("at", "timestamp"), Column("n", "integer")),
    primary_key=("row_id",),
    indexes=(Index(("at", "row_id")),),
)


@pytest.mark.parametrize("name", ["Rows", "rows; drop table x", "1rows", "rows-x", ""])
def test_only_plain_lower_case_names_can_become_identifiers(name: str) -> None:
    with pytest.raises(ReadModelError):
        Table(name, (Column("a", "text"),), primary_key=("a",))
    with pytest.raises(ReadModelError):
        Column(name, "text")


def test_a_write_naming_an_unknown_column_is_refused_before_any_sql() -> None:
    with pytest.raises(ReadModelError, match="not a valid"):
        Dialect("sqlite").write(ROWS, Upsert("rows", {"row_id": "a", "evil = 1; --": 1}))
    with pytest.raises(ReadModelError, match="no column"):
        Dialect("sqlite").write(ROWS, Upsert("rows", {"row_id": "a", "missing": 1}))


def test_an_upsert_without_its_key_and_an_update_by_a_partial_key_are_refused() -> None:
    with pytest.raises(ReadModelError, match="lacks key"):
        Dialect("sqlite").write(ROWS, Upsert("rows", {"n": 1}))
    with pytest.raises(ReadModelError, match="keyed by"):
        Dialect("postgres", "s").write(ROWS, Update("rows", {"n": 1}, {"n": 2}))


def test_times_must_be_aware_and_are_stored_in_utc_with_a_fixed_width() -> None:
    column = ROWS.column("at")
    with pytest.raises(ReadModelError, match="aware"):
        Dialect("sqlite").encode(column, datetime(2026, 1, 1))
    stored = Dialect("sqlite").encode(column, datetime(2026, 1, 1, tzinfo=UTC))
    assert stored == "2026-01-01T00:00:00.000000+00:00"


def test_a_cursor_round_trips_its_typed_values() -> None:
    columns = [ROWS.column("at"), ROWS.column("row_id")]
    values = [datetime(2026, 3, 4, 5, 6, 7, 89, tzinfo=UTC), "r-1"]
    assert decode_cursor(encode_cursor(columns, values), columns) == values


def test_a_page_limit_outside_bounds_is_refused() -> None:
    with pytest.raises(ReadModelError):
        PageQuery("rows", ("at", "row_id"), limit=0)
