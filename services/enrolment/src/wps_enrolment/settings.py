"""Enrolment settings: shared infrastructure settings under the ENROLMENT_ prefix."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from wps_common.settings import ServiceSettings


class EnrolmentSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="ENROLMENT_", extra="ignore", validate_by_name=True, validate_by_alias=True
    )

    service_name: str = "enrolment"
    database_url: str = "sqlite+aiosqlite:///var/enrolment.db"
    max_attempts: int = Field(
        3, ge=1, le=10, description="default attempts per module a cohort allows"
    )
    report_min_cell: int = Field(
        5, ge=2, description="k of k-anonymity: report cells with fewer people are suppressed"
    )
    import_max_bytes: int = Field(
        20_000_000,
        ge=1_000,
        description="largest HR file (CSV or Excel workbook) accepted, in bytes",
    )
    import_chunk_rows: int = Field(1000, ge=10, description="rows written per statement batch")
