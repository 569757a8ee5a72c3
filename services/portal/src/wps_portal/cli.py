"""`wps-portal serve`: the portal's pages on a port."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from wps_common.access_log import log_config
from wps_common.cli import load_settings
from wps_portal.settings import PortalSettings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wps-portal", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the portal")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8005)
    serve.add_argument("--fd", type=int, help="serve on an inherited, already bound socket")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = load_settings("wps-portal", PortalSettings)

    from wps_common.serving import run_server
    from wps_portal.main import create_app

    where = {"fd": args.fd} if args.fd is not None else {"host": args.host, "port": args.port}
    run_server(
        create_app(settings),
        log_level="info",
        log_config=log_config(),
        proxy_headers=False,
        **where,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
