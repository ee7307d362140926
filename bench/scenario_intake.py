"""Scenario `intake`: durable 201s/s over HTTP vs raw eventsourcing and a plain CRUD endpoint.

Only nats-server and intake run (routing, compensation and followup are not started, so
intake's CPU is its own). Each concurrency level is a closed loop of keep-alive clients for
a fixed time; the CRUD baseline gets the same load generator, the raw baseline the same
concurrency as threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from typing import Any

from bench.baselines import raw_save
from bench.context import Context
from bench.loadgen import LoadResult, closed_loop
from bench.profiling import Profiler
from bench.report import Check, ScenarioResult, Table, percentiles_ms, ratio
from bench.servers import Progress, cpu_seconds, free_port, say
from bench.workload import complaint_bodies, post_requests

LEVELS = (1, 4, 16, 32, 64)
QUICK_LEVELS = (1, 32)
MAX_REQUESTS = 500_000


def sweep(
    ctx: Context, name: str, url: str, key: str, pid: int | None, levels: tuple[int, ...]
) -> list[dict[str, Any]]:
    """One closed loop per concurrency level; durable 201s per second, latency, CPU."""
    rows = []
    seconds = ctx.step_seconds(20, 5)
    authority = url.split("//", 1)[1]
    requests = post_requests(authority, key, complaint_bodies(ctx.next_run()))
    for level in levels:
        progress = Progress(f"{name} c={level}")
        server_cpu = cpu_seconds(pid) if pid else 0.0
        profiled = ctx.profile and name == "intake" and level == levels[-1] and pid
        tag = f"{ctx.store.kind}-intake-c{level}"
        with Profiler(bool(profiled), {"intake": pid or 0}, seconds, tag) as profiler:
            result: LoadResult = asyncio.run(
                closed_loop(url, requests, level, seconds, MAX_REQUESTS, progress)
            )
        if profiled:
            ctx.notes.append(profiler.note())
        server_cpu = cpu_seconds(pid) - server_cpu if pid else 0.0
        rate = result.rate(201)
        progress.done(f"{rate:.0f} created/s, statuses {result.statuses}")
        rows.append(
            {
                "concurrency": level,
                "rate": rate,
                "statuses": {str(k): v for k, v in result.statuses.items()},
                "latency_ms": percentiles_ms(result.latencies),
                "seconds": round(result.seconds, 2),
                "client_cpu_ms_per_req": _per_request(result.client_cpu_s, result),
                "server_cpu_ms_per_req": _per_request(server_cpu, result),
                "errors": result.errors[:3],
            }
        )
    return rows


def _per_request(cpu_s: float, result: LoadResult) -> float:
    done = sum(result.statuses.values())
    return round(cpu_s / done * 1000, 3) if done else 0.0


def crud_baseline(ctx: Context, levels: tuple[int, ...]) -> list[dict[str, Any]]:
    """The same sweep against the plain FastAPI + same-database endpoint (bench.crud_app)."""
    port, key = free_port(), "bench_0123456789abcdef_" + "k" * 40
    env = {**os.environ, "BENCH_CRUD_KEY": key}
    store_env = ctx.store.new_env("crud")
    if ctx.store.cluster is not None:
        env["BENCH_CRUD_PG"] = ctx.store.cluster.conninfo(store_env["POSTGRES_DBNAME"])
    else:
        env["BENCH_CRUD_DB"] = str(ctx.workdir / "crud.db")
    argv = [sys.executable, "-m", "uvicorn", "--factory", "bench.crud_app:build",
            "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop",
            "--http", "httptools", "--no-access-log", "--log-level", "warning"]  # fmt: skip
    log = (ctx.workdir / "crud.log").open("ab")
    child = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_port(port, child)
        return sweep(ctx, "crud baseline", f"http://127.0.0.1:{port}", key, child.pid, levels)
    finally:
        child.terminate()
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _wait_port(port: int, child: subprocess.Popen[bytes]) -> None:
    import socket

    end = time.monotonic() + 60
    while time.monotonic() < end:
        if child.poll() is not None:
            raise SystemExit(f"bench: the CRUD baseline exited ({child.returncode})")
        with socket.socket() as sock, contextlib.suppress(OSError):
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit("bench: the CRUD baseline did not listen within 60 s")


def raw_baseline(ctx: Context, levels: tuple[int, ...]) -> list[dict[str, Any]]:
    rows = []
    env = ctx.store.new_env("raw")
    if ctx.store.cluster is None:
        env.update(SQLITE_DBNAME=str(ctx.workdir / "raw.db"), SQLITE_LOCK_TIMEOUT="10")
    seconds = ctx.step_seconds(20, 5)
    for level in levels:
        phase = f"raw eventsourcing t={level}"
        rate, latencies = raw_save(env, level, seconds, MAX_REQUESTS, phase)
        rows.append(
            {"concurrency": level, "rate": rate, "latency_ms": percentiles_ms(latencies)}
        )
    return rows


def run(ctx: Context) -> ScenarioResult:
    levels = QUICK_LEVELS if ctx.quick else LEVELS
    result = ScenarioResult("intake")
    platform = ctx.platform(("intake",))
    try:
        key = platform.register_brand("bench")
        pid = platform.pids().get("intake")
        intake = sweep(ctx, "intake", platform.url("intake"), key, pid, levels)
    finally:
        platform.stop()
    say("intake: CRUD baseline (plain FastAPI + same database)")
    crud = crud_baseline(ctx, levels)
    say("intake: raw eventsourcing baseline (3-event aggregate, one save per complaint)")
    raw = raw_baseline(ctx, levels)
    table = Table(
        "Durable creates per second by concurrency (closed loop, keep-alive clients)",
        ["concurrency", "intake /s", "p50 ms", "p95 ms", "p99 ms", "CRUD /s", "CRUD p99 ms",
         "raw ES /s", "raw p99 ms", "intake/raw", "intake/CRUD", "intake CPU ms/req",
         "client CPU ms/req"],
    )
    for i, row in enumerate(intake):
        table.rows.append(
            [
                row["concurrency"],
                row["rate"],
                row["latency_ms"]["p50"],
                row["latency_ms"]["p95"],
                row["latency_ms"]["p99"],
                crud[i]["rate"],
                crud[i]["latency_ms"]["p99"],
                raw[i]["rate"],
                raw[i]["latency_ms"]["p99"],
                ratio(row["rate"], raw[i]["rate"]) or 0.0,
                ratio(row["rate"], crud[i]["rate"]) or 0.0,
                row["server_cpu_ms_per_req"],
                row["client_cpu_ms_per_req"],
            ]
        )
    result.tables.append(table)
    best = max(intake, key=lambda r: r["rate"])
    best_raw = max(r["rate"] for r in raw)
    best_crud = max(r["rate"] for r in crud)
    result.checks += [
        Check("intake", "intake peak / raw eventsourcing peak", ratio(best["rate"], best_raw),
              0.5, baseline=best_raw),
        Check("intake", "intake peak / CRUD peak", ratio(best["rate"], best_crud), 1.0,
              baseline=best_crud),
    ]  # fmt: skip
    result.summary = (
        f"intake peaks at {best['rate']:.0f} durable creates/s (c={best['concurrency']}, "
        f"p50 {best['latency_ms']['p50']} ms, p99 {best['latency_ms']['p99']} ms); raw "
        f"eventsourcing {best_raw:.0f} saves/s; CRUD {best_crud:.0f} creates/s."
    )
    result.notes += [
        "Only nats-server and intake run for this scenario (routing, compensation, followup "
        "are not started). Every body is a new consumer and merchant: each 201 is a new "
        "complaint stored durably before the answer.",
        "Raw baseline: an eventsourcing Application saving a 3-event aggregate shaped like a "
        "received complaint, one save per complaint, from N threads (N = the concurrency), "
        "same store settings as the services.",
        "CRUD baseline: plain FastAPI (uvloop + httptools, one worker) on the same database: "
        "API key hash looked up in a table, the same pydantic NewComplaint, a duplicate "
        "lookup by the phone's HMAC blind index, one row per complaint.",
        "Load generator: bench.loadgen (raw asyncio HTTP/1.1 keep-alive, pre-encoded bodies); "
        "its CPU per request is in the table (client CPU ms/req).",
    ]
    result.notes += ctx.notes
    ctx.notes.clear()
    result.data = {"intake": intake, "crud": crud, "raw": raw}
    return result
