"""Report math and rendering: percentiles, ratios, PASS/MISS, Markdown + JSON files."""

from __future__ import annotations

import json
import math
import os
import platform
import re
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
REPORTS = Path(__file__).resolve().parent / "reports"


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0..100), linear between closest ranks; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = p / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    """p50/p95/p99 of latencies given in seconds, in milliseconds (rounded to 0.1)."""
    return {
        f"p{p}": round(percentile(seconds, p) * 1000, 1) for p in (50, 95, 99)
    } | {"n": len(seconds)}


def ratio(measured: float, baseline: float) -> float | None:
    """measured / baseline, or None when there is no baseline to compare with."""
    if baseline <= 0:
        return None
    return measured / baseline


@dataclass
class Check:
    """One target: the measured value (a rate or a ratio), its target, and which way is good."""

    scenario: str
    what: str
    measured: float | None
    target: float
    unit: str = "×"
    higher_is_better: bool = True
    baseline: float | None = None
    note: str = ""

    @property
    def passed(self) -> bool:
        if self.measured is None:
            return False
        if self.higher_is_better:
            return self.measured >= self.target
        return self.measured < self.target

    def verdict(self) -> str:
        """PASS, or MISS with by how much (relative to the target)."""
        if self.measured is None:
            return "MISS (not measured)"
        if self.passed:
            return "PASS"
        if self.target == 0 or (self.higher_is_better and self.measured <= 0):
            return "MISS (none)"
        if self.higher_is_better:
            short = (self.target - self.measured) / self.target * 100
            return f"MISS by {short:.0f}% (needs {self.target / max(self.measured, 1e-9):.1f}×)"
        over = (self.measured - self.target) / self.target * 100
        return f"MISS by {over:.0f}% over"

    def target_text(self) -> str:
        sign = "≥" if self.higher_is_better else "<"
        return f"{sign} {_num(self.target)}{_unit(self.unit)}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed, "verdict": self.verdict()}


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


@dataclass
class ScenarioResult:
    name: str
    available: bool = True
    summary: str = ""
    checks: list[Check] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "available": self.available,
            "summary": self.summary,
            "seconds": round(self.seconds, 1),
            "checks": [c.as_dict() for c in self.checks],
            "tables": [asdict(t) for t in self.tables],
            "notes": self.notes,
            "data": self.data,
        }


def _num(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _unit(unit: str) -> str:
    return unit if unit in ("×", "%") else f" {unit}"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return _num(value)
    return str(value).replace("|", "\\|")


# --- the machine and the software ---------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cores": os.cpu_count() or 0,
        "cpu": cpu or platform.processor(),
        "ram_gib": ram_gib,
        "os": f"{platform.system()} {platform.release()}",
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def versions(nats_server: str | None) -> dict[str, str]:
    found = {"python": sys.version.split()[0]}
    for package in ("eventsourcing", "fastapi", "uvicorn", "pydantic", "nats-py", "psycopg"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "absent"
    if nats_server:
        try:
            out = subprocess.run(
                [nats_server, "--version"], capture_output=True, text=True, timeout=10
            ).stdout
            match = re.search(r"v(\d+\.\d+\.\d+)", out)
            found["nats-server"] = match.group(1) if match else out.strip()
        except OSError:
            found["nats-server"] = "unknown"
    return found


def git_commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except OSError:
            return ""

    commit = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    branch = git("branch", "--show-current")
    return {"commit": commit or "unknown", "dirty": dirty, "branch": branch}


# --- rendering ------------------------------------------------------------------------------


def render_markdown(meta: dict[str, Any], results: list[ScenarioResult]) -> str:
    m, v, g = meta["machine"], meta["versions"], meta["git"]
    lines = [
        f"# aftersales bench — {meta['store']} — {meta['started_at']}",
        "",
        f"- machine: {m['cores']} cores, {m['cpu']}, {m['ram_gib']} GiB RAM, {m['os']}, "
        f"load average at start {m['loadavg_at_start']}",
        "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- commit: `{g['commit'][:12]}`{' (dirty)' if g['dirty'] else ''} on {g['branch']}",
        f"- store: {meta['store']}; settings: {meta['settings']}",
        f"- run: {meta['args']}",
        "",
        "## Targets",
        "",
        "| scenario | what | measured | baseline | target | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        if not result.available:
            lines.append(f"| {result.name} | not available | – | – | – | {result.summary} |")
        for check in result.checks:
            lines.append(
                f"| {check.scenario} | {_cell(check.what)} | "
                f"{_num(check.measured)}{_unit(check.unit)} | {_num(check.baseline)} | "
                f"{check.target_text()} | {check.verdict()} |"
            )
    for result in results:
        lines += ["", f"## {result.name} ({result.seconds:.0f} s)", ""]
        if result.summary:
            lines += [result.summary, ""]
        for table in result.tables:
            lines += [f"**{table.title}**", ""]
            lines.append("| " + " | ".join(table.columns) + " |")
            lines.append("|" + "---|" * len(table.columns))
            for row in table.rows:
                lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
            lines.append("")
        for note in result.notes:
            lines.append(f"- {note}")
    return "\n".join(lines).rstrip() + "\n"


def write_report(
    meta: dict[str, Any], results: list[ScenarioResult], directory: Path = REPORTS
) -> Path:
    """`<store>-<YYYYMMDD-HHMM>.md` and `.json`, and `latest-<store>.md`; returns the .md."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    base = directory / f"{meta['store']}-{stamp}"
    markdown = render_markdown(meta, results)
    base.with_suffix(".md").write_text(markdown)
    document = {"meta": meta, "scenarios": [r.as_dict() for r in results]}
    base.with_suffix(".json").write_text(json.dumps(document, indent=2, ensure_ascii=False))
    (directory / f"latest-{meta['store']}.md").write_text(markdown)
    return base.with_suffix(".md")
