"""Webhooks cannot reach inside (issue 17 item 3): targets are public endpoints.

Checked at registration (422 problem+json, the reason in general terms) and again at
each delivery, after resolution, connecting to the address that was checked. Real
receivers listen on 127.0.0.1; no allow-list is set here unless a test says so, so
127.0.0.1 is "inside". Names are answered by a resolver the test controls (the
platform's is the system's `getaddrinfo`): `.test` names exist nowhere else (RFC 6761).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Network, ip_address
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.intake.webhooks.service import Attempt
from services.intake.webhooks.targets import target_policy, webhook_guard
from services.intake.webhooks.worker import AttemptLimits, new_client, post
from shared.netguard import IPAddress, TargetGuard, TargetPolicy
from shared.settings import Settings
from tests.platform import RunningService, complaint_body, eventually, register_brand, serving

HOOK_NAME = "hooks.brand.test"


@dataclass
class Receiver:
    """A real HTTP/1.1 endpoint on 127.0.0.1 that answers 200 and keeps each request head."""

    heads: list[dict[str, str]] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        headers = {"request-line": head[0]}
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        await reader.readexactly(int(headers.get("content-length", "0")))
        self.heads.append(headers)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()


class Answers:
    """The resolver the guard asks; a test sets what each name resolves to, and when."""

    def __init__(self) -> None:
        self.table: dict[str, list[str]] = {}
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[IPAddress]:
        self.asked.append(host)
        if host not in self.table:
            raise OSError(f"{host}: name or service not known")
        return [ip_address(a) for a in self.table[host]]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Retries in tens of milliseconds; attempts end within two seconds."""
    return settings.model_copy(
        update={"webhook_base_delay_s": 0.05, "webhook_attempt_timeout_s": 2.0}
    )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with serving(receiver.handle) as receiver.port:
        yield receiver


async def _intake_with_resolver(service: Any) -> tuple[RunningService, Answers]:
    intake: RunningService = await service("intake")
    answers = Answers()
    webhook_guard(intake.runtime).resolver = answers
    return intake, answers


async def _subscribe(intake: RunningService, brand: dict[str, str], url: str) -> Any:
    return await intake.client.post(
        "/v1/webhooks", headers=brand, json={"url": url, "event_types": ["ComplaintReceived"]}
    )


async def test_registration_refuses_targets_inside_with_a_problem_naming_the_reason(
    service: Any, receiver: Receiver
) -> None:
    intake, answers = await _intake_with_resolver(service)
    answers.table.update({"localhost": ["127.0.0.1", "::1"], "intranet.test": ["10.0.0.7"]})
    brand = await register_brand(intake, "ssrf-brand")
    refused = {
        f"http://127.0.0.1:{receiver.port}/hook": "loopback",
        "http://127.0.0.1:8002/v1/ops/dead-letters": "loopback",
        "http://169.254.169.254/latest/meta-data/": "link-local",
        "http://10.20.30.40/hook": "private",
        "http://192.168.1.1/hook": "private",
        "http://100.100.100.200/latest/meta-data/": "carrier-grade NAT",
        "http://0.0.0.0:8001/hook": "unspecified",
        "http://224.0.0.1/hook": "multicast",
        f"http://localhost:{receiver.port}/hook": "does not resolve to public addresses",
        "http://intranet.test/hook": "does not resolve to public addresses",
        "http://nowhere.test/hook": "does not resolve to public addresses",
        "http://metadata.google.internal/computeMetadata/v1/": "not a public endpoint",
    }
    # Not even URLs the schema takes (URL_PATTERN: no IPv6 literal, no credentials), so
    # refused as a body not valid: IPv6 receivers are reached by name, their AAAA checked.
    malformed = (
        "http://[::1]:8001/hook",
        "http://[::ffff:169.254.169.254]/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://user:secret@hooks.example.com/hook",
    )
    for url in malformed:
        response = await _subscribe(intake, brand, url)
        assert response.status_code == 422, (url, response.text)
        assert response.json()["type"].endswith("/validation"), (url, response.text)
    for url, reason in refused.items():
        response = await _subscribe(intake, brand, url)
        assert response.status_code == 422, (url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"].endswith("/webhook-target-refused"), problem
        assert reason in problem["detail"], (url, problem)
    listed = await intake.client.get("/v1/webhooks", headers=brand)
    assert listed.json() == [], "nothing refused was registered"
    assert receiver.heads == []


async def test_the_system_resolver_is_asked_by_default_and_its_loopback_refused(
    service: Any,
) -> None:
    intake: RunningService = await service("intake")
    brand = await register_brand(intake, "ssrf-brand")
    for url in ("http://localhost:8001/hook", "http://2130706433/hook"):  # 2130706433: 127.0.0.1
        response = await _subscribe(intake, brand, url)
        assert response.status_code == 422, (url, response.text)


async def test_a_public_name_is_registered_and_the_allow_list_admits_a_local_receiver(
    service: Any, settings: Settings, receiver: Receiver
) -> None:
    intake, answers = await _intake_with_resolver(service)
    answers.table[HOOK_NAME] = ["93.184.216.34"]
    brand = await register_brand(intake, "ssrf-brand")
    assert (await _subscribe(intake, brand, f"http://{HOOK_NAME}/hook")).status_code == 201
    local = f"http://127.0.0.1:{receiver.port}/hook"
    assert (await _subscribe(intake, brand, local)).status_code == 422
    allowing = settings.model_copy(update={"webhook_allow_networks": (IPv4Network("127.0.0.0/8"),)})
    webhook_guard(intake.runtime).policy = target_policy(allowing)
    assert (await _subscribe(intake, brand, local)).status_code == 201


async def _deliveries(intake: RunningService, brand: dict[str, str]) -> list[Any]:
    response = await intake.client.get("/v1/webhooks/deliveries", headers=brand)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def test_a_name_rebound_to_an_inside_address_is_refused_at_delivery(
    service: Any, receiver: Receiver
) -> None:
    """Public when registered, the receiver's loopback address when delivered to."""
    intake, answers = await _intake_with_resolver(service)
    answers.table[HOOK_NAME] = ["93.184.216.34"]
    brand = await register_brand(intake, "rebind-brand")
    url = f"http://{HOOK_NAME}:{receiver.port}/hook"
    assert (await _subscribe(intake, brand, url)).status_code == 201
    answers.table[HOOK_NAME] = ["127.0.0.1"]
    answers.asked.clear()
    posted = await intake.client.post("/v1/complaints", json=complaint_body(), headers=brand)
    assert posted.status_code == 201, posted.text

    async def retried() -> Any:
        items = await _deliveries(intake, brand)
        return items if items and items[0]["attempts"] >= 2 else None

    (delivery,) = await eventually(retried, what="two refused attempts")
    assert delivery["status"] == "pending"
    assert delivery["next_attempt_at"] is not None
    assert delivery["last_status_code"] is None
    assert delivery["last_error"] == "target not allowed"
    assert {a["error"] for a in delivery["history"]} == {"target not allowed"}
    assert answers.asked.count(HOOK_NAME) >= 2, "resolved again at each attempt"
    assert receiver.heads == [], "the inside address was never called"


async def test_a_delivery_connects_to_the_checked_address_with_the_host_kept(
    service: Any, settings: Settings, receiver: Receiver
) -> None:
    """The name exists only in the guard's resolver: a second lookup would fail."""
    intake, answers = await _intake_with_resolver(service)
    allowing = settings.model_copy(update={"webhook_allow_networks": (IPv4Network("127.0.0.0/8"),)})
    webhook_guard(intake.runtime).policy = target_policy(allowing)
    answers.table[HOOK_NAME] = ["127.0.0.1"]
    brand = await register_brand(intake, "pinned-brand")
    url = f"http://{HOOK_NAME}:{receiver.port}/hook?k=1"
    assert (await _subscribe(intake, brand, url)).status_code == 201
    posted = await intake.client.post("/v1/complaints", json=complaint_body(), headers=brand)
    assert posted.status_code == 201, posted.text

    async def delivered() -> Any:
        items = await _deliveries(intake, brand)
        return items if items and items[0]["status"] == "delivered" else None

    (delivery,) = await eventually(delivered, what="the delivery")
    assert [a["status_code"] for a in delivery["history"]] == [200]
    (head,) = receiver.heads
    assert head["host"] == f"{HOOK_NAME}:{receiver.port}"
    assert head["request-line"] == "POST /hook?k=1 HTTP/1.1"


# --- TLS: the pinned request still verifies the certificate for the URL's name ----------


@dataclass
class Authority:
    """A throwaway certificate authority and one server certificate it signed."""

    ca_pem: bytes
    cert_file: Path
    key_file: Path


def _authority(tmp_path: Path, server_name: str) -> Authority:
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aftersales test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, server_name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(server_name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Authority(ca.public_bytes(serialization.Encoding.PEM), cert_file, key_file)


@pytest.fixture
async def tls_receiver(tmp_path: Path) -> AsyncIterator[tuple[Receiver, ssl.SSLContext]]:
    """An https receiver on 127.0.0.1 whose certificate names HOOK_NAME only; and a client
    context trusting its authority."""
    authority = _authority(tmp_path, HOOK_NAME)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(authority.cert_file, authority.key_file)
    receiver = Receiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0, ssl=server_context)
    receiver.port = server.sockets[0].getsockname()[1]
    client_context = ssl.create_default_context(cadata=authority.ca_pem.decode())
    yield receiver, client_context
    server.close()
    await server.wait_closed()


def _attempt(url: str) -> Attempt:
    return Attempt(uuid4(), url, b"secret", b"{}", "ComplaintReceived", str(uuid4()), "0" * 32)


async def test_a_pinned_https_delivery_verifies_the_certificate_for_the_url_name(
    tls_receiver: tuple[Receiver, ssl.SSLContext],
) -> None:
    receiver, trust = tls_receiver
    policy = TargetPolicy(allow_networks=(IPv4Network("127.0.0.0/8"),), https_only=True)
    answers = Answers()
    answers.table.update({HOOK_NAME: ["127.0.0.1"], "other.brand.test": ["127.0.0.1"]})
    guard = TargetGuard(policy, answers)
    limits = AttemptLimits(deadline_s=5.0)
    async with new_client(limits, verify=trust) as client:
        good = _attempt(f"https://{HOOK_NAME}:{receiver.port}/hook")
        assert await post(client, good, guard, limits, 0) == (200, None)
        # The same address under a name the certificate does not carry: verification fails.
        wrong = _attempt(f"https://other.brand.test:{receiver.port}/hook")
        assert await post(client, wrong, guard, limits, 0) == (None, "connection failed")
        # And by address, no name is sent or matched: refused by verification too.
        literal = _attempt(f"https://127.0.0.1:{receiver.port}/hook")
        assert await post(client, literal, guard, limits, 0) == (None, "connection failed")
    assert [h["host"] for h in receiver.heads] == [f"{HOOK_NAME}:{receiver.port}"]


async def test_the_delivery_log_tells_a_brand_coarse_failures_only(
    service: Any, settings: Settings
) -> None:
    """A closed port and a host that drops the request look alike: no port scanner."""
    intake, _ = await _intake_with_resolver(service)
    allowing = settings.model_copy(update={"webhook_allow_networks": (IPv4Network("127.0.0.0/8"),)})
    webhook_guard(intake.runtime).policy = target_policy(allowing)
    closed = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = closed.sockets[0].getsockname()[1]
    closed.close()
    await closed.wait_closed()
    brand = await register_brand(intake, "scanner-brand")
    assert (await _subscribe(intake, brand, f"http://127.0.0.1:{port}/x")).status_code == 201
    posted = await intake.client.post("/v1/complaints", json=complaint_body(), headers=brand)
    assert posted.status_code == 201, posted.text

    async def failed() -> Any:
        items = await _deliveries(intake, brand)
        return items if items and items[0]["attempts"] >= 1 else None

    (delivery,) = await eventually(failed, what="a failed attempt")
    assert delivery["last_error"] == "connection failed"
    assert delivery["history"][0]["error"] == "connection failed"
    assert delivery["last_status_code"] is None
