"""`wps-webhooks`: serve, migrate, revision, replay, check-config, dead-letters."""

from __future__ import annotations

from collections.abc import Sequence

from wps_common.cli import service_cli
from wps_webhooks.handlers import subscriptions
from wps_webhooks.main import MIGRATIONS, create_app
from wps_webhooks.models import outbox
from wps_webhooks.settings import WebhooksSettings


def main(argv: Sequence[str] | None = None) -> int:
    return service_cli(
        name="webhooks",
        settings_factory=WebhooksSettings,
        create_app=create_app,  # type: ignore[arg-type]
        migrations=MIGRATIONS,
        outbox=outbox,
        subscriptions=lambda: subscriptions,
        argv=argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
