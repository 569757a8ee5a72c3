"""Curriculum settings: shared infrastructure settings under the CURRICULUM_ prefix."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from wps_common.settings import ServiceSettings


class CurriculumSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="CURRICULUM_", extra="ignore", validate_by_name=True, validate_by_alias=True
    )

    service_name: str = "curriculum"
    database_url: str = "sqlite+aiosqlite:///var/curriculum.db"
    load_starter_catalogue: bool = Field(
        False,
        description="publish the starter catalogue at start-up (what is missing of it; "
        "`make run` turns this on)",
    )
    catalogue_path: Path | None = Field(
        None, description="catalogue file to load instead of the packaged starter.yaml"
    )
