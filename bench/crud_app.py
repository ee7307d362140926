"""The CRUD baseline: a plain FastAPI endpoint on the same database, no event sourcing.

One row per complaint, with the checks intake cannot skip: the API key hashed and looked
up in a table, the same pydantic model (`NewComplaint`), and a duplicate lookup by the
phone's blind index (HMAC) for the same brand and merchant. Run by the bench as its own
uvicorn process (uvloop + httptools, one worker):

    BENCH_CRUD_DB=/tmp/x.db uvicorn --factory bench.crud_app:build
    BENCH_CRUD_PG="host=… dbname=…" uvicorn --factory bench.crud_app:build
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import threading
import uuid
from typing import Annotated, Any

from fastapi import FastAPI, Header, HTTPException, Response

from services.intake.schemas import NewComplaint
from shared.settings import DEV_SECRET

INDEX_KEY = DEV_SECRET.encode()
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS api_keys (key_hash TEXT PRIMARY KEY, brand_id TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS complaints (id TEXT PRIMARY KEY, brand_id TEXT NOT NULL, "
    "phone_index TEXT NOT NULL, merchant TEXT, body TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS complaints_dedup ON complaints (brand_id, phone_index, merchant)",
]


class Database:
    """One connection per worker thread; each request is one transaction."""

    def __init__(self) -> None:
        self.sqlite_path = os.environ.get("BENCH_CRUD_DB", "")
        self.pg = os.environ.get("BENCH_CRUD_PG", "")
        self.local = threading.local()
        self.mark = "%s" if self.pg else "?"

    def connection(self) -> Any:
        found = getattr(self.local, "connection", None)
        if found is None:
            if self.pg:
                import psycopg

                found = psycopg.connect(self.pg)
            else:
                found = sqlite3.connect(self.sqlite_path, isolation_level=None, timeout=10)
                found.execute("PRAGMA journal_mode=WAL")
            self.local.connection = found
        return found

    def setup(self, key_hash: str, brand_id: str) -> None:
        connection = self.connection()
        for statement in SCHEMA:
            connection.execute(statement)
        connection.execute(
            f"INSERT INTO api_keys VALUES ({self.mark}, {self.mark}) ON CONFLICT DO NOTHING",  # noqa: S608
            (key_hash, brand_id),
        )
        if self.pg:
            connection.commit()

    def brand_of(self, key_hash: str) -> str | None:
        connection = self.connection()
        row = connection.execute(
            f"SELECT brand_id FROM api_keys WHERE key_hash = {self.mark}",  # noqa: S608
            (key_hash,),
        ).fetchone()
        if self.pg:
            connection.commit()
        return None if row is None else str(row[0])

    def insert_unless_duplicate(
        self, brand_id: str, phone_index: str, merchant: str | None, body: str
    ) -> tuple[str, bool]:
        connection = self.connection()
        m = self.mark
        same = "IS NOT DISTINCT FROM" if self.pg else "IS"
        if not self.pg:
            connection.execute("BEGIN IMMEDIATE")
        try:
            row = connection.execute(
                f"SELECT id FROM complaints WHERE brand_id = {m} AND phone_index = {m} "  # noqa: S608
                f"AND merchant {same} {m}",
                (brand_id, phone_index, merchant),
            ).fetchone()
            if row is not None:
                connection.execute("ROLLBACK") if not self.pg else connection.rollback()
                return str(row[0]), False
            complaint_id = str(uuid.uuid4())
            connection.execute(
                f"INSERT INTO complaints VALUES ({m}, {m}, {m}, {m}, {m})",  # noqa: S608
                (complaint_id, brand_id, phone_index, merchant, body),
            )
            connection.execute("COMMIT") if not self.pg else connection.commit()
            return complaint_id, True
        except Exception:
            connection.execute("ROLLBACK") if not self.pg else connection.rollback()
            raise


def build() -> FastAPI:
    app = FastAPI(title="bench CRUD baseline")
    database = Database()
    key = os.environ.get("BENCH_CRUD_KEY", "")
    database.setup(hashlib.sha256(key.encode()).hexdigest(), "bench")

    @app.get("/readyz")
    def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.post("/v1/complaints", status_code=201)
    def post_complaint(
        new: NewComplaint,
        response: Response,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        if not x_api_key:
            raise HTTPException(401, "missing API key")
        brand_id = database.brand_of(hashlib.sha256(x_api_key.encode()).hexdigest())
        if brand_id is None:
            raise HTTPException(401, "unknown API key")
        phone_index = hmac.new(INDEX_KEY, new.consumer.phone.encode(), "sha256").hexdigest()
        body = json.dumps(new.model_dump(mode="json"), ensure_ascii=False)
        complaint_id, created = database.insert_unless_duplicate(
            brand_id, phone_index, new.order.merchant, body
        )
        if not created:
            response.status_code = 200
        return {"complaint_id": complaint_id, "status": "received", "duplicate": not created}

    return app
