"""Where a webhook may go: public addresses (and networks an operator names), checked after
DNS resolution, both when a URL is registered and when each connection is made."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from wps_webhooks.settings import IPNetwork, WebhooksSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class RefusedDestination(Exception):
    """A URL or address the bridge will not send to. `detail` is for a person to read;
    `error_class` is what a delivery records."""

    def __init__(self, detail: str, *, error_class: str = "refused_address") -> None:
        super().__init__(detail)
        self.detail, self.error_class = detail, error_class


class UnresolvedHost(Exception):
    """The host has no address now (or DNS did not answer in time)."""


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped, 6to4, NAT64, IPv4-compatible):
    that is where a packet sent to it ends up, so that is what is judged."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64 or (address in IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def why_not_public(address: IPAddress) -> str | None:
    """What kind of non-public address this is, as the end of "<address> is …" (None: public).
    `is_global` alone is not enough on Python 3.11: it calls multicast and some IPv6 forms of
    private IPv4 addresses global."""
    inner = embedded_ipv4(address)
    if inner is not None:
        reason = why_not_public(inner)
        return None if reason is None else f"{reason} (it stands for {inner})"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address in CARRIER_GRADE_NAT:
        return "a carrier-grade NAT address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a public address"
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the host resolves to (an IP literal in any form, 2130706433 or 0x7f.1
    included, resolves to itself without a DNS query)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class DestinationPolicy:
    allowed_networks: tuple[IPNetwork, ...] = ()
    allow_http: bool = False
    resolve_timeout: float = 5.0
    resolver: Resolver = system_resolver

    @classmethod
    def of(cls, settings: WebhooksSettings) -> DestinationPolicy:
        return cls(
            allowed_networks=settings.private_networks,
            allow_http=settings.http_allowed,
            resolve_timeout=min(5.0, settings.request_timeout_seconds),
        )

    def refusal(self, address: IPAddress) -> str | None:
        """Why the bridge will not send to `address`, or None when it may."""
        reason = why_not_public(address)
        if reason is None:
            return None
        forms = [a for a in (address, embedded_ipv4(address)) if a is not None]
        if any(a in network for network in self.allowed_networks for a in forms):
            return None
        return reason

    async def checked_addresses(self, host: str, port: int) -> list[str]:
        """Every address of `host`, when every one of them may be sent to (a name that also
        resolves to a private address is refused as a whole: which one a connection would use
        is not ours to choose)."""
        host = host.strip("[]")
        try:
            ipaddress.ip_address(host)
            addresses, literal = [host], True
        except ValueError:
            addresses, literal = await self._resolve(host, port), False
        for text in addresses:
            reason = self.refusal(ipaddress.ip_address(text))
            if reason is not None:
                what = host if literal else f"{host} resolves to {text}, which"
                raise RefusedDestination(
                    f"Webhook URLs must point at a public address; {what} is {reason}."
                )
        return addresses

    async def _resolve(self, host: str, port: int) -> list[str]:
        try:
            async with asyncio.timeout(self.resolve_timeout):
                addresses = await self.resolver(host, port)
        except (OSError, TimeoutError, UnicodeError) as exc:
            raise UnresolvedHost(f"{host} does not resolve: {exc}") from exc
        if not addresses:
            raise UnresolvedHost(f"{host} does not resolve")
        return addresses

    def check_scheme(self, scheme: str) -> None:
        if scheme == "http" and not self.allow_http:
            raise RefusedDestination(
                "Webhook URLs must use https:// so that deliveries are encrypted.",
                error_class="refused_scheme",
            )

    async def check_url(self, url: str) -> None:
        """Refuse a URL the bridge would not deliver to, as far as can be told now. A name
        that does not resolve yet is accepted: every connection checks again."""
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            raise RefusedDestination(
                f"{url} is not a URL deliveries can be sent to.", error_class="invalid_url"
            ) from None
        self.check_scheme(parsed.scheme)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            await self.checked_addresses(parsed.host, port)
        except UnresolvedHost:
            pass


class CheckedConnections(httpcore.AsyncNetworkBackend):
    """Resolves and checks the host itself, then connects to an address it checked: the
    connection goes where the check said, whatever DNS answers next (no rebinding). TLS and
    the Host header still carry the URL's name."""

    def __init__(self, policy: DestinationPolicy) -> None:
        self.policy = policy
        self.sockets = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self.policy.checked_addresses(host, port)
        except UnresolvedHost as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self.sockets.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise RefusedDestination("Webhooks are delivered over TCP only.")

    async def sleep(self, seconds: float) -> None:
        await self.sockets.sleep(seconds)


class DeliveryTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with every connection made through `CheckedConnections`, and plain
    http refused unless the policy allows it."""

    def __init__(self, policy: DestinationPolicy, *, verify: ssl.SSLContext | bool = True) -> None:
        super().__init__(verify=verify)
        self.policy = policy
        # httpx takes no network backend, so the pool it built (same settings as its defaults)
        # is replaced by one that connects only through the policy.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=CheckedConnections(policy),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.policy.check_scheme(request.url.scheme)
        return await super().handle_async_request(request)


def delivery_client(policy: DestinationPolicy) -> httpx.AsyncClient:
    """The only client deliveries use: checked connections, no redirects, no proxies or
    credentials from the environment."""
    return httpx.AsyncClient(
        transport=DeliveryTransport(policy), follow_redirects=False, trust_env=False
    )
