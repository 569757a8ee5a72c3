"""`wps-curriculum`: serve, migrate, revision."""

from __future__ import annotations

from collections.abc import Sequence

from wps_common.cli import service_cli
from wps_curriculum.main import MIGRATIONS, create_app
from wps_curriculum.settings import CurriculumSettings


def main(argv: Sequence[str] | None = None) -> int:
    return service_cli(
        name="curriculum",
        settings_factory=CurriculumSettings,
        create_app=create_app,  # type: ignore[arg-type]
        migrations=MIGRATIONS,
        argv=argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
