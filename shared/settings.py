"""Settings every service reads from the environment (prefix ``AFTERSALES_``).

Settings fail fast: a wrong value stops the process at start-up with a message that
names the variable, instead of failing on the first request.
"""

from __future__ import annotations

import os
import sys
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.contracts import parse_publish_as

SERVICES = ("intake", "routing", "compensation", "followup")
DEFAULT_PORTS = {"intake": 8001, "routing": 8002, "compensation": 8003, "followup": 8004}
# Development-only secrets: `aftersales up` uses them; services refuse them unless
# AFTERSALES_ENVIRONMENT=development is set explicitly (unset means production).
DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"  # noqa: S105 (development only)
# The secrets a service refuses to run on at their development value outside development.
# (The admin token is not among them: outside development it is never accepted at all.)
DEV_CHECKED_SECRETS = ("token_key", "pii_master_key", "pii_index_key")


class Settings(BaseSettings):
    """Runtime configuration shared by the four services and the CLI."""

    model_config = SettingsConfigDict(env_prefix="AFTERSALES_", extra="ignore")

    # Unset means production: the development secrets and the static admin token work
    # only where development is declared (`aftersales up` declares it).
    environment: Literal["development", "test", "production"] = "production"
    nats_url: str = "nats://127.0.0.1:4222"
    # This process's NATS user (one per service, see shared/natsauth.py); empty: the user in
    # the URL, if any. `aftersales up` and the tests set both from generated passwords.
    nats_user: str = Field(default="", pattern=r"^[A-Za-z0-9_-]*$", max_length=64)
    nats_password: str = Field(default="", repr=False)
    data_dir: Path = Path(".aftersales")
    stream_replicas: int = Field(default=1, ge=1, le=5)
    # Limits of the streams a service owns (its own and its dead-letter stream).
    # 0 / -1: unlimited. Consumers report messages discarded before they processed them.
    stream_max_age_s: float = Field(default=0.0, ge=0)
    stream_max_bytes: int = Field(default=-1, ge=-1)
    stream_max_msgs: int = Field(default=-1, ge=-1)
    stream_duplicate_window_s: float = Field(default=300.0, ge=120, le=86_400)
    # Set per process when several processes of one service share one store: each gets
    # durable consumers of its own (positions stay in the shared store; a message another
    # process recorded first is skipped), instead of fighting over one durable.
    instance_id: str = Field(default="", pattern=r"^[A-Za-z0-9_]*$", max_length=32)
    # /readyz fails (503, naming the reason) past these bounds.
    ready_max_relay_lag: int = Field(default=10_000, ge=0)
    ready_max_consumer_lag: int = Field(default=10_000, ge=0)
    ready_max_unpublished_age_s: float = Field(default=30.0, gt=0)
    # Supervised tasks restart after 0.2 s, doubling per consecutive failure up to this.
    task_restart_max_delay_s: float = Field(default=10.0, gt=0, le=600)
    # How long a JetStream request (and the relay's wait for publish acks) may take.
    nats_request_timeout_s: float = Field(default=10.0, gt=0, le=120)
    # How many deliveries of one message before it goes to the dead-letter subject.
    max_deliveries: int = Field(default=5, ge=1, le=100)
    relay_page_size: int = Field(default=500, ge=1, le=500)
    consumer_batch_size: int = Field(default=100, ge=1, le=1000)
    # Ops bearer tokens are signed with this key, the same in every service.
    token_key: str = DEV_SECRET
    # Master key wrapping each data subject's PII key (intake's vault).
    pii_master_key: str = DEV_SECRET
    # Key for blind indexes over PII (duplicate and nuisance matching).
    pii_index_key: str = DEV_SECRET
    # A static bearer token counted as an all-brands admin: accepted in development only.
    admin_token: str = DEV_SECRET
    trace_file: Path | None = None
    log_level: str = "INFO"
    # The window in which the same consumer about the same order is a duplicate.
    duplicate_window_days: int = Field(default=30, ge=1, le=365)
    # First webhook retry waits up to this (full jitter), doubling per attempt up to 1 h.
    webhook_base_delay_s: float = Field(default=2.0, gt=0, le=3600)
    # Routing checks its open SLA clocks this often and ticks its `sla` timer when one is due.
    sla_tick_s: float = Field(default=5.0, gt=0, le=3600)
    # Ops bearer tokens: minted by this issuer for this audience, living at most this long.
    token_issuer: str = Field(default="aftersales", min_length=1, max_length=200)
    token_audience: str = Field(default="aftersales-ops", min_length=1, max_length=200)
    token_max_ttl_s: int = Field(default=12 * 3600, ge=60, le=7 * 86_400)
    # Webhook targets must be public addresses; addresses in these networks are allowed
    # anyway (comma-separated CIDRs, e.g. "127.0.0.0/8,::1/128" for a local receiver).
    webhook_allow_networks: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()
    # One delivery attempt (resolve, connect, send, read the answer) ends after this.
    webhook_attempt_timeout_s: float = Field(default=10.0, gt=0, le=50)
    # At most this many bytes of a receiver's response body are read.
    webhook_max_response_bytes: int = Field(default=65_536, ge=0, le=16_777_216)
    # At most this many deliveries to one brand in flight per intake process.
    webhook_brand_parallel_deliveries: int = Field(default=2, ge=1, le=64)
    # Rolling upgrade of a contract's major (consumers first): until every consumer reads
    # the new major, publish these types under the old label, e.g. "ComplaintReceived=1.1".
    publish_as: str = Field(default="", max_length=500)
    # Rate limits, each a token bucket per caller in each process (so per replica): requests
    # per second and the burst allowed at once; 0 per second is off. Over it: 429 with
    # Retry-After. Per API key 50/s (4 million a day, more than a brand's portal sends) with
    # a burst of 100 (a backlog flushed); per regulator 5/s (a batch holds 5000 transfers);
    # per ops token (`sub`) 20/s. Load tools (bench, e2e tests) set them off.
    rate_limit_api_key_per_s: float = Field(default=50.0, ge=0)
    rate_limit_api_key_burst: int = Field(default=100, ge=1)
    rate_limit_regulator_per_s: float = Field(default=5.0, ge=0)
    rate_limit_regulator_burst: int = Field(default=20, ge=1)
    rate_limit_ops_per_s: float = Field(default=20.0, ge=0)
    rate_limit_ops_burst: int = Field(default=40, ge=1)

    @field_validator("nats_url")
    @classmethod
    def _nats_scheme(cls, value: str) -> str:
        if not value.startswith(("nats://", "tls://")):
            raise ValueError("must start with nats:// or tls://")
        return value

    @field_validator("publish_as")
    @classmethod
    def _known_old_labels(cls, value: str) -> str:
        parse_publish_as(value)  # ValueError: which type or version is wrong
        return value

    @field_validator("webhook_allow_networks", mode="before")
    @classmethod
    def _cidrs(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(ip_network(c.strip(), strict=False) for c in value.split(",") if c.strip())
        return value

    @field_validator("token_key", "pii_master_key", "pii_index_key", "admin_token")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        if len(value) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    def check_production(self) -> None:
        """Only a declared development environment may run on the development secrets."""
        if self.environment == "development":
            return
        weak = self.development_secrets()
        if weak:
            declared = "" if "environment" in self.model_fields_set else " (the default: unset)"
            raise ValueError(
                f"{', '.join(weak)} still hold the development secret, which is accepted only "
                f"when AFTERSALES_ENVIRONMENT=development is set explicitly; this environment "
                f"is {self.environment}{declared}. Set a real secret of at least 32 characters "
                f"in each, or declare AFTERSALES_ENVIRONMENT=development on a developer's machine"
            )

    def development_secrets(self) -> list[str]:
        """The variables still at the development secret, named as set in the environment."""
        return [
            f"AFTERSALES_{name.upper()}"
            for name in DEV_CHECKED_SECRETS
            if getattr(self, name) == DEV_SECRET
        ]

    @property
    def admin_token_enabled(self) -> bool:
        """The static admin token is accepted only in a declared development environment."""
        return self.environment == "development"

    def check_nats_credentials(self) -> None:
        """Production connects to NATS as a user: anonymous access is for local tries only."""
        if self.environment != "production" or (self.nats_user and self.nats_password):
            return
        if urlparse(self.nats_url).password:
            return
        raise ValueError(
            "AFTERSALES_NATS_USER, AFTERSALES_NATS_PASSWORD: NATS credentials are required "
            "in production"
        )

    def service_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir


def load_settings(check_secrets: bool = True) -> Settings:
    """Read the settings or exit with a message naming each wrong variable.

    Services check their secrets (``check_secrets``); client commands (the CLI's
    ``demo``, ``token issue``...) only read them, since the server decides what it accepts.
    """
    try:
        settings = Settings()
        if check_secrets:
            settings.check_production()
            settings.check_nats_credentials()
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            name = "AFTERSALES_" + "_".join(str(p) for p in problem["loc"]).upper()
            lines.append(f"  {name}: {problem['msg']}")
        sys.stderr.write("aftersales: invalid settings\n" + "\n".join(lines) + "\n")
        raise SystemExit(2) from None
    except ValueError as error:
        sys.stderr.write(f"aftersales: invalid settings\n  {error}\n")
        raise SystemExit(2) from None
    return settings


def persistence_env(service: str, settings: Settings) -> dict[str, str]:
    """The eventsourcing environment for one service's store.

    SQLite (the embedded default) keeps one WAL file per service under the data dir;
    with ``PERSISTENCE_MODULE=eventsourcing.postgres`` each service gets its own schema
    in the database named by the ``POSTGRES_*`` variables.
    """
    module = os.environ.get("PERSISTENCE_MODULE", "eventsourcing.sqlite")
    if module == "eventsourcing.postgres":
        env = {k: v for k, v in os.environ.items() if k.startswith("POSTGRES_")}
        env.setdefault("POSTGRES_SCHEMA", service)
        env.setdefault("POSTGRES_PASSWORD", "")
        env.setdefault("POSTGRES_HOST", "127.0.0.1")
        env.setdefault("POSTGRES_PORT", "5432")
        env.setdefault("POSTGRES_USER", "postgres")
        missing = [k for k in ("POSTGRES_DBNAME",) if not env.get(k)]
        if missing:
            raise SystemExit(f"aftersales: {', '.join(missing)} must be set for PostgreSQL")
        return {"PERSISTENCE_MODULE": module, "CREATE_TABLE": "y", **env}
    if module != "eventsourcing.sqlite":
        raise SystemExit(
            f"aftersales: PERSISTENCE_MODULE={module!r} is not supported "
            "(use eventsourcing.sqlite or eventsourcing.postgres)"
        )
    path = settings.service_dir() / f"{service}.db"
    return {
        "PERSISTENCE_MODULE": module,
        "SQLITE_DBNAME": str(path),
        "SQLITE_LOCK_TIMEOUT": "10",
        "CREATE_TABLE": "y",
    }


def application_secrets(settings: Settings) -> dict[str, str]:
    """The secrets (and tunables) an application reads from its eventsourcing environment."""
    return {
        "AFTERSALES_PII_MASTER_KEY": settings.pii_master_key,
        "AFTERSALES_PII_INDEX_KEY": settings.pii_index_key,
        "AFTERSALES_DUPLICATE_WINDOW_DAYS": str(settings.duplicate_window_days),
    }


def prepare_store(env: dict[str, str]) -> None:
    """Create what eventsourcing will not: the service's PostgreSQL schema."""
    if env.get("PERSISTENCE_MODULE") != "eventsourcing.postgres":
        return
    with postgres_admin(env) as connection:
        connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{env["POSTGRES_SCHEMA"]}"')


def postgres_admin(env: dict[str, str]) -> Any:
    """An autocommit connection to the service's PostgreSQL database (schemas, not events)."""
    import psycopg

    return psycopg.connect(
        dbname=env["POSTGRES_DBNAME"],
        host=env["POSTGRES_HOST"],
        port=int(env["POSTGRES_PORT"]),
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
        autocommit=True,
    )
