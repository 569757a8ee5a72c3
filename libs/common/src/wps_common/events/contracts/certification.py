"""Events the certification service publishes."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from wps_common.events.envelope import EventPayload


class CertificateIssued(EventPayload):
    service: ClassVar[str] = "certification"
    entity: ClassVar[str] = "certificate"
    action: ClassVar[str] = "issued"

    certificate_id: str
    number: str
    enrolment_id: str
    trainee_id: str
    employee_number: str
    academy_id: str
    track_code: str
    track_version: int
    issued_on: date
    expires_on: date | None
    supersedes: str | None = None

    def about(self) -> str:
        return f"certificate/{self.certificate_id}"


class CertificateRevoked(EventPayload):
    """Revoked by an academy (the reason stays behind the API) or superseded by a correction."""

    service: ClassVar[str] = "certification"
    entity: ClassVar[str] = "certificate"
    action: ClassVar[str] = "revoked"

    certificate_id: str
    number: str
    enrolment_id: str
    trainee_id: str
    employee_number: str
    academy_id: str
    track_code: str
    revoked_on: date
    superseded_by: str | None = None

    def about(self) -> str:
        return f"certificate/{self.certificate_id}"


class CertificateExpiring(EventPayload):
    """Sent once per configured lead time (e.g. 60, 30, 7 days) before expiry."""

    service: ClassVar[str] = "certification"
    entity: ClassVar[str] = "certificate"
    action: ClassVar[str] = "expiring"

    certificate_id: str
    trainee_id: str
    employee_number: str
    academy_id: str
    track_code: str
    expires_on: date
    lead_days: int

    def about(self) -> str:
        return f"certificate/{self.certificate_id}"


class CertificateExpired(EventPayload):
    service: ClassVar[str] = "certification"
    entity: ClassVar[str] = "certificate"
    action: ClassVar[str] = "expired"

    certificate_id: str
    trainee_id: str
    employee_number: str
    academy_id: str
    track_code: str
    expired_on: date

    def about(self) -> str:
        return f"certificate/{self.certificate_id}"
