"""`aftersales bench`: run the scenarios with their same-run baselines and write the report.

Progress goes to stderr; the report's path is the only line on stdout.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.context import Context
from bench.report import REPORTS, ScenarioResult, git_commit, machine, versions, write_report
from bench.servers import Store, say
from shared.cli import find_nats_server

SCENARIOS = ("intake", "e2e", "bulk", "replay", "soak")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario",
        type=_scenarios,
        default=list(SCENARIOS),
        help=f"all (the default), or some of {', '.join(SCENARIOS)} separated by commas",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds per step: each intake concurrency level and e2e rate (default 20 and "
        "60, --quick 5 and 10); the soak's time cap is 20 times this (default 45 min)",
    )
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--transfers", type=int, default=None, help="bulk: how many transfers")
    parser.add_argument(
        "--soak-minutes",
        type=float,
        default=None,
        help="soak: stop after this long even below 1M events (default 45, --quick 1)",
    )
    parser.add_argument("--reports", type=Path, default=REPORTS, help="where reports go")
    parser.add_argument("--keep", action="store_true", help="keep the temp work dir")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy flame graphs of the services (intake: top level; e2e: at 50/s)",
    )


def _scenarios(text: str) -> list[str]:
    if text == "all":
        return list(SCENARIOS)
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown scenario {', '.join(unknown) or text!r}: choose from {', '.join(SCENARIOS)}"
        )
    return [name for name in SCENARIOS if name in names]  # in their natural order


def runner(name: str) -> Callable[[Context], ScenarioResult]:
    if name == "intake":
        from bench import scenario_intake

        return scenario_intake.run
    if name in ("e2e", "soak"):
        from bench import scenario_flow

        return scenario_flow.run_e2e if name == "e2e" else scenario_flow.run_soak
    from bench import scenario_store

    return scenario_store.run_bulk if name == "bulk" else scenario_store.run_replay


def run_scenarios(ctx: Context, chosen: list[str], results: list[ScenarioResult]) -> None:
    for name in chosen:
        say(f"== scenario {name}")
        began = time.perf_counter()
        try:
            result = runner(name)(ctx)
        except (Exception, SystemExit) as error:  # reported; the rest still run
            traceback.print_exc()
            result = ScenarioResult(name, available=False, summary=f"failed: {error!r}")
        result.seconds = time.perf_counter() - began
        results.append(result)
        say(f"== {name}: {result.summary}")


def run(args: argparse.Namespace) -> int:
    chosen: list[str] = args.scenario
    workdir = Path(tempfile.mkdtemp(prefix=f"aftersales-bench-{args.store}-"))
    meta = {
        "started_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "store": args.store,
        "machine": machine(),
        "versions": versions(find_nats_server()),
        "git": git_commit(),
        "args": " ".join(sys.argv[1:]) or "bench",
        "settings": "",
    }
    results: list[ScenarioResult] = []
    try:
        with Store(args.store, workdir) as store:
            meta["settings"] = store.describe()
            ctx = Context(
                store, workdir, args.quick, args.duration, args.transfers, args.profile
            )
            ctx.soak_minutes = args.soak_minutes
            try:
                run_scenarios(ctx, chosen, results)
            finally:
                ctx.stop_all()
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            say(f"work dir kept: {workdir}")
    path = write_report(meta, results, args.reports)
    print(path, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aftersales bench", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
