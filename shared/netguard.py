"""Where outgoing requests may go: public endpoints only, checked after name resolution.

A guard against server-side request forgery for URLs that callers choose (webhooks): the
URL and address policy is pure (what is refused, and why, in general terms); resolving a
name is the one piece of I/O, behind a small interface that tests can answer for. A
request then connects to the address that was checked (`PinnedTarget`), never resolving
the name a second time, so a name that changes its answer cannot slip past the check.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from urllib.parse import SplitResult, urlsplit

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]

DEFAULT_PORTS = {"http": 80, "https": 443}
# Cloud instance-metadata names (the addresses are link-local or CGNAT, refused anyway).
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
    }
)
SHARED_ADDRESS_SPACE = IPv4Network("100.64.0.0/10")  # RFC 6598 (CGNAT; Alibaba metadata)
NAT64 = IPv6Network("64:ff9b::/96")  # RFC 6052: the last 32 bits are an IPv4 address
NOT_PUBLIC_NAME = "the host name does not resolve to public addresses only"
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


class TargetRefused(Exception):
    """The URL, or an address its host resolves to, is not a public endpoint.

    `reason` says why in general terms (fit for the caller); the message may say more
    (for the log).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def address_refusal(address: IPAddress) -> str | None:
    """Why `address` is not a public endpoint (general terms), or None when it is."""
    for embedded in _embedded_ipv4(address):
        reason = address_refusal(embedded)
        if reason is not None:
            return reason
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return None  # judged by the IPv4 address it maps (above)
    checks: tuple[tuple[bool, str], ...] = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address (such as cloud metadata)"),
        (address.is_multicast, "a multicast address"),
        (address in SHARED_ADDRESS_SPACE, "a shared (carrier-grade NAT) address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private or _site_local(address), "a private address"),
        (not address.is_global, "a non-public address"),
    )
    return next((reason for refused, reason in checks if refused), None)


def _embedded_ipv4(address: IPAddress) -> list[IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64)."""
    if not isinstance(address, IPv6Address):
        return []
    found = [address.ipv4_mapped, address.sixtofour]
    if address.teredo is not None:
        found += list(address.teredo)
    if address in NAT64:
        found.append(IPv4Address(int(address) & 0xFFFFFFFF))
    return [a for a in found if a is not None]


def _site_local(address: IPAddress) -> bool:
    return isinstance(address, IPv6Address) and address.is_site_local


@dataclass(frozen=True)
class Target:
    """A URL that passed the URL checks: scheme, host (ASCII, lower case), port, the rest."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, never empty
    literal: IPAddress | None  # the host, when the URL names an address

    def pinned(self, address: IPAddress) -> PinnedTarget:
        return PinnedTarget(self, address)


@dataclass(frozen=True)
class PinnedTarget:
    """A target and the checked address a request to it must connect to."""

    target: Target
    address: IPAddress

    @property
    def url(self) -> str:
        """The URL to request: the checked address in place of the name."""
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.target.scheme}://{host}:{self.target.port}{self.target.path}"

    @property
    def host_header(self) -> str:
        """The `Host` header of the original URL (its port only when not the default)."""
        target = self.target
        host = f"[{target.host}]" if ":" in target.host else target.host
        default = DEFAULT_PORTS[target.scheme] == target.port
        return host if default else f"{host}:{target.port}"

    @property
    def server_name(self) -> str | None:
        """The name TLS sends (SNI) and verifies the certificate against; None for an address."""
        return None if self.target.literal is not None else self.target.host


@dataclass(frozen=True)
class TargetPolicy:
    """Which URLs and addresses requests may go to (pure)."""

    allow_networks: tuple[IPNetwork, ...] = ()
    https_only: bool = False

    def check_url(self, url: str) -> Target:
        """The URL's parts, or `TargetRefused` (scheme, credentials, host, port)."""
        try:
            parts = urlsplit(url)
        except ValueError:
            raise TargetRefused("the URL is not valid") from None
        try:
            port = parts.port
        except ValueError:
            raise TargetRefused("the URL's port is not valid") from None
        schemes = ("https",) if self.https_only else ("http", "https")
        if parts.scheme not in schemes:
            starts = " or ".join(f"{s}://" for s in schemes)
            raise TargetRefused(f"the URL must start with {starts}")
        if "@" in parts.netloc:
            raise TargetRefused("the URL must not carry credentials")
        host = _ascii_host(parts)
        if host in METADATA_NAMES:
            raise TargetRefused("the host is not a public endpoint", host)
        literal = _literal(host)
        if literal is not None:
            self.check_address(literal)
        if port == 0:
            raise TargetRefused("the URL's port is not valid")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return Target(parts.scheme, host, port or DEFAULT_PORTS[parts.scheme], path, literal)

    def check_address(self, address: IPAddress) -> None:
        """Refuse an address that is not public, unless an allowed network holds it."""
        if self.allowed(address):
            return
        reason = address_refusal(address)
        if reason is not None:
            raise TargetRefused(f"the host is {reason}", str(address))

    def allowed(self, address: IPAddress) -> bool:
        candidates = [address, *_embedded_ipv4(address)]
        return any(a in n for a in candidates for n in self.allow_networks)


def _ascii_host(parts: SplitResult) -> str:
    raw = (parts.hostname or "").rstrip(".")
    if not raw:
        raise TargetRefused("the URL must name a host")
    if _literal(raw) is not None:
        return raw
    try:
        host = raw.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise TargetRefused("the host name is not valid") from None
    if len(host) > 253 or not all(_LABEL.match(label) for label in host.split(".")):
        raise TargetRefused("the host name is not valid")
    return host


def _literal(host: str) -> IPAddress | None:
    try:
        return ip_address(host)
    except ValueError:
        return None


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Every address (A and AAAA) the system resolver gives for `host`."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


@dataclass
class TargetGuard:
    """A policy and a resolver: a URL admitted is pinned to an address that was checked."""

    policy: TargetPolicy
    resolver: Resolver = field(default=system_resolver)

    async def admit(self, url: str) -> PinnedTarget:
        """Check the URL, resolve its host, check every address; pin the first one.

        A name is refused in the same words whether it does not resolve or resolves to
        an address that is not public: the answer must not map a private network's names.
        """
        target = self.policy.check_url(url)
        if target.literal is not None:
            return target.pinned(target.literal)
        try:
            addresses = list(await self.resolver(target.host, target.port))
        except (OSError, UnicodeError) as error:
            raise TargetRefused(NOT_PUBLIC_NAME, f"{target.host}: {error}") from None
        if not addresses:
            raise TargetRefused(NOT_PUBLIC_NAME, f"{target.host}: no addresses")
        for address in addresses:
            try:
                self.policy.check_address(address)
            except TargetRefused as refused:
                raise TargetRefused(NOT_PUBLIC_NAME, f"{target.host}: {refused}") from None
        return target.pinned(addresses[0])
