"""`wps-certification`: serve, migrate, revision, replay, check-config, dead-letters."""

from __future__ import annotations

from collections.abc import Sequence

from wps_certification.handlers import subscriptions
from wps_certification.main import MIGRATIONS, create_app
from wps_certification.models import outbox
from wps_certification.settings import CertificationSettings
from wps_common.cli import service_cli


def main(argv: Sequence[str] | None = None) -> int:
    return service_cli(
        name="certification",
        settings_factory=CertificationSettings,
        create_app=create_app,  # type: ignore[arg-type]
        migrations=MIGRATIONS,
        outbox=outbox,
        subscriptions=lambda: subscriptions,
        argv=argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
