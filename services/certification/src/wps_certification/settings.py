"""Certification settings: shared infrastructure settings under the CERTIFICATION_ prefix."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from wps_common.settings import ServiceSettings


class CertificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="CERTIFICATION_", extra="ignore", validate_by_name=True, validate_by_alias=True
    )

    service_name: str = "certification"
    database_url: str = "sqlite+aiosqlite:///var/certification.db"
    public_base_url: str = Field(
        "http://localhost:8003", description="base of the verification URL printed in QR codes"
    )
    render_workers: int = Field(
        2, ge=0, le=32, description="PDF render processes; 0 renders in a thread (tests)"
    )
    pdf_cache_entries: int = Field(256, ge=0, description="rendered PDFs kept in memory")
