"""Webhook targets are public endpoints (issue 17 item 3): the address and URL policy, pure.

Address classes from the IANA special-purpose registries (RFC 6890 and its updates):
loopback, RFC 1918 private, RFC 4193 ULA, RFC 3927 / 4291 link-local (169.254.169.254 is
the cloud metadata address), multicast, unspecified, reserved, RFC 6598 shared space
(100.100.100.200 is Alibaba Cloud's metadata), and IPv6 forms that carry an IPv4 address.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address

import pytest

from services.intake.webhooks.targets import target_policy
from shared.cli import development_webhook_env
from shared.netguard import (
    NOT_PUBLIC_NAME,
    IPAddress,
    TargetGuard,
    TargetPolicy,
    TargetRefused,
    address_refusal,
)
from shared.settings import Settings

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("fec0::1", "private"),  # deprecated site-local, still not public
    ("169.254.169.254", "link-local"),  # AWS, Azure, GCP, Huawei metadata
    ("169.254.0.23", "link-local"),  # Tencent Cloud metadata
    ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.100.100.200", "carrier-grade NAT"),  # Alibaba Cloud metadata
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("0.1.2.3", "private"),  # "this network"
    ("192.0.2.10", "private"),  # documentation ranges are no endpoint either
    ("198.18.0.1", "private"),  # benchmarking
    ("2001:db8::1", "private"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
    ("::ffff:169.254.169.254", "link-local"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:100.64.1.1", "carrier-grade NAT"),
    ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
    ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
    ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
    ("64:ff9b::808:808", "reserved"),  # NAT64 prefix, even for a public IPv4 address
    ("::127.0.0.1", "reserved"),  # IPv4-compatible (deprecated)
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "114.114.114.114", "223.5.5.5", "2606:4700::1111", "240e::1"]


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_non_public_addresses_are_refused_naming_their_kind(address: str, kind: str) -> None:
    reason = address_refusal(ip_address(address))
    assert reason is not None
    assert kind in reason, (address, reason)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(ip_address(address)) is None
    TargetPolicy().check_address(ip_address(address))


def test_an_allowed_network_admits_its_addresses_only() -> None:
    policy = TargetPolicy(allow_networks=(IPv4Network("127.0.0.0/8"), IPv6Network("::1/128")))
    for allowed in ("127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"):
        policy.check_address(ip_address(allowed))
    for refused in ("10.0.0.1", "169.254.169.254", "::2", "fe80::1"):
        with pytest.raises(TargetRefused):
            policy.check_address(ip_address(refused))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://hooks.example.com/x", "must start with http:// or https://"),
        ("file:///etc/passwd", "must start with"),
        ("gopher://hooks.example.com:70/_x", "must start with"),
        ("http://user:pass@hooks.example.com/x", "credentials"),
        ("http://token@hooks.example.com/x", "credentials"),
        ("http://:80/x", "must name a host"),
        ("http://hooks.example.com:99999/x", "port"),
        ("http://hooks.example.com:0/x", "port"),
        ("http://metadata.google.internal/computeMetadata/v1/", "not a public endpoint"),
        ("http://METADATA.google.internal./x", "not a public endpoint"),
        ("http://metadata.tencentyun.com/latest/meta-data/", "not a public endpoint"),
        ("http://127.0.0.1:8002/v1/ops", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.8/x", "private"),
        ("http://[::1]:8001/x", "loopback"),
        ("http://[::ffff:a9fe:a9fe]/x", "link-local"),
        ("http://under_score-.example.com/x", "not valid"),
        ("http://a..b/x", "not valid"),
    ],
)
def test_urls_that_are_no_public_endpoint_are_refused(url: str, reason: str) -> None:
    with pytest.raises(TargetRefused) as refused:
        TargetPolicy().check_url(url)
    assert reason in refused.value.reason


def test_only_https_when_required() -> None:
    production = TargetPolicy(https_only=True)
    with pytest.raises(TargetRefused, match="https://"):
        production.check_url("http://hooks.example.com/x")
    target = production.check_url("https://hooks.example.com/x?y=1")
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "hooks.example.com",
        443,
        "/x?y=1",
    )


def test_names_are_normalised_to_ascii_lower_case() -> None:
    target = TargetPolicy().check_url("http://Hooks.例子.Example:8080")
    assert target.host == "hooks.xn--fsqu00a.example"
    assert (target.port, target.path, target.literal) == (8080, "/", None)


class Answers:
    """A resolver that answers from a table and counts the questions (a test double)."""

    def __init__(self, table: dict[str, Sequence[str]]) -> None:
        self.table = table
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append((host, port))
        if host not in self.table:
            raise OSError(f"{host} does not resolve")
        return [ip_address(a) for a in self.table[host]]


async def test_a_name_is_pinned_to_its_checked_address_with_its_host_kept() -> None:
    answers = Answers({"hooks.example.com": ["93.184.216.34", "2606:2800:220:1::1"]})
    pinned = await TargetGuard(TargetPolicy(), answers).admit(
        "https://hooks.example.com:8443/in?x=1"
    )
    assert answers.asked == [("hooks.example.com", 8443)]
    assert pinned.url == "https://93.184.216.34:8443/in?x=1"
    assert pinned.host_header == "hooks.example.com:8443"
    assert pinned.server_name == "hooks.example.com"


async def test_an_address_url_is_not_resolved_and_sends_no_server_name() -> None:
    answers = Answers({})
    pinned = await TargetGuard(TargetPolicy(), answers).admit("http://[2606:4700::1111]/x")
    assert answers.asked == []
    assert pinned.url == "http://[2606:4700::1111]:80/x"
    assert pinned.host_header == "[2606:4700::1111]"
    assert pinned.server_name is None


@pytest.mark.parametrize(
    "answer",
    [
        ["127.0.0.1"],
        ["10.0.0.5"],
        ["169.254.169.254"],
        ["93.184.216.34", "10.0.0.5"],  # one private answer among public ones is enough
        ["::ffff:192.168.0.1"],
        [],
    ],
)
async def test_a_name_resolving_to_any_non_public_address_is_refused_in_one_voice(
    answer: list[str],
) -> None:
    guard = TargetGuard(TargetPolicy(), Answers({"rebind.example.com": answer}))
    with pytest.raises(TargetRefused) as refused:
        await guard.admit("http://rebind.example.com/x")
    assert refused.value.reason == NOT_PUBLIC_NAME


async def test_a_name_that_does_not_resolve_is_refused_like_a_private_one() -> None:
    guard = TargetGuard(TargetPolicy(), Answers({}))
    with pytest.raises(TargetRefused) as refused:
        await guard.admit("http://nowhere.example.com/x")
    assert refused.value.reason == NOT_PUBLIC_NAME


def test_webhooks_take_https_only_in_production_and_the_allow_list_from_the_settings() -> None:
    production = target_policy(Settings().model_copy(update={"environment": "production"}))
    assert production.https_only
    assert production.allow_networks == ()
    development = target_policy(
        Settings(environment="development", webhook_allow_networks="127.0.0.0/8, ::1")
    )
    assert not development.https_only
    assert development.allow_networks == (IPv4Network("127.0.0.0/8"), IPv6Network("::1/128"))


def test_aftersales_up_allows_loopback_receivers_in_development_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AFTERSALES_WEBHOOK_ALLOW_NETWORKS", raising=False)
    monkeypatch.setenv("AFTERSALES_ENVIRONMENT", "development")
    allowed = development_webhook_env()["AFTERSALES_WEBHOOK_ALLOW_NETWORKS"]
    assert Settings(webhook_allow_networks=allowed).webhook_allow_networks == (
        IPv4Network("127.0.0.0/8"),
        IPv6Network("::1/128"),
    )
    monkeypatch.setenv("AFTERSALES_WEBHOOK_ALLOW_NETWORKS", "")
    assert development_webhook_env() == {}, "an explicit setting wins"
    monkeypatch.delenv("AFTERSALES_WEBHOOK_ALLOW_NETWORKS")
    monkeypatch.setenv("AFTERSALES_ENVIRONMENT", "production")
    assert development_webhook_env() == {}
