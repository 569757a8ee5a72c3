"""Enrolment settings: shared infrastructure settings under the ENROLMENT_ prefix."""

from pydantic_settings import SettingsConfigDict

from wps_common.settings import ServiceSettings


class EnrolmentSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="ENROLMENT_", extra="ignore", validate_by_name=True, validate_by_alias=True
    )

    service_name: str = "enrolment"
    database_url: str = "sqlite+aiosqlite:///var/enrolment.db"
