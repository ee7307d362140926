"""NATS authentication: one user per service, allowed only the subjects its code uses.

The permissions are derived, not written by hand: each service publishes to its own
stream's subjects and its dead-letter subjects (`shared.contracts.STREAMS`), consumes the
upstream streams its `ServiceSpec` names, and makes only the JetStream API calls of
`shared.bus` on those streams. Replies come to an inbox prefix of its own
(`_INBOX_<user>`), so no service can read another's replies or pull deliveries.

Credentials are user/password: a password fits in the `nats://user:password@host` URL
every tool already takes, needs no extra native dependency, and the server config is
written from the same passwords (`aftersales nats-config`). Passwords are 256-bit random,
kept in a 0600 file per data dir by `aftersales up` and the tests; in production they
come from settings (`AFTERSALES_NATS_USER` / `AFTERSALES_NATS_PASSWORD`) over `tls://`.
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlparse, urlunparse

from shared.contracts import STREAMS

ADMIN_USER = "admin"  # the CLI tools, bench and tests: every subject
SERVICE_USERS = tuple(STREAMS)
USERS = (*SERVICE_USERS, ADMIN_USER)
# Services reading whole streams besides their upstreams: intake's complaint history
# (shared/history.py) reads the events of all four streams.
HISTORY_READERS = {"intake": tuple(STREAMS.values())}
# Retired by every service on start (shared.bus._retire_legacy_dead_letters).
LEGACY_DEAD_LETTER_STREAM = "DEADLETTER"
PASSWORD_ENV = "AFTERSALES_NATS_PASSWORD_{user}"  # noqa: S105 (a variable's name)


def inbox_prefix(user: str) -> str:
    """Where `user`'s replies and pull deliveries arrive (only it may subscribe there)."""
    return f"_INBOX_{user}"


def _dead_letter_stream(service: str) -> str:
    return f"DLQ_{service.upper()}"


@dataclass(frozen=True)
class Permissions:
    """What one user may publish to and subscribe to (NATS subjects, allow lists)."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def service_permissions(
    service: str, upstreams: Sequence[str], readers: Mapping[str, Sequence[str]] = HISTORY_READERS
) -> Permissions:
    """The subjects `service` needs: its own streams, its upstreams, its inbox; nothing more."""
    own = [STREAMS[service], _dead_letter_stream(service)]
    api = "$JS.API"
    publish = [f"{service}.>", f"dlq.{service}.>"]
    for stream in own:  # created, configured and read back (the relay's resume) by the owner
        publish += [f"{api}.STREAM.{op}.{stream}" for op in ("CREATE", "UPDATE", "INFO")]
        publish += [f"{api}.STREAM.MSG.GET.{stream}", f"{api}.DIRECT.GET.{stream}"]
    publish += [
        f"{api}.STREAM.INFO.{LEGACY_DEAD_LETTER_STREAM}",
        f"{api}.STREAM.UPDATE.{LEGACY_DEAD_LETTER_STREAM}",
    ]
    for stream in upstreams:  # durable pull consumers, repositioned by delete + create
        publish += [
            f"{api}.STREAM.INFO.{stream}",
            f"{api}.STREAM.MSG.GET.{stream}",
            f"{api}.CONSUMER.CREATE.{stream}.>",
            f"{api}.CONSUMER.DURABLE.CREATE.{stream}.>",
            f"{api}.CONSUMER.DELETE.{stream}.>",
            f"{api}.CONSUMER.INFO.{stream}.>",
            f"{api}.CONSUMER.MSG.NEXT.{stream}.>",
            f"$JS.ACK.{stream}.>",
        ]
    for stream in readers.get(service, ()):  # a complaint's events, by direct get: no consumer
        publish += [
            f"{api}.STREAM.INFO.{stream}",
            f"{api}.STREAM.MSG.GET.{stream}",
            f"{api}.DIRECT.GET.{stream}",
            f"{api}.DIRECT.GET.{stream}.>",
        ]
    return Permissions(tuple(dict.fromkeys(publish)), (f"{inbox_prefix(service)}.>",))


def service_upstreams() -> dict[str, tuple[str, ...]]:
    """Each service's upstream streams, as its `ServiceSpec` declares them."""
    return {
        service: tuple(importlib.import_module(f"services.{service}.main").SPEC.upstreams)
        for service in SERVICE_USERS
    }


def permissions_table() -> dict[str, Permissions]:
    """Every service user's permissions, derived from the code (the admin has no limits)."""
    return {s: service_permissions(s, ups) for s, ups in service_upstreams().items()}


# ------------------------------------------------------------------------ credentials


def new_password() -> str:
    return secrets.token_urlsafe(32)


def load_or_create_credentials(path: Path) -> dict[str, str]:
    """Every user's password, generated once and kept in `path` (0600), reused after."""
    if path.exists():
        saved: dict[str, str] = json.loads(path.read_text())
        if set(saved) >= set(USERS):
            return {user: saved[user] for user in USERS}
    credentials = {user: new_password() for user in USERS}
    _write_private(path, json.dumps(credentials, indent=2) + "\n")
    return credentials


def credentials_from_env(env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Every user's password from `AFTERSALES_NATS_PASSWORD_<USER>`; names what is missing."""
    names = {user: PASSWORD_ENV.format(user=user.upper()) for user in USERS}
    missing = [name for name in names.values() if len(env.get(name, "")) < 16]
    if missing:
        raise ValueError(f"{', '.join(missing)}: set a password of at least 16 characters")
    return {user: env[name] for user, name in names.items()}


def url_with_credentials(url: str, user: str, password: str) -> str:
    """`url` carrying `user:password` (for tools that take only a URL)."""
    parsed = urlparse(url)
    host = parsed.hostname or "127.0.0.1"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    if parsed.port:
        netloc += f":{parsed.port}"
    return urlunparse(parsed._replace(netloc=netloc))


# ---------------------------------------------------------------------- server config


def server_config(
    credentials: Mapping[str, str],
    store_dir: Path,
    table: Mapping[str, Permissions] | None = None,
    sync_interval: str | None = None,
) -> str:
    """The nats-server config: JetStream in `store_dir`, one user per service, no anonymous."""
    table = permissions_table() if table is None else table
    users: list[dict[str, object]] = []
    for user in USERS:
        entry: dict[str, object] = {"user": user, "password": credentials[user]}
        if user in table:
            entry["permissions"] = {
                "publish": {"allow": list(table[user].publish)},
                "subscribe": {"allow": list(table[user].subscribe)},
            }
        users.append(entry)
    jetstream: dict[str, object] = {"store_dir": str(store_dir)}
    if sync_interval:
        jetstream["sync_interval"] = sync_interval
    config = {"jetstream": jetstream, "authorization": {"users": users}}
    header = "# Written by aftersales (shared/natsauth.py); JSON is valid nats-server config.\n"
    return header + json.dumps(config, indent=2) + "\n"


def write_server_config(
    path: Path, credentials: Mapping[str, str], store_dir: Path, sync_interval: str | None = None
) -> Path:
    """Write the config to `path` (0600: it holds the passwords); returns the path."""
    _write_private(path, server_config(credentials, store_dir, sync_interval=sync_interval))
    return path


def prepare_server(data_dir: Path, store_dir: Path) -> tuple[Path, dict[str, str]]:
    """What `aftersales up`, the tests and the bench share: credentials kept under
    `data_dir` (created once) and a config for them; returns (config path, credentials)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    credentials = load_or_create_credentials(data_dir / "nats-credentials.json")
    config = write_server_config(data_dir / "nats-server.conf", credentials, store_dir)
    return config, credentials


def _write_private(path: Path, text: str) -> None:
    """Create (or replace) `path` readable by its owner only, never world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
