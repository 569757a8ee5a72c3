"""`wps-enrolment`: serve, migrate, revision, replay, check-config, dead-letters."""

from __future__ import annotations

from collections.abc import Sequence

from wps_common.cli import service_cli
from wps_common.jobs import system_clock
from wps_enrolment.handlers import subscriptions
from wps_enrolment.main import MIGRATIONS, create_app
from wps_enrolment.models import outbox
from wps_enrolment.settings import EnrolmentSettings


def main(argv: Sequence[str] | None = None) -> int:
    return service_cli(
        name="enrolment",
        settings_factory=EnrolmentSettings,
        create_app=create_app,  # type: ignore[arg-type]
        migrations=MIGRATIONS,
        outbox=outbox,
        subscriptions=lambda: subscriptions(system_clock),
        argv=argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
