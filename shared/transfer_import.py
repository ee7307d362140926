"""`aftersales import-transfers`: a regulator's NDJSON file of transfers, posted in signed batches.

One transfer JSON per line. Each batch is signed like every regulator request (HMAC over
method, path, timestamp, a fresh nonce and the body hash) and posted to intake's batch
endpoint; ids derive from transfer numbers, so re-running a file (after a crash, or to
resume) creates nothing twice. Progress and refusals (with line numbers) go to stderr.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

from shared.security import (
    NONCE_HEADER,
    REGULATOR_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign_request,
)

BATCH_PATH = "/v1/regulator/transfers/batch"
RETRIES = 5


class ImportFailed(Exception):
    """Intake refused a whole batch (or could not be reached): the import stops there."""


@dataclass
class Tally:
    """What the import did so far."""

    sent: int = 0
    created: int = 0
    existing: int = 0
    refused: int = 0
    bad_lines: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        return self.sent / max(time.monotonic() - self.started, 1e-9)

    def line(self) -> str:
        return (
            f"sent {self.sent}  created {self.created}  existing {self.existing}  "
            f"refused {self.refused + self.bad_lines}  {self.rate:,.0f} transfers/s"
        )


def batches(path: Path, size: int, tally: Tally, err: TextIO) -> Iterator[list[tuple[int, Any]]]:
    """(line number, transfer) batches of the file; a line that is not a JSON object is
    reported with its number and counted as refused."""
    batch: list[tuple[int, Any]] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as error:
                item, reason = None, f"not JSON ({error})"
            else:
                reason = "not a JSON object"
            if not isinstance(item, dict):
                tally.bad_lines += 1
                err.write(f"\nline {number}: {reason}\n")
                continue
            batch.append((number, item))
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


def post_batch(
    client: httpx.Client, regulator_id: str, secret: str, items: list[Any]
) -> dict[str, Any]:
    """Post one signed batch, retrying transport errors, 5xx and 429 (after its Retry-After)
    with a fresh nonce (safe: the import is idempotent); another 4xx raises ImportFailed."""
    body = json.dumps({"transfers": items}, ensure_ascii=False).encode()
    for attempt in range(1, RETRIES + 1):
        timestamp, nonce = int(time.time()), secrets.token_urlsafe(16)
        headers = {
            REGULATOR_HEADER: regulator_id,
            TIMESTAMP_HEADER: str(timestamp),
            NONCE_HEADER: nonce,
            SIGNATURE_HEADER: sign_request(
                secret.encode(), "POST", BATCH_PATH, timestamp, nonce, body
            ),
            "Content-Type": "application/json",
        }
        try:
            response = client.post(BATCH_PATH, content=body, headers=headers)
        except httpx.TransportError as error:
            if attempt == RETRIES:
                raise ImportFailed(f"intake unreachable: {error}") from error
        else:
            if response.status_code == 200:
                result: dict[str, Any] = response.json()
                return result
            if response.status_code == 429 and attempt < RETRIES:  # over the regulator's rate
                time.sleep(_retry_after(response))
                continue
            if response.status_code < 500 or attempt == RETRIES:
                raise ImportFailed(f"batch refused: {response.status_code} {response.text[:500]}")
        time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("Retry-After", "1")
    return min(float(value), 60.0) if value.isdigit() else 1.0


def run_import(
    path: Path,
    regulator_id: str,
    secret: str,
    url: str,
    batch_size: int = 2000,
    err: TextIO = sys.stderr,
) -> int:
    """Import the file; exit status 0 when every transfer was created or already there."""
    tally = Tally()
    with httpx.Client(base_url=url, timeout=600) as client:
        try:
            for batch in batches(path, batch_size, tally, err):
                answer = post_batch(client, regulator_id, secret, [item for _, item in batch])
                _count(tally, batch, answer["results"], err)
                err.write(f"\r{tally.line()}")
                err.flush()
        except ImportFailed as error:
            err.write(f"\naftersales import-transfers: {error}\n{tally.line()}\n")
            return 2
    err.write(f"\ndone: {tally.line()}\n")
    return 1 if tally.refused or tally.bad_lines else 0


def _count(
    tally: Tally, batch: list[tuple[int, Any]], results: list[dict[str, Any]], err: TextIO
) -> None:
    tally.sent += len(batch)
    for (number, _), result in zip(batch, results, strict=True):
        status = result["status"]
        if status == 201:
            tally.created += 1
        elif status == 200:
            tally.existing += 1
        else:
            tally.refused += 1
            label = result.get("transfer_number") or "?"
            err.write(f"\nline {number}: transfer {label} refused ({status}): {result['detail']}\n")
