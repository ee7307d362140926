"""A minimal asyncio HTTP/1.1 keep-alive client for the load loops.

httpx spends about 1 ms of CPU per request, which would take the cores the platform
needs. This client writes pre-encoded requests on raw streams and reads responses by
Content-Length (or chunked, for completeness); it measures its own CPU so the report can
say what the load generator cost. Every loop is bounded (by count or by deadline).
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit


class HttpError(Exception):
    """The connection broke or the server answered something that is not HTTP/1.1."""


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str]


class Connection:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.authority = f"{self.host}:{self.port}".encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    def encode(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> bytes:
        """The request bytes (build once, send many times when nothing changes)."""
        lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self.authority]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}".encode())
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(b"Content-Type: application/json")
            lines.append(b"Content-Length: " + str(len(body)).encode())
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    async def send(self, request: bytes) -> Response:
        """Send pre-encoded request bytes and read the whole response."""
        for attempt in (1, 2):
            reader, writer = await self._connect()
            try:
                writer.write(request)
                return await self._read(reader)
            except (ConnectionError, asyncio.IncompleteReadError) as error:
                self.close()
                if attempt == 2:
                    raise HttpError(f"connection failed: {error!r}") from error
        raise AssertionError("unreachable")  # pragma: no cover

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Response:
        return await self.send(self.encode(method, path, body, headers))

    async def _read(self, reader: asyncio.StreamReader) -> Response:
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, _, rest = head.partition(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise HttpError(f"not an HTTP/1.1 response: {status_line[:80]!r}")
        headers: dict[str, str] = {}
        for line in rest.split(b"\r\n"):
            if b":" in line:
                name, _, value = line.partition(b":")
                headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await _read_chunked(reader)
        else:
            body = b""
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(int(parts[1]), body, headers)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


class CpuMeter:
    """CPU seconds this process spent (user + system) between start and stop."""

    def __init__(self) -> None:
        self.started_cpu = self.started_wall = 0.0
        self.cpu = self.wall = 0.0

    def __enter__(self) -> CpuMeter:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.started_cpu = usage.ru_utime + usage.ru_stime
        self.started_wall = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.cpu = usage.ru_utime + usage.ru_stime - self.started_cpu
        self.wall = time.perf_counter() - self.started_wall

    @property
    def cores(self) -> float:
        """Average cores used (CPU seconds per wall second)."""
        return self.cpu / self.wall if self.wall else 0.0


@dataclass
class LoadResult:
    """What one load loop saw: per-status counts, latencies (s) of the good answers."""

    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    client_cpu_s: float = 0.0

    def count(self, *statuses: int) -> int:
        return sum(self.statuses.get(s, 0) for s in statuses)

    def rate(self, *statuses: int) -> float:
        return self.count(*statuses) / self.seconds if self.seconds else 0.0

    def record(self, status: int, latency: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if 200 <= status < 300:
            self.latencies.append(latency)


Progress = Callable[[int, float], None]  # done, elapsed


async def closed_loop(
    url: str,
    requests: Iterator[bytes],
    concurrency: int,
    duration: float,
    max_requests: int,
    progress: Progress | None = None,
    on_response: Callable[[Response], Awaitable[None]] | None = None,
) -> LoadResult:
    """`concurrency` keep-alive clients, each sending the next request when answered,
    until `duration` seconds have passed or `max_requests` were sent."""
    result = LoadResult()
    sent = 0
    deadline = time.perf_counter() + duration

    async def client() -> None:
        nonlocal sent
        connection = Connection(url)
        try:
            while sent < max_requests and time.perf_counter() < deadline:
                request = next(requests, None)
                if request is None:
                    return
                sent += 1
                began = time.perf_counter()
                try:
                    response = await connection.send(request)
                except HttpError as error:
                    result.errors.append(str(error))
                    result.record(0, 0.0)
                    continue
                result.record(response.status, time.perf_counter() - began)
                if on_response is not None:
                    await on_response(response)
        finally:
            connection.close()

    async def report() -> None:
        while True:
            await asyncio.sleep(0.5)
            if progress is not None:
                progress(sent, time.perf_counter() - started)

    with CpuMeter() as meter:
        started = time.perf_counter()
        reporter = asyncio.create_task(report())
        try:
            await asyncio.gather(*(client() for _ in range(concurrency)))
        finally:
            reporter.cancel()
        result.seconds = time.perf_counter() - started
    result.client_cpu_s = meter.cpu
    if progress is not None:
        progress(sent, result.seconds)
    return result
