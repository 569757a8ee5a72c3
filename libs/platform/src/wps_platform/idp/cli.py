"""`wps-idp serve`: the development OpenID provider on a port, until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Sequence
from pathlib import Path

from wps_platform.idp.directory import DEFAULT_PORTAL_URL
from wps_platform.idp.provider import DevIdentityProvider


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wps-idp", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the provider; Ctrl-C stops it")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8006, help="0 = any free port")
    serve.add_argument(
        "--issuer", help="base URL the provider is reached at (default http://localhost:PORT)"
    )
    serve.add_argument("--var", type=Path, help="keep the signing keys in DIR/keys.json")
    serve.add_argument("--portal-url", default=DEFAULT_PORTAL_URL)
    serve.add_argument("--audience", default="wps-api")
    serve.add_argument("--access-token-ttl", type=int, default=300, metavar="SECONDS")
    serve.add_argument("--refresh-token-ttl", type=int, default=1800, metavar="SECONDS")
    serve.add_argument(
        "--redirect-uri",
        action="append",
        default=[],
        metavar="URI",
        help="another redirect URI for the wps-portal client (repeatable)",
    )
    serve.add_argument("--directory", type=Path, help="a directory YAML instead of the demo one")
    serve.add_argument(
        "--quiet", action="store_true", help="no banner and no request log (for the launcher)"
    )
    args = parser.parse_args(argv)
    return serve_provider(args)


def serve_provider(args: argparse.Namespace) -> int:
    # authlib refuses plain http except on loopback; this process is a development provider,
    # which a phone on the LAN may reach at http://<host-ip>:PORT.
    os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
    issuer = args.issuer or (f"http://localhost:{args.port}" if args.port else None)
    provider = DevIdentityProvider(
        host=args.host,
        port=args.port,
        issuer=issuer,
        var_dir=args.var,
        audience=args.audience,
        portal_url=args.portal_url,
        access_token_ttl=args.access_token_ttl,
        redirect_uris=args.redirect_uri,
        refresh_token_ttl=args.refresh_token_ttl,
        directory_path=args.directory,
    )
    stopping = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    provider.start()
    try:
        if not args.quiet:
            print_banner(provider)
        stopping.wait()
    finally:
        provider.stop()
        if not args.quiet:
            print("wps-idp stopped.", flush=True)
    return 0


def print_banner(provider: DevIdentityProvider) -> None:
    directory = provider.directory
    keys = provider.keys
    where = f"keys in {keys.path}" if keys.path else "keys in memory"
    signing = keys.signing_key()
    print(f"\nWPS development identity provider (development only) at {provider.url}")
    print(f"  discovery  {provider.url}/.well-known/openid-configuration")
    print(f"  signing    {signing.alg} kid {signing.kid} ({where})")
    print(f"\nDemo users (every one signs in with the password '{directory.password}'):")
    print(f"  {'username':<16} {'roles':<20} academy")
    for user in directory.users:
        print(f"  {user.username:<16} {', '.join(user.roles):<20} {user.academy or '-'}")
    print("\nClients:")
    for client in directory.clients:
        secret = client.secret if client.secret is not None else "(public, PKCE)"
        print(f"  {client.client_id:<14} secret {secret:<22} {', '.join(client.grant_types)}")
        for uri in client.redirect_uris:
            print(f"  {'':<14} redirect {uri}")
    print("\nPress Ctrl-C to stop.\n", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
