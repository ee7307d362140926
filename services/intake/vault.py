"""The PII vault: consumers' details sealed per data subject, their keys kept apart (PIPL).

Ciphertexts live in the append-only event log (`DataSubject`); the keys that open them
live in a key store outside it, so destroying a subject's key makes their PII
unreadable everywhere without rewriting history (crypto-shredding).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from services.intake.commands import Consumer
from services.intake.free_text import ProtectedText, protect, text_aad
from shared.inputs import InputClocked
from shared.security import PiiCipher, PiiError, blind_index
from shared.store import derive_id


class KeyStore(Protocol):
    def put(self, subject_id: str, wrapped_key: bytes) -> None: ...
    def put_new(self, subject_id: str, wrapped_key: bytes) -> bytes: ...
    def get(self, subject_id: str) -> bytes | None: ...
    def delete(self, subject_id: str) -> bool: ...
    def close(self) -> None: ...
    def get_many(self, subject_ids: Sequence[str]) -> dict[str, bytes]: ...
    def put_many(self, keys: Mapping[str, bytes]) -> None: ...


class _NewKey:
    """One new subject key waiting for a group commit, and what the store then held."""

    def __init__(self, subject_id: str, wrapped_key: bytes) -> None:
        self.subject_id = subject_id
        self.wrapped_key = wrapped_key
        self.stored: bytes | None = None
        self.error: BaseException | None = None


class GroupCommit:
    """New subject keys from concurrent requests stored together: one transaction, one fsync.

    Each caller queues its key, then takes the writer lock; whoever holds it writes every
    key queued so far, so callers that waited meanwhile find theirs stored. Each returns
    only after its key is committed: a key is durable before the events sealed with it.
    """

    def __init__(self, write: Callable[[list[tuple[str, bytes]]], list[bytes]]) -> None:
        self._write = write
        self._queue_lock = threading.Lock()
        self._writer = threading.Lock()
        self._queued: list[_NewKey] = []
        self.batches = 0

    def put_new(self, subject_id: str, wrapped_key: bytes) -> bytes:
        new = _NewKey(subject_id, wrapped_key)
        with self._queue_lock:
            self._queued.append(new)
        with self._writer:
            if new.stored is None and new.error is None:
                self._write_queued()
        if new.error is not None:
            raise new.error
        assert new.stored is not None
        return new.stored

    def _write_queued(self) -> None:
        with self._queue_lock:
            batch, self._queued = self._queued, []
        try:
            stored = self._write([(n.subject_id, n.wrapped_key) for n in batch])
        except BaseException as error:
            for new in batch:
                new.error = error
            return
        self.batches += 1
        for new, key in zip(batch, stored, strict=True):
            new.stored = key


class SqliteKeyStore:
    """Subject keys in a SQLite file beside the service's event store."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._new_keys = GroupCommit(self._write_new)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # An erased key is overwritten with zeros, not left in a free page (crypto-shredding).
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS subject_keys (subject_id TEXT PRIMARY KEY, key BLOB)"
        )

    def put(self, subject_id: str, wrapped_key: bytes) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO subject_keys VALUES (?, ?)", (subject_id, wrapped_key)
            )

    def put_new(self, subject_id: str, wrapped_key: bytes) -> bytes:
        """Store a key unless one is there already; the stored key (group-committed)."""
        return self._new_keys.put_new(subject_id, wrapped_key)

    def _write_new(self, keys: list[tuple[str, bytes]]) -> list[bytes]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                stored = [self._insert_new(subject_id, key) for subject_id, key in keys]
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return stored

    def _insert_new(self, subject_id: str, wrapped_key: bytes) -> bytes:
        row = self._db.execute(
            "INSERT INTO subject_keys VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING key",
            (subject_id, wrapped_key),
        ).fetchone()
        if row is None:  # stored before (by another request or replica): that key counts
            row = self._db.execute(
                "SELECT key FROM subject_keys WHERE subject_id = ?", (subject_id,)
            ).fetchone()
        assert row is not None, "a subject key is not deleted while one is being stored"
        return bytes(row[0])

    def get(self, subject_id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key FROM subject_keys WHERE subject_id = ?", (subject_id,)
            ).fetchone()
        return bytes(row[0]) if row else None

    def delete(self, subject_id: str) -> bool:
        """Destroy a subject's key: zeroed in the file, and the WAL (which held it) emptied."""
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM subject_keys WHERE subject_id = ?", (subject_id,)
            )
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return cursor.rowcount > 0

    def get_many(self, subject_ids: Sequence[str]) -> dict[str, bytes]:
        """The keys of those subjects that have one (bulk imports: one query per 500)."""
        found: dict[str, bytes] = {}
        with self._lock:
            for start in range(0, len(subject_ids), 500):
                part = list(subject_ids[start : start + 500])
                marks = ",".join("?" * len(part))
                query = f"SELECT subject_id, key FROM subject_keys WHERE subject_id IN ({marks})"  # noqa: S608
                found.update((r[0], bytes(r[1])) for r in self._db.execute(query, part))
        return found

    def put_many(self, keys: Mapping[str, bytes]) -> None:
        """Store new subjects' keys in one transaction (an existing key is kept)."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT OR IGNORE INTO subject_keys VALUES (?, ?)", list(keys.items())
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

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
        self._insert_new = sql.SQL(
            "INSERT INTO {}.subject_keys VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING key"
        ).format(schema)
        self._select = sql.SQL("SELECT key FROM {}.subject_keys WHERE subject_id = %s").format(
            schema
        )
        self._delete = sql.SQL("DELETE FROM {}.subject_keys WHERE subject_id = %s").format(schema)
        self._select_many = sql.SQL(
            "SELECT subject_id, key FROM {}.subject_keys WHERE subject_id = ANY(%s)"
        ).format(schema)
        self._lock = threading.Lock()
        self._new_keys = GroupCommit(self._write_new)
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

    def put_new(self, subject_id: str, wrapped_key: bytes) -> bytes:
        """Store a key unless one is there already; the stored key (group-committed)."""
        return self._new_keys.put_new(subject_id, wrapped_key)

    def _write_new(self, keys: list[tuple[str, bytes]]) -> list[bytes]:
        with self._lock, self._db.transaction():
            return [self._stored_after_insert(subject_id, key) for subject_id, key in keys]

    def _stored_after_insert(self, subject_id: str, wrapped_key: bytes) -> bytes:
        row = self._db.execute(self._insert_new, (subject_id, wrapped_key)).fetchone()
        if row is None:  # stored before (by another request or replica): that key counts
            row = self._db.execute(self._select, (subject_id,)).fetchone()
        assert row is not None, "a subject key is not deleted while one is being stored"
        return bytes(row[0])

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

    def get_many(self, subject_ids: Sequence[str]) -> dict[str, bytes]:
        """The keys of those subjects that have one, in one query."""
        with self._lock:
            rows = self._db.execute(self._select_many, (list(subject_ids),)).fetchall()
        return {r[0]: bytes(r[1]) for r in rows}

    def put_many(self, keys: Mapping[str, bytes]) -> None:
        """Store new subjects' keys in one transaction (an existing key is kept)."""
        with self._lock, self._db.transaction(), self._db.cursor() as cursor:
            cursor.executemany(self._insert, list(keys.items()))

    def close(self) -> None:
        self._db.close()


def key_store_for(env: dict[str, str]) -> KeyStore:
    if env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
        return PostgresKeyStore(env)
    events_db = Path(env["SQLITE_DBNAME"])
    return SqliteKeyStore(events_db.with_name(events_db.stem + "-keys.db"))


class DataSubject(Aggregate):
    """A consumer's PII, each field encrypted under that consumer's own key."""

    TOPIC = "intake.DataSubject"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "intake.DataSubject.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "intake.DataSubject.Created"

    @event("SubjectRegistered", topic="intake.DataSubject.SubjectRegistered")
    def __init__(
        self, id: UUID, brand_id: str, fields: dict[str, str], indexes: dict[str, str]
    ) -> None:
        self.brand_id = brand_id
        self.fields = fields
        self.indexes = indexes

    @event("SubjectDetailsAdded", topic="intake.DataSubject.SubjectDetailsAdded")
    def add_details(self, fields: dict[str, str]) -> None:
        self.fields.update(fields)

    @event("SubjectErased", topic="intake.DataSubject.SubjectErased")
    def erase(self, erased_by: str, key_destroyed: bool) -> None:
        """PIPL erasure: the subject's key was destroyed, so what it sealed is unreadable."""
        self.erased_by = erased_by


@dataclass(frozen=True)
class SealedConsumer:
    """A consumer as a command records them: subject id, sealed fields, blind indexes."""

    subject_id: str
    fields: dict[str, str]
    indexes: dict[str, str]

    def as_args(self) -> dict[str, Any]:
        return {"subject_id": self.subject_id, "fields": self.fields, "indexes": self.indexes}

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> SealedConsumer:
        return cls(args["subject_id"], dict(args["fields"]), dict(args["indexes"]))


def subject_entry(brand_id: str, sealed: SealedConsumer, known: DataSubject | None) -> DataSubject:
    """The consumer's vault entry with these sealed details: `known`, or a new one."""
    if known is None:
        return DataSubject(
            id=UUID(sealed.subject_id),
            brand_id=brand_id,
            fields=dict(sealed.fields),
            indexes=dict(sealed.indexes),
        )
    known.add_details(fields=dict(sealed.fields))
    return known


class Vault:
    """Finds a consumer by a blind index of their phone and seals their details."""

    def __init__(self, cipher: PiiCipher, index_key: bytes, keys: KeyStore) -> None:
        self.cipher = cipher
        self.index_key = index_key
        self.keys = keys

    def subject_id(self, brand_id: str, phone: str) -> UUID:
        """The consumer's subject id with a brand: no phone number in it, only its index."""
        return derive_id("subject", brand_id, self._phone_index(phone))

    def seal(self, brand_id: str, consumer: Consumer) -> SealedConsumer:
        """The consumer's details sealed under their subject key (drawn once, kept apart).

        Done at the edge, before the command is recorded: the sealed values are part of
        the recorded input, so a replay reuses them and needs neither the key nor a nonce.
        """
        subject_id = str(self.subject_id(brand_id, consumer.phone))
        return self._sealed(subject_id, self._subject_key(subject_id), consumer)

    def seal_with_text(
        self, brand_id: str, consumer: Consumer, complaint_id: str, texts: Mapping[str, str]
    ) -> tuple[SealedConsumer, ProtectedText]:
        """`seal`, and the complaint's free text redacted, its originals under the same key."""
        subject_id = str(self.subject_id(brand_id, consumer.phone))
        key = self._subject_key(subject_id)
        sealed = self._sealed(subject_id, key, consumer)
        return sealed, self._protected(key, subject_id, complaint_id, texts, [consumer.name])

    def protect_text(
        self,
        subject: DataSubject | None,
        subject_id: str,
        complaint_id: str,
        texts: Mapping[str, str],
    ) -> ProtectedText:
        """A later step's free text (a reason, a correction): redacted with the subject's
        name while their key opens it; originals sealed under their key (a new one if the
        subject was erased: it does not open what was sealed before)."""
        wrapped = self.keys.get(subject_id)
        if wrapped is not None:
            key = self.cipher.unwrap_key(wrapped)
            name = self._name(subject, subject_id, key)
            return self._protected(key, subject_id, complaint_id, texts, [name] if name else [])
        redacted = protect(texts, [], lambda place, original: "")
        if not redacted.sealed:  # nothing personal found: no key needed
            return redacted
        key = self._subject_key(subject_id)
        return self._protected(key, subject_id, complaint_id, texts, [])

    def open_text(
        self, subject_id: str, complaint_id: str, sealed: Mapping[str, str]
    ) -> dict[str, str]:
        """The originals this subject's key still opens (none once the subject is erased)."""
        wrapped = self.keys.get(subject_id) if sealed else None
        if wrapped is None:
            return {}
        key = self.cipher.unwrap_key(wrapped)
        opened = {}
        for place, ciphertext in sealed.items():
            try:
                aad = text_aad(subject_id, complaint_id, place)
                opened[place] = self.cipher.decrypt_field(key, ciphertext, aad)
            except PiiError:  # sealed under an earlier key of a subject erased since
                continue
        return opened

    def erase(self, subject_id: str) -> bool:
        """Destroy the subject's key (PIPL erasure); whether there was one."""
        return self.keys.delete(subject_id)

    def _protected(
        self,
        key: bytes,
        subject_id: str,
        complaint_id: str,
        texts: Mapping[str, str],
        names: list[str],
    ) -> ProtectedText:
        def seal(place: str, original: str) -> str:
            aad = text_aad(subject_id, complaint_id, place)
            return self.cipher.encrypt_field(key, original, aad)

        return protect(texts, names, seal)

    def _name(self, subject: DataSubject | None, subject_id: str, key: bytes) -> str | None:
        sealed = subject.fields.get("name") if subject is not None else None
        if sealed is None:
            return None
        try:
            return self.cipher.decrypt_field(key, sealed, f"{subject_id}:name")
        except PiiError:  # erased: the name is gone with the key
            return None

    def seal_many_with_text(
        self, items: Sequence[tuple[str, Consumer, str, Mapping[str, str]]]
    ) -> list[tuple[SealedConsumer, ProtectedText]]:
        """`seal_with_text` for many (brand, consumer, complaint id, texts): keys in bulk."""
        consumers = [(brand_id, consumer) for brand_id, consumer, _, _ in items]
        subject_ids = [str(self.subject_id(b, c.phone)) for b, c in consumers]
        wrapped = self.keys.get_many(sorted(set(subject_ids)))
        new = {s: self.cipher.wrap_key(self.cipher.new_subject_key()) for s in subject_ids}
        new = {s: w for s, w in new.items() if s not in wrapped}
        if new:
            self.keys.put_many(new)
            wrapped.update(self.keys.get_many(sorted(new)))  # a concurrent writer's key wins
        opened = {s: self.cipher.unwrap_key(w) for s, w in wrapped.items()}
        return [
            (
                self._sealed(subject_id, opened[subject_id], consumer),
                self._protected(
                    opened[subject_id], subject_id, complaint_id, texts, [consumer.name]
                ),
            )
            for subject_id, (_, consumer, complaint_id, texts) in zip(
                subject_ids, items, strict=True
            )
        ]

    def _sealed(self, subject_id: str, key: bytes, consumer: Consumer) -> SealedConsumer:
        fields = {"name": consumer.name, "phone": consumer.phone}
        if consumer.address:
            fields["address"] = consumer.address
        if consumer.id_number:
            fields["id_number"] = consumer.id_number
        sealed = {
            name: self.cipher.encrypt_field(key, value, f"{subject_id}:{name}")
            for name, value in fields.items()
        }
        return SealedConsumer(subject_id, sealed, {"phone": self._phone_index(consumer.phone)})

    def _phone_index(self, phone: str) -> str:
        return blind_index(self.index_key, "phone", phone)

    def _subject_key(self, subject_id: str) -> bytes:
        wrapped = self.keys.get(subject_id)
        if wrapped is None:  # a new subject: one insert, which returns the winner's key
            new_key = self.cipher.wrap_key(self.cipher.new_subject_key())
            wrapped = self.keys.put_new(subject_id, new_key)
        return self.cipher.unwrap_key(wrapped)
