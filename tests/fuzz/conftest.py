"""Fuzz-tier fixtures: one platform (nats-server and the four services as processes, like
tests/e2e) for the whole tier, seeded with a brand, a regulator and complaints that have
reached every service, so schemathesis exercises real cases and not only 404s.

Everything the fuzz platform needs from the environment is set in `FUZZ_ENV`, in one place.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from shared.cli import Platform
from shared.security import ALL_BRANDS, Role, mint_ops_token
from shared.settings import SERVICES, Settings
from tests.platform import complaint_body
from tests.servers import NatsServer, ServerUnavailable, free_port

# Secrets of this platform only (not the development ones), and the settings that keep
# other helpers' edges out of the fuzzer's way: generous rate limits, loopback webhooks.
# Names another branch introduces are harmless here until it lands (unknown are ignored).
_SECRET = secrets.token_urlsafe(32)
FUZZ_ENV = {
    "AFTERSALES_ENVIRONMENT": "test",
    "AFTERSALES_TOKEN_KEY": _SECRET,
    "AFTERSALES_ADMIN_TOKEN": secrets.token_urlsafe(32),
    "AFTERSALES_PII_MASTER_KEY": secrets.token_urlsafe(32),
    "AFTERSALES_PII_INDEX_KEY": secrets.token_urlsafe(32),
    "AFTERSALES_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    # Rate limits off: the fuzzer sends bursts (tests/integration/test_rate_limits.py).
    "AFTERSALES_RATE_LIMIT_API_KEY_PER_S": "0",
    "AFTERSALES_RATE_LIMIT_REGULATOR_PER_S": "0",
    "AFTERSALES_RATE_LIMIT_OPS_PER_S": "0",
    "PERSISTENCE_MODULE": "eventsourcing.sqlite",
}
BRAND = "fuzz-brand"
REGULATOR = "fuzz-regulator"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Skip locally; under CI=true the fuzz tier must fail, never skip."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: not skipping)", pytrace=False)
    pytest.skip(reason)


def ops_token(roles: tuple[Role, ...] = ("admin",), ttl_s: int = 3600) -> str:
    """An ops token for every brand, minted like `aftersales token issue` with the fuzz
    platform's key (issuer, audience and lifetime as the services check them)."""
    settings = Settings(environment="test", token_key=FUZZ_ENV["AFTERSALES_TOKEN_KEY"])
    return mint_ops_token(
        settings.token_key.encode(),
        sub="fuzz",
        roles=roles,
        brands=(ALL_BRANDS,),
        ttl_s=ttl_s,
        now=int(time.time()),
        authority_fen=10**12,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
    )


@dataclass
class FuzzPlatform:
    """The running platform and what the fuzzer needs to act on it."""

    platform: Platform
    data_dir: Path
    api_key: str
    token: str
    regulator_id: str
    regulator_secret: str
    complaint_ids: list[str] = field(default_factory=list)
    subject_refs: list[str] = field(default_factory=list)

    def url(self, service: str) -> str:
        return self.platform.url(service)


@pytest.fixture(scope="module")
def fuzz_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzPlatform]:
    if shutil.which("st", path=str(Path(sys.executable).parent)) is None:
        unavailable("schemathesis is not installed (pip install -e .[test])")
    try:
        nats = NatsServer()
    except ServerUnavailable as error:
        unavailable(str(error))
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    with nats:
        platform = _start(data_dir, nats.port, nats.credentials)
        try:
            yield _seed(platform, data_dir)
        finally:
            platform.stop()


def _start(data_dir: Path, nats_port: int, credentials: dict[str, str]) -> Platform:
    """The four services on free ports (new ones if another process took one meanwhile),
    spawned with FUZZ_ENV; this process's environment is restored at once, so the tests
    that run after this tier see theirs."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in FUZZ_ENV.items():
            env.setenv(name, value)
        return _start_on_free_ports(data_dir, nats_port, credentials)


def _start_on_free_ports(
    data_dir: Path, nats_port: int, credentials: dict[str, str]
) -> Platform:
    for attempt in range(3):
        ports = {name: free_port() for name in SERVICES}
        platform = Platform(data_dir, nats_port, ports, credentials)
        try:
            platform.start(start_nats=False)
            return platform
        except SystemExit as error:
            platform.stop()
            if "ports already in use" not in str(error) or attempt == 2:
                raise RuntimeError(str(error)) from None
    raise AssertionError("unreachable")


def _seed(platform: Platform, data_dir: Path) -> FuzzPlatform:
    """A brand with a key, a regulator with its secret, and complaints every service knows."""
    token = ops_token()
    admin = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=platform.url("intake"), timeout=30) as intake:
        brand = intake.post(
            "/v1/admin/brands", headers=admin, json={"brand_id": BRAND, "name": "Fuzz"}
        )
        assert brand.status_code == 201, brand.text
        regulator = intake.post(
            "/v1/admin/regulators",
            headers=admin,
            json={"regulator_id": REGULATOR, "name": "Fuzz 12315", "kind": "market_regulator"},
        )
        assert regulator.status_code == 201, regulator.text
        api_key = brand.json()["api_key"]
        ids, sources = [], []
        for i in range(3):
            body: dict[str, Any] = complaint_body(
                consumer={"name": f"种子{i}", "phone": f"1390000{i:04d}"},
                order={"price_fen": 1000 + i, "merchant": f"fuzz merchant {i}"},
            )
            created = intake.post("/v1/complaints", headers={"X-Api-Key": api_key}, json=body)
            assert created.status_code == 201, created.text
            ids.append(created.json()["complaint_id"])
            sources.append(created.json()["subject_ref"])
    _wait_for_cases(platform, admin, ids)
    return FuzzPlatform(
        platform, data_dir, api_key, token, REGULATOR, regulator.json()["secret"], ids, sources
    )


def _wait_for_cases(platform: Platform, admin: dict[str, str], ids: list[str]) -> None:
    """Until routing, compensation and followup each have a case for every seed complaint."""
    deadline = time.monotonic() + 60
    for service in ("routing", "compensation", "followup"):
        for complaint_id in ids:
            while True:
                response = httpx.get(
                    f"{platform.url(service)}/v1/cases/{complaint_id}", headers=admin, timeout=10
                )
                if response.status_code == 200:
                    break
                assert time.monotonic() < deadline, f"{service} has no case: {response.text}"
                time.sleep(0.1)


# ------------------------------------------------------ fuzz figures, summarised

_FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture(scope="session")
def fuzz_figures(pytestconfig: pytest.Config) -> list[str]:
    """Lines each schemathesis run appends; printed together at the end of the session."""
    return pytestconfig.stash.setdefault(_FIGURES, [])


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    figures = config.stash.get(_FIGURES, [])
    if figures:
        terminalreporter.section("schemathesis: operations, cases, failures, runtime")
        for line in figures:
            terminalreporter.write_line(line)
