"""Scenarios on the stores: `bulk` (regulator batch import) and `replay` (replay --verify).

bulk: N signed transfers written to an NDJSON file, imported with
`aftersales import-transfers` when the CLI has it, else POSTed by the bench in batches to
`POST /v1/regulator/transfers/batch` (signed like POST /v1/regulator/transfers). A 404
makes the scenario "not available". Baseline: the same number of 3-event aggregates saved
with raw eventsourcing in batches of the same size.

replay: the loaded platform is stopped, then each service's store is verified with
`shared.replay.verify_replay` (what `aftersales replay --verify` runs) and read back raw
(every notification selected and decoded by the same application's mapper).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.baselines import raw_bulk, raw_replay
from bench.context import Context
from bench.loadgen import Connection, closed_loop
from bench.report import Check, ScenarioResult, Table, ratio
from bench.servers import BenchPlatform, Progress, environment, say
from bench.workload import (
    BATCH_PATH,
    batch_missing,
    complaint_bodies,
    post_requests,
    send_batch,
    signed_headers,
    write_transfers,
)
from shared.settings import SERVICES, Settings, application_secrets, persistence_env

BULK_TARGET = 10_000.0
REPLAY_TARGET = 0.7


def _cli_has_import() -> bool:
    from shared.cli import parser

    return "import-transfers" in parser().format_help()


def _post_batches(
    url: str, regulator_id: str, secret: str, path: Path, batch: int, total: int
) -> tuple[int, str]:
    """POST the file's transfers `batch` at a time; (created, problem or "")."""

    async def go() -> tuple[int, str]:
        connection = Connection(url)
        progress = Progress("bulk import (HTTP batches)", total, unit="transfers")
        done = 0
        try:
            missing = await batch_missing(connection, regulator_id, secret)
            if missing:
                return 0, missing
            with path.open(encoding="utf-8") as lines:
                while True:
                    items = [json.loads(line) for _, line in zip(range(batch), lines, strict=False)]
                    if not items:
                        return done, ""
                    response = await send_batch(connection, regulator_id, secret, items)
                    if response.status >= 300:
                        return done, f"batch refused: {response.status} {response.body[:300]!r}"
                    answer = json.loads(response.body)  # {"created", "existing", "refused", …}
                    done += int(answer.get("created", len(items)))
                    if answer.get("refused"):
                        return done, f"{answer['refused']} transfers refused: {answer}"[:400]
                    progress(done)
        finally:
            connection.close()

    return asyncio.run(go())


def _import_cli(
    url: str, regulator_id: str, secret_file: Path, path: Path, batch: int, workdir: Path
) -> tuple[int, str]:
    argv = [sys.executable, "-m", "shared.cli", "import-transfers", str(path),
            "--regulator-id", regulator_id, "--secret-file", str(secret_file),
            "--url", url, "--batch", str(batch)]  # fmt: skip
    log = workdir / "import-transfers.log"
    with log.open("wb") as out:
        code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    if code != 0:
        return 0, f"import-transfers exited {code}: {log.read_text(errors='replace')[-400:]}"
    return -1, ""  # counted by sampling below


def _verify_sample(url: str, regulator_id: str, secret: str, numbers: list[str]) -> int:
    """How many of these transfer numbers intake knows (signed GETs)."""

    async def go() -> int:
        connection, found = Connection(url), 0
        try:
            for number in numbers:
                path = f"/v1/regulator/transfers/{number}"
                headers = signed_headers(regulator_id, secret, "GET", path, b"")
                response = await connection.request("GET", path, headers=headers)
                found += response.status == 200
        finally:
            connection.close()
        return found

    return asyncio.run(go())


def bulk_platform(ctx: Context) -> BenchPlatform:
    """The e2e scenario's platform when it ran (still up), else a new one."""
    loaded = ctx.loaded.get("platform")
    if isinstance(loaded, BenchPlatform):
        return loaded
    platform = ctx.platform()
    ctx.loaded["platform"] = platform
    return platform


def run_bulk(ctx: Context) -> ScenarioResult:
    result = ScenarioResult("bulk")
    total = ctx.transfers or (10_000 if ctx.quick else 100_000)
    batch = min(2000, total)
    platform = bulk_platform(ctx)
    run_no = ctx.next_run()
    path = ctx.workdir / "transfers.ndjson"
    say(f"bulk: writing {total} transfers to {path}")
    write_transfers(path, run_no, total, "bench-bulk")
    try:
        platform.register_brand("bench-bulk")
    except Exception as error:
        say(f"bulk: brand registration: {error!r}")
    regulator_id = f"bench-{run_no}"
    secret = platform.register_regulator(regulator_id)
    secret_file = ctx.workdir / "regulator.secret"
    secret_file.write_text(secret)
    secret_file.chmod(0o600)
    url = platform.url("intake")
    via_cli = _cli_has_import()
    started = time.perf_counter()
    if via_cli:
        say("bulk: aftersales import-transfers")
        created, problem = _import_cli(url, regulator_id, secret_file, path, batch, ctx.workdir)
    else:
        created, problem = _post_batches(url, regulator_id, secret, path, batch, total)
    seconds = time.perf_counter() - started
    if problem.startswith("not available"):
        result.available = False
        result.summary = problem
        return result
    if problem:
        raise RuntimeError(problem)
    sample = random.Random(run_no).sample(range(total), min(50, total))
    found = _verify_sample(url, regulator_id, secret, [f"B{run_no}-{n}" for n in sample])
    if created < 0:
        created = total if found == len(sample) else round(total * found / len(sample))
    rate = created / seconds if seconds else 0.0
    say("bulk: raw eventsourcing baseline (same aggregates, same batch size)")
    env = ctx.store.new_env("rawbulk")
    if ctx.store.cluster is None:
        env.update(SQLITE_DBNAME=str(ctx.workdir / "rawbulk.db"), SQLITE_LOCK_TIMEOUT="10")
    raw = raw_bulk(env, total, batch, "raw eventsourcing bulk")
    result.tables.append(
        Table(
            "Regulator batch import",
            ["transfers", "batch", "via", "seconds", "created /s", "sample found",
             "raw ES aggregates /s", "ratio"],
            [[total, batch, "aftersales import-transfers" if via_cli else f"POST {BATCH_PATH}",
              round(seconds, 1), rate, f"{found}/{len(sample)}", raw, ratio(rate, raw) or 0.0]],
        )
    )  # fmt: skip
    result.checks += [
        Check("bulk", "complaints created per second", rate, BULK_TARGET, unit="/s",
              baseline=raw),
        Check("bulk", "bulk / raw eventsourcing batch saves", ratio(rate, raw), 0.5,
              baseline=raw, note="informative target: half the raw batch rate"),
    ]  # fmt: skip
    result.summary = (
        f"{created} of {total} transfers in {seconds:.1f} s: {rate:.0f} complaints/s "
        f"(raw eventsourcing, batches of {batch}: {raw:.0f}/s)"
    )
    result.notes.append(
        "Created durably: each batch answered 2xx only after commit; 50 transfer numbers "
        "drawn at random are then read back with signed GET /v1/regulator/transfers/{n}."
    )
    return result


# --- replay -----------------------------------------------------------------------------


def _load_for_replay(ctx: Context) -> BenchPlatform:
    """A platform with something to replay: the e2e/bulk one, or a short load of its own."""
    loaded = ctx.loaded.get("platform")
    if isinstance(loaded, BenchPlatform):
        return loaded
    platform = ctx.platform()
    ctx.loaded["platform"] = platform
    key = platform.register_brand("bench")
    url = platform.url("intake")
    requests = post_requests(url.split("//", 1)[1], key, complaint_bodies(ctx.next_run()))
    seconds = ctx.step_seconds(60, 10)
    asyncio.run(closed_loop(url, requests, 16, seconds, 200_000, Progress("replay: load")))
    from bench.scenario_flow import wait_quiet

    wait_quiet(platform, 30 if ctx.quick else 120)
    return platform


def run_replay(ctx: Context) -> ScenarioResult:
    from shared.replay import verify_replay

    result = ScenarioResult("replay")
    platform = _load_for_replay(ctx)
    platform.stop()
    table = Table(
        "Replay per service (stores of the loaded platform, platform stopped)",
        ["service", "events", "inputs", "replay s", "replay events/s", "raw events/s",
         "ratio", "exact"],
    )  # fmt: skip
    total_events = total_seconds = raw_seconds = 0.0
    with environment(platform.store_env):
        settings = Settings(data_dir=platform.data_dir)
        for service in SERVICES:
            env = persistence_env(service, settings)
            env.update(application_secrets(settings))
            spec: Any = importlib.import_module(f"services.{service}.main").SPEC
            say(f"replay: {service} (verify)")
            report = verify_replay(service, spec.application, env)
            events, raw_rate = raw_replay(spec.application, env, service, f"raw {service}")
            rate = events / report.seconds if report.seconds else 0.0
            table.rows.append(
                [service, events, report.inputs, round(report.seconds, 2), rate, raw_rate,
                 ratio(rate, raw_rate) or 0.0,
                 "yes" if report.exact else f"NO ({len(report.differences)})"]
            )  # fmt: skip
            total_events += events
            total_seconds += report.seconds
            raw_seconds += events / raw_rate if raw_rate else 0.0
            result.checks.append(
                Check("replay", f"{service}: replay / raw replay", ratio(rate, raw_rate),
                      REPLAY_TARGET, baseline=raw_rate,
                      note="" if report.exact else "replay NOT exact")
            )  # fmt: skip
    result.tables.append(table)
    overall = total_events / total_seconds if total_seconds else 0.0
    raw_overall = total_events / raw_seconds if raw_seconds else 0.0
    result.checks.append(
        Check("replay", "all services: replay / raw replay", ratio(overall, raw_overall),
              REPLAY_TARGET, baseline=raw_overall)
    )  # fmt: skip
    result.summary = (
        f"{total_events:.0f} events replayed and verified at {overall:.0f} events/s "
        f"(raw eventsourcing replay: read, decode, re-encode, write: {raw_overall:.0f} events/s)"
    )
    result.notes += [
        "Replay = shared.replay.verify_replay, what `aftersales replay --verify` runs: the "
        "recorded inputs re-run into a scratch store, then every stored event compared. "
        "events/s = events in the live store / that time.",
        "Raw replay = eventsourcing rebuilding a store from this one: every notification "
        "selected (pages of 500), decoded by the application's mapper, encoded again and "
        "inserted into a scratch store of the same kind, one transaction per page, with the "
        "scratch settings `aftersales replay` uses (no fsync). The replay does that work "
        "plus each recorded input's handlers and the comparison of the two stores.",
    ]
    return result
