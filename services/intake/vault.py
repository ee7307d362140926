"""The PII key store: one wrapped key per data subject, deletable for erasure (PIPL).

Ciphertexts live in the append-only event log; the keys that open them live here,
outside it, so destroying a subject's key makes their PII unreadable everywhere
without rewriting history (crypto-shredding).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Protocol


class KeyStore(Protocol):
    def put(self, subject_id: str, wrapped_key: bytes) -> None: ...
    def get(self, subject_id: str) -> bytes | None: ...
    def delete(self, subject_id: str) -> bool: ...
    def close(self) -> None: ...


class SqliteKeyStore:
    """Subject keys in a SQLite file beside the service's event store."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS subject_keys (subject_id TEXT PRIMARY KEY, key BLOB)"
        )

    def put(self, subject_id: str, wrapped_key: bytes) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO subject_keys VALUES (?, ?)", (subject_id, wrapped_key)
            )

    def get(self, subject_id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key FROM subject_keys WHERE subject_id = ?", (subject_id,)
            ).fetchone()
        return bytes(row[0]) if row else None

    def delete(self, subject_id: str) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM subject_keys WHERE subject_id = ?", (subject_id,)
            )
        return cursor.rowcount > 0

    def close(self) -> None:
        self._db.close()


class PostgresKeyStore:
    """Subject keys in a table of the service's own PostgreSQL schema."""

    def __init__(self, env: dict[str, str]) -> None:
        import psycopg
        from psycopg import sql

        schema = sql.Identifier(env.get("POSTGRES_SCHEMA", "intake"))
        self._insert = sql.SQL(
            "INSERT INTO {}.subject_keys VALUES (%s, %s) ON CONFLICT DO NOTHING"
        ).format(schema)
        self._select = sql.SQL("SELECT key FROM {}.subject_keys WHERE subject_id = %s").format(
            schema
        )
        self._delete = sql.SQL("DELETE FROM {}.subject_keys WHERE subject_id = %s").format(schema)
        self._lock = threading.Lock()
        self._db = psycopg.connect(
            dbname=env["POSTGRES_DBNAME"],
            host=env.get("POSTGRES_HOST", "127.0.0.1"),
            port=int(env.get("POSTGRES_PORT", "5432")),
            user=env.get("POSTGRES_USER", "postgres"),
            password=env.get("POSTGRES_PASSWORD", ""),
            autocommit=True,
        )
        self._db.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
        self._db.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.subject_keys "
                "(subject_id TEXT PRIMARY KEY, key BYTEA NOT NULL)"
            ).format(schema)
        )

    def put(self, subject_id: str, wrapped_key: bytes) -> None:
        with self._lock:
            self._db.execute(
                self._insert,
                (subject_id, wrapped_key),
            )

    def get(self, subject_id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                self._select,
                (subject_id,),
            ).fetchone()
        return bytes(row[0]) if row else None

    def delete(self, subject_id: str) -> bool:
        with self._lock:
            cursor = self._db.execute(
                self._delete,
                (subject_id,),
            )
        return cursor.rowcount > 0

    def close(self) -> None:
        self._db.close()


def key_store_for(env: dict[str, str]) -> KeyStore:
    if env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
        return PostgresKeyStore(env)
    events_db = Path(env["SQLITE_DBNAME"])
    return SqliteKeyStore(events_db.with_name(events_db.stem + "-keys.db"))
