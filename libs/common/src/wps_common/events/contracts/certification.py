"""Events the certification service publishes."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from wps_common.events.envelope import EventPayload


class CertificateIssued(EventPayload):
    """A certificate exists. For a module that grants its own certificate, `award` is "module"
    and `track_code`/`track_version` name that module; a correction names the certificate it
    `supersedes`; a recertification names the `previous_certificate_id` of the same track."""

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
    award: Literal["track", "module"] = "track"
    previous_certificate_id: str | None = None

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
    """Sent once, on the first scan after the last valid day: `expired_on` is the first day on
    which the certificate is no longer valid (the day after `expires_on`)."""

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
