"""What the bench runs against: its own platform, PostgreSQL cluster and progress line.

Nothing here imports `tests/`: the bench runs from an installed package on a fresh clone.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from shared.cli import Platform
from shared.settings import DEV_SECRET, SERVICES

ADMIN = {"Authorization": f"Bearer {DEV_SECRET}"}
# The bench runs a developer's platform: development declared, its secrets and admin token.
DEVELOPMENT = {"AFTERSALES_ENVIRONMENT": "development"}
# The durability the PostgreSQL baseline and platform share (the server's defaults).
PG_SETTINGS = {
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "max_connections": "300",
    "shared_buffers": "256MB",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (from /proc), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Progress:
    """One updating line on stderr per phase: rate, elapsed, done/total."""

    def __init__(self, phase: str, total: int | None = None, unit: str = "req") -> None:
        self.phase, self.total, self.unit = phase, total, unit
        self.started = time.perf_counter()
        self._tty = sys.stderr.isatty()
        self._last = 0.0

    def __call__(self, done: int, elapsed: float | None = None, extra: str = "") -> None:
        now = time.perf_counter()
        if not self._tty and now - self._last < 5:
            return  # a log file gets one line every 5 s, not a flood
        self._last = now
        elapsed = now - self.started if elapsed is None else elapsed
        rate = done / elapsed if elapsed >= 0.5 else 0.0  # no rate from the first instant
        total = f"/{self.total}" if self.total else ""
        line = (
            f"{self.phase:<34} {rate:9.1f} {self.unit}/s {elapsed:7.1f} s {done}{total} {extra}"
        )
        sys.stderr.write(("\r" + line + "\x1b[K") if self._tty else line + "\n")
        sys.stderr.flush()

    def done(self, text: str = "") -> None:
        elapsed = time.perf_counter() - self.started
        end = f"{self.phase:<34} done in {elapsed:.1f} s {text}"
        sys.stderr.write(("\r" + end + "\x1b[K\n") if self._tty else end + "\n")
        sys.stderr.flush()


def say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


# --- PostgreSQL -------------------------------------------------------------------------------


class PostgresCluster:
    """A throwaway PostgreSQL cluster (trust auth on 127.0.0.1, fsync ON: durable commits).

    As root, initdb/pg_ctl run as the `postgres` OS user (initdb refuses root).
    """

    def __init__(self) -> None:
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
        found = [d for d in candidates if os.access(os.path.join(d, "pg_ctl"), os.X_OK)]
        if not found:
            raise SystemExit("bench: PostgreSQL binaries not found (/usr/lib/postgresql/*/bin)")
        self.bin_dir = found[0]
        self.version = Path(self.bin_dir).parent.name
        self.as_root = os.geteuid() == 0
        self.base = Path(tempfile.mkdtemp(prefix="aftersales-bench-pg-", dir="/tmp"))
        self.data = self.base / "data"
        self.sock = self.base / "sock"
        self.port = free_port()
        self.settings = dict(PG_SETTINGS)

    def _run(self, args: list[str], timeout: float = 120) -> None:
        if self.as_root:
            args = ["runuser", "-u", "postgres", "--", *args]
        out = self.base / "tool.out"
        with out.open("ab") as log:
            code = subprocess.run(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.base,
                env={**os.environ, "LC_ALL": "C", "LANG": "C"},
                timeout=timeout,
                check=False,
            ).returncode
        if code != 0:
            raise SystemExit(f"bench: {shlex.join(args)} failed:\n{out.read_text()[-2000:]}")

    def start(self) -> PostgresCluster:
        if self.as_root:
            user = pwd.getpwnam("postgres")
            os.chmod(self.base, 0o700)
            os.chown(self.base, user.pw_uid, user.pw_gid)
        tool = os.path.join(self.bin_dir, "initdb")
        self._run([tool, "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                   "--locale=C"])  # fmt: skip
        self.sock.mkdir()
        if self.as_root:
            user = pwd.getpwnam("postgres")
            os.chown(self.sock, user.pw_uid, user.pw_gid)
        options = [f"-p {self.port}", f"-k {self.sock}", "-c listen_addresses=127.0.0.1"]
        options += [f"-c {k}={v}" for k, v in self.settings.items()]
        pg_ctl = os.path.join(self.bin_dir, "pg_ctl")
        self._run([pg_ctl, "-D", str(self.data), "-l", str(self.base / "postgres.log"),
                   "-o", " ".join(options), "-w", "-t", "60", "start"])  # fmt: skip
        return self

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')

    def conninfo(self, dbname: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def env(self, dbname: str) -> dict[str, str]:
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": dbname,
            "POSTGRES_HOST": "127.0.0.1",
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": "postgres",
            "POSTGRES_PASSWORD": "",
        }

    def stop(self) -> None:
        pg_ctl = os.path.join(self.bin_dir, "pg_ctl")
        with contextlib.suppress(SystemExit):
            self._run([pg_ctl, "-D", str(self.data), "-w", "-m", "fast", "stop"], timeout=60)
        shutil.rmtree(self.base, ignore_errors=True)


# --- the platform ---------------------------------------------------------------------------


class Store:
    """Where the stores of one bench run live: SQLite files or one PostgreSQL database."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind = kind
        self.workdir = workdir
        self.cluster: PostgresCluster | None = None
        self._databases = 0

    def __enter__(self) -> Store:
        if self.kind == "postgres":
            self.cluster = PostgresCluster().start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.cluster is not None:
            self.cluster.stop()

    def new_env(self, name: str) -> dict[str, str]:
        """Environment variables (besides AFTERSALES_DATA_DIR) for a fresh set of stores."""
        if self.cluster is None:
            return {"PERSISTENCE_MODULE": "eventsourcing.sqlite"}
        self._databases += 1
        dbname = f"{name}_{self._databases}"
        self.cluster.create_database(dbname)
        return self.cluster.env(dbname)

    def describe(self) -> str:
        jetstream = (
            "; nats-server JetStream file storage with its default sync (publish acked "
            "before fsync, synced every 2 min)"
        )
        if self.cluster is None:
            return (
                "SQLite file per service (eventsourcing.sqlite: WAL, synchronous=FULL, the "
                "SQLite default: fsync on every commit; SQLITE_LOCK_TIMEOUT=10)" + jetstream
            )
        settings = ", ".join(f"{k}={v}" for k, v in self.cluster.settings.items())
        return (
            f"PostgreSQL {self.cluster.version} throwaway cluster (one database per platform, "
            f"a schema per service), durable: {settings}" + jetstream
        )


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration (children inherit them)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# The bench is load from one key: the rate limits stay on (their check is on the measured
# path) but far above any rate a machine here reaches.
UNTHROTTLED = {
    f"AFTERSALES_RATE_LIMIT_{kind}_{what}": "1000000"
    for kind in ("API_KEY", "REGULATOR", "OPS")
    for what in ("PER_S", "BURST")
}


class BenchPlatform:
    """nats-server and some (or all) of the four services on free ports, a temp data dir."""

    def __init__(self, data_dir: Path, store_env: dict[str, str], services: tuple[str, ...]):
        self.data_dir = data_dir
        self.store_env = store_env
        self.services = services
        ports = {service: free_port() for service in SERVICES}
        self.platform = Platform(data_dir, free_port(), ports)

    def start(self) -> BenchPlatform:
        env = {**self.store_env, **UNTHROTTLED, "AFTERSALES_LOG_LEVEL": "WARNING", **DEVELOPMENT}
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        with environment(env), contextlib.redirect_stdout(sys.stderr):
            self.platform._start_nats(self.data_dir / "logs")
            absent = [s for s in SERVICES if s not in self.services]
            if absent:  # their streams exist, empty, so the running ones' consumers are ready
                asyncio.run(self._ensure_streams(absent))
            for service in self.services:
                self.platform.start_service(service)
            for service in self.services:
                self.platform.wait_ready(service)
        return self

    async def _ensure_streams(self, services: list[str]) -> None:
        from shared.bus import Bus

        bus = await Bus.connect(self.nats_url, "bench")
        try:
            for service in services:
                await bus.ensure_own_streams(service)
        finally:
            await bus.close()

    def stop(self) -> None:
        with contextlib.redirect_stdout(sys.stderr):
            self.platform.stop()

    def url(self, service: str) -> str:
        return self.platform.url(service)

    def restart(self, service: str) -> tuple[float, float]:
        """Stop `service` (SIGTERM, drained) and start it again: (seconds until it answers
        /healthz, its RSS then in MiB). Nothing is loaded at start: both stay small."""
        for name, child in self.platform.children:
            if name == service and child.poll() is None:
                child.terminate()
                child.wait(60)
        env = {**self.store_env, **UNTHROTTLED, "AFTERSALES_LOG_LEVEL": "WARNING", **DEVELOPMENT}
        with environment(env):
            self.platform.start_service(service)
        began = time.perf_counter()
        while time.perf_counter() - began < 120:
            try:
                if httpx.get(f"{self.url(service)}/healthz", timeout=1).status_code == 200:
                    took = time.perf_counter() - began
                    return took, rss_mib(self.pids()[service])
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"bench: {service} did not answer /healthz within 120 s of a restart")

    @property
    def nats_url(self) -> str:
        """As the admin user: the bench prepares and inspects streams."""
        return self.platform.admin_url

    def pids(self) -> dict[str, int]:
        return {name: child.pid for name, child in self.platform.children if child.poll() is None}

    def register_brand(self, brand_id: str) -> str:
        response = httpx.post(
            f"{self.url('intake')}/v1/admin/brands",
            headers=ADMIN,
            json={"brand_id": brand_id, "name": brand_id},
            timeout=30,
        )
        response.raise_for_status()
        key: str = response.json()["api_key"]
        return key

    def register_regulator(self, regulator_id: str) -> str:
        response = httpx.post(
            f"{self.url('intake')}/v1/admin/regulators",
            headers=ADMIN,
            json={"regulator_id": regulator_id, "name": "12315 bench", "kind": "market_regulator"},
            timeout=30,
        )
        response.raise_for_status()
        secret: str = response.json()["secret"]
        return secret

    def readyz(self, service: str) -> dict[str, Any]:
        try:
            body: dict[str, Any] = httpx.get(f"{self.url(service)}/readyz", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return {}
        return body.get("checks", body) if body.get("status") != "ready" else body
