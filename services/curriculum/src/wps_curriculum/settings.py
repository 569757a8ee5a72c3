"""Curriculum settings: shared infrastructure settings under the CURRICULUM_ prefix."""

from pydantic_settings import SettingsConfigDict

from wps_common.settings import ServiceSettings


class CurriculumSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="CURRICULUM_", extra="ignore", validate_by_name=True, validate_by_alias=True
    )

    service_name: str = "curriculum"
    database_url: str = "sqlite+aiosqlite:///var/curriculum.db"
