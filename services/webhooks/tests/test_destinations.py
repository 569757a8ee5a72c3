"""Where deliveries may go: which addresses are refused, the allow-list, resolving and checking
every address, connecting only to a checked one (TLS still verifies the URL's name), and the
short error classes a subscriber sees. Servers here listen on 127.0.0.1 only; a name is
"resolved" by a stub, so no test sends anything beyond loopback."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from wps_common.migrations import alembic_config
from wps_webhooks.delivery import post_event
from wps_webhooks.destinations import (
    DeliveryTransport,
    DestinationPolicy,
    RefusedDestination,
    why_not_public,
)
from wps_webhooks.main import MIGRATIONS
from wps_webhooks.settings import WebhooksSettings

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


class LocalServer:
    """A TCP server on 127.0.0.1 that counts connections and answers each request with `reply`
    (bytes), or with nothing at all (None) until the client gives up."""

    def __init__(self, reply: bytes | None, tls: ssl.SSLContext | None = None) -> None:
        self.reply, self.tls = reply, tls
        self.connections = 0
        self.requests: list[bytes] = []
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> LocalServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        for writer in self._writers:
            writer.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.requests.append(head)
            if self.reply is None:
                await reader.read()  # until the client closes
                return
            writer.write(self.reply)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def answering(*answers: list[str]) -> Callable[[str, int], Awaitable[list[str]]]:
    """A resolver stub that gives one answer per lookup, in turn (the last one repeats)."""
    remaining = list(answers)

    async def resolve(host: str, port: int) -> list[str]:
        return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return resolve


async def never_asked(host: str, port: int) -> list[str]:
    raise AssertionError(f"{host} should not have been resolved")


@pytest.fixture
async def answering_server() -> AsyncIterator[LocalServer]:
    reply = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    async with LocalServer(reply) as server:
        yield server


def client_of(policy: DestinationPolicy, verify: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=DeliveryTransport(policy, verify=verify), follow_redirects=False
    )


async def post(client: httpx.AsyncClient, url: str) -> tuple[int | None, str | None]:
    return await post_event(
        client,
        url=url,
        secret="s3cret-shared-with-the-hr-system",
        delivery_id=1,
        event_id="e-1",
        body=b'{"id": "e-1"}',
        now=NOW,
        time_limit=2.0,
    )


class TestWhichAddresses:
    @pytest.mark.parametrize(
        ("address", "reason"),
        [
            ("127.0.0.1", "a loopback address"),
            ("127.8.9.10", "a loopback address"),
            ("::1", "a loopback address"),
            ("0.0.0.0", "the unspecified address"),
            ("::", "the unspecified address"),
            ("169.254.169.254", "a link-local address"),
            ("fe80::1", "a link-local address"),
            ("10.0.0.1", "a private address"),
            ("172.16.5.4", "a private address"),
            ("192.168.0.1", "a private address"),
            ("fd12:3456::1", "a private address"),
            ("100.64.0.1", "a carrier-grade NAT address"),
            ("224.0.0.251", "a multicast address"),
            ("ff02::1", "a multicast address"),
            ("240.0.0.1", "a reserved address"),
            ("255.255.255.255", "a reserved address"),
            ("::ffff:127.0.0.1", "a loopback address (it stands for 127.0.0.1)"),
            ("::ffff:a9fe:a9fe", "a link-local address (it stands for 169.254.169.254)"),
            ("2002:7f00:1::1", "a loopback address (it stands for 127.0.0.1)"),
            ("64:ff9b::a00:1", "a private address (it stands for 10.0.0.1)"),
            ("::127.0.0.1", "a loopback address (it stands for 127.0.0.1)"),
        ],
    )
    def test_addresses_that_are_not_public(self, address: str, reason: str) -> None:
        assert why_not_public(ipaddress.ip_address(address)) == reason

    @pytest.mark.parametrize(
        "address", ["8.8.8.8", "193.0.14.129", "2001:4860:4860::8888", "::ffff:8.8.8.8"]
    )
    def test_public_addresses(self, address: str) -> None:
        assert why_not_public(ipaddress.ip_address(address)) is None

    def test_the_allow_list_names_exceptions(self) -> None:
        policy = DestinationPolicy(allowed_networks=LOOPBACK)
        assert policy.refusal(ipaddress.ip_address("127.0.0.1")) is None
        assert policy.refusal(ipaddress.ip_address("::ffff:127.0.0.1")) is None
        assert policy.refusal(ipaddress.ip_address("10.0.0.1")) == "a private address"
        assert policy.refusal(ipaddress.ip_address("::1")) == "a loopback address"


class TestRegistration:
    @pytest.mark.parametrize(
        "url", ["http://2130706433/", "http://0x7f.1/", "http://127.1/", "http://0x7f000001/"]
    )
    async def test_every_way_of_writing_an_address_is_resolved_first(self, url: str) -> None:
        with pytest.raises(RefusedDestination) as refused:
            await DestinationPolicy(allow_http=True).check_url(url)
        assert refused.value.detail.endswith("resolves to 127.0.0.1, which is a loopback address.")

    async def test_a_url_that_cannot_be_sent_to_is_refused(self) -> None:
        with pytest.raises(RefusedDestination) as refused:
            await DestinationPolicy(allow_http=True).check_url("http://0177.0.0.1/")
        assert refused.value.error_class == "invalid_url"

    async def test_a_name_is_refused_when_any_of_its_addresses_is(self) -> None:
        policy = DestinationPolicy(resolver=answering(["193.0.14.129", "10.1.2.3"]))
        with pytest.raises(RefusedDestination) as refused:
            await policy.check_url("https://hr.example.test/hooks")
        assert refused.value.detail == (
            "Webhook URLs must point at a public address; "
            "hr.example.test resolves to 10.1.2.3, which is a private address."
        )

    async def test_plain_http_is_refused_unless_allowed(self) -> None:
        with pytest.raises(RefusedDestination) as refused:
            await DestinationPolicy(resolver=never_asked).check_url("http://hr.example.test/")
        assert refused.value.error_class == "refused_scheme"
        assert "https://" in refused.value.detail

    async def test_a_name_that_does_not_resolve_yet_is_left_to_delivery(self) -> None:
        async def no_such_name(host: str, port: int) -> list[str]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        await DestinationPolicy(resolver=no_such_name).check_url("https://hr.example.test/")

        async def silent(host: str, port: int) -> list[str]:
            await asyncio.Event().wait()
            return []

        slow_dns = DestinationPolicy(resolver=silent, resolve_timeout=0.05)
        await slow_dns.check_url("https://hr.example.test/")


class TestSettings:
    def test_http_only_in_development_unless_set(self) -> None:
        production: dict[str, Any] = {
            "environment": "production",
            "oidc_issuers": "https://sso.example.org",
        }
        assert WebhooksSettings().http_allowed is True
        assert WebhooksSettings(**production).http_allowed is False
        assert WebhooksSettings(**production, allow_http=True).http_allowed is True
        assert WebhooksSettings(allow_http=False).http_allowed is False

    def test_the_allow_list_is_cidrs(self) -> None:
        settings = WebhooksSettings(allowed_private_networks=" 127.0.0.0/8, 10.20.0.0/16 ,")
        assert [str(n) for n in settings.private_networks] == ["127.0.0.0/8", "10.20.0.0/16"]
        assert WebhooksSettings().private_networks == ()
        with pytest.raises(ValidationError, match="'10.0.0.0/33' is not a network"):
            WebhooksSettings(allowed_private_networks="10.0.0.0/33")


class TestConnections:
    async def test_a_refused_address_is_never_connected_to(
        self, answering_server: LocalServer
    ) -> None:
        async with client_of(DestinationPolicy(allow_http=True)) as client:
            outcome = await post(client, f"http://127.0.0.1:{answering_server.port}/hooks")
        assert outcome == (None, "refused_address")
        assert answering_server.connections == 0

    async def test_the_address_is_checked_again_at_each_connection(
        self, answering_server: LocalServer
    ) -> None:
        """DNS rebinding: public when registered, loopback when delivered."""
        policy = DestinationPolicy(allow_http=True, resolver=answering(["8.8.8.8"], ["127.0.0.1"]))
        url = f"http://hooks.example.test:{answering_server.port}/hooks"
        await policy.check_url(url)  # only resolves: registration never connects
        async with client_of(policy) as client:
            assert await post(client, url) == (None, "refused_address")
        assert answering_server.connections == 0

    async def test_every_address_is_checked_before_any_is_tried(
        self, answering_server: LocalServer
    ) -> None:
        policy = DestinationPolicy(
            allow_http=True,
            allowed_networks=LOOPBACK,
            resolver=answering(["127.0.0.1", "10.9.8.7"]),
        )
        async with client_of(policy) as client:
            outcome = await post(client, f"http://hooks.example.test:{answering_server.port}/")
        assert outcome == (None, "refused_address")
        assert answering_server.connections == 0

    async def test_the_checked_address_is_connected_to_with_the_urls_name(
        self, answering_server: LocalServer
    ) -> None:
        policy = DestinationPolicy(
            allow_http=True, allowed_networks=LOOPBACK, resolver=answering(["127.0.0.1"])
        )
        async with client_of(policy) as client:
            outcome = await post(client, f"http://hooks.example.test:{answering_server.port}/")
        assert outcome == (204, None)
        [request] = answering_server.requests
        assert f"host: hooks.example.test:{answering_server.port}".encode() in request.lower()

    async def test_plain_http_is_not_sent_unless_allowed(
        self, answering_server: LocalServer
    ) -> None:
        async with client_of(DestinationPolicy(allowed_networks=LOOPBACK)) as client:
            outcome = await post(client, f"http://127.0.0.1:{answering_server.port}/")
        assert outcome == (None, "refused_scheme")
        assert answering_server.connections == 0

    async def test_tls_verifies_the_urls_name_on_the_checked_address(self, tmp_path: Path) -> None:
        authority, server_tls = certificates(tmp_path, "hooks.example.test")
        names: list[str | None] = []

        def remember(_socket: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
            names.append(name)

        server_tls.sni_callback = remember
        reply = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        policy = DestinationPolicy(allowed_networks=LOOPBACK, resolver=answering(["127.0.0.1"]))
        async with (
            LocalServer(reply, tls=server_tls) as server,
            client_of(policy, verify=authority) as client,
        ):
            assert await post(client, f"https://hooks.example.test:{server.port}/") == (204, None)
            assert names == ["hooks.example.test"]
            # Another name on the same address does not get that certificate accepted.
            assert await post(client, f"https://other.example.test:{server.port}/") == (
                None,
                "tls_error",
            )


class TestErrorClasses:
    """A subscriber sees a short class, never the receiver's words; a closed port and an open
    one that speaks something else look the same."""

    @pytest.fixture
    def client(self) -> httpx.AsyncClient:
        return client_of(DestinationPolicy(allow_http=True, allowed_networks=LOOPBACK))

    async def test_answers(self, client: httpx.AsyncClient) -> None:
        secret = b"internal: db password is hunter2"
        unavailable = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: %d\r\n\r\n%s" % (
            len(secret),
            secret,
        )
        moved = b"HTTP/1.1 302 Found\r\nLocation: http://10.0.0.1/\r\nContent-Length: 0\r\n\r\n"
        async with client, LocalServer(unavailable) as down, LocalServer(moved) as redirecting:
            assert await post(client, f"http://127.0.0.1:{down.port}/") == (503, "http_503")
            assert await post(client, f"http://127.0.0.1:{redirecting.port}/") == (
                302,
                "redirect",
            )
            assert redirecting.connections == 1

    async def test_closed_and_odd_ports_are_both_unreachable(
        self, client: httpx.AsyncClient
    ) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        async with client, LocalServer(b"SSH-2.0-OpenSSH_9.6\r\n") as ssh:
            closed = await post(client, f"http://127.0.0.1:{closed_port}/")
            odd = await post(client, f"http://127.0.0.1:{ssh.port}/")
        assert closed == odd == (None, "unreachable")

    async def test_a_silent_receiver_times_out(self, client: httpx.AsyncClient) -> None:
        async with client, LocalServer(None) as silent:
            outcome = await post_event(
                client,
                url=f"http://127.0.0.1:{silent.port}/",
                secret="s3cret-shared-with-the-hr-system",
                delivery_id=1,
                event_id="e-1",
                body=b"{}",
                now=NOW,
                time_limit=0.2,
            )
        assert outcome == (None, "timeout")


def certificates(directory: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throwaway certificate authority and a server certificate for `name`: the client's
    context (trusting the authority) and the server's."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    end = start + dt.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test authority")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    chain, key_file = directory / "server.pem", directory / "server.key"
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(chain, key_file)
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return client, server


def test_stored_replies_are_reduced_to_error_classes(tmp_path: Path) -> None:
    """Deliveries recorded before this change held the receiver's reply: the migration keeps
    only the class."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'webhooks.db'}")
    config = alembic_config(MIGRATIONS)
    old = {
        1: "HTTP 503: <html>internal: db password is hunter2</html>",
        2: "HTTP 302: ",
        3: "ConnectError: [Errno 111] Connection refused",
        4: "RemoteProtocolError: illegal status line: bytearray(b'SSH-2.0-OpenSSH')",
        5: "ReadTimeout: ",
        6: None,
    }
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "9370fdb0be8c")
        connection.execute(
            sa.text(
                "INSERT INTO subscriptions (id, owner, url, event_types, secret, active, "
                "created_at) VALUES ('s', 'o', 'https://hr.example.org', '[\"*\"]', 'x', 1, "
                "'2026-11-01 00:00:00')"
            )
        )
        for delivery_id, error in old.items():
            connection.execute(
                sa.text(
                    "INSERT INTO deliveries (id, subscription_id, event_id, event_type, body, "
                    "status, attempts, next_attempt_at, last_error, created_at) VALUES "
                    "(:id, 's', :event, 't', '{}', 'parked', 8, '2026-11-01 00:00:00', "
                    ":error, '2026-11-01 00:00:00')"
                ),
                {"id": delivery_id, "event": f"e-{delivery_id}", "error": error},
            )
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        result = connection.execute(sa.text("SELECT id, last_error FROM deliveries"))
        rows: dict[int, str | None] = {row_id: error for row_id, error in result}
    engine.dispose()
    assert rows == {
        1: "http_503",
        2: "redirect",
        3: "unreachable",
        4: "unreachable",
        5: "timeout",
        6: None,
    }
