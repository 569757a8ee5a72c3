"""`wps-portal serve | check-config`: the portal's pages on a port."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import httpx

from wps_common.access_log import log_config
from wps_common.cli import check_config, load_settings
from wps_common.configcheck import check_database, check_identity_providers
from wps_common.logs import configure_logging, log_format_for
from wps_portal.settings import PortalSettings


async def check_services(settings: Any) -> tuple[list[str], str]:
    """The four services the pages call answer at the configured URLs."""
    assert isinstance(settings, PortalSettings)
    urls = {
        "PORTAL_CURRICULUM_URL": settings.curriculum_url,
        "PORTAL_ENROLMENT_URL": settings.enrolment_url,
        "PORTAL_CERTIFICATION_URL": settings.certification_url,
        "PORTAL_WEBHOOKS_URL": settings.webhooks_url,
    }
    problems = []
    async with httpx.AsyncClient(timeout=5.0) as http:
        for variable, url in urls.items():
            try:
                (await http.get(url.rstrip("/") + "/healthz")).raise_for_status()
            except (httpx.HTTPError, ValueError) as exc:
                problems.append(f"{variable}: {url} does not answer /healthz ({exc})")
    return problems, "the four services answer"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wps-portal", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the portal")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8005)
    serve.add_argument("--fd", type=int, help="serve on an inherited, already bound socket")
    commands.add_parser("check-config", help="report every problem with the settings, one per line")
    args = parser.parse_args(argv)
    if args.command == "check-config":
        checks = (check_database, check_identity_providers, check_services)
        return check_config("wps-portal", PortalSettings, checks)
    settings = load_settings("wps-portal", PortalSettings)
    log_format = log_format_for(settings)
    configure_logging("portal", log_format)

    from wps_common.serving import run_server
    from wps_portal.main import create_app

    try:
        app = create_app(settings)
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"wps-portal: cannot start: {exc}", file=sys.stderr)
        return 2
    where = {"fd": args.fd} if args.fd is not None else {"host": args.host, "port": args.port}
    run_server(
        app,
        log_level="info",
        log_config=log_config("portal", log_format),
        proxy_headers=False,
        **where,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
