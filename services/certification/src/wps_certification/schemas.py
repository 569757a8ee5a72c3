"""Request and response bodies of the certification API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from wps_common.fields import MultiLine, Name, SingleLine, printable

Status = Literal["valid", "revoked", "expired", "superseded"]
# Text shown to whoever verifies a certificate: without the control and direction characters
# that could make it read differently from what is stored (older records may hold them).
Printed = Annotated[str, AfterValidator(printable)]


class CertificateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    number: str
    verification_code: str
    enrolment_id: str
    award: Literal["track", "module"]
    edition: int
    trainee_id: str
    academy_id: str
    holder_name: str
    employee_number: str
    academy_name: str
    track_code: str = Field(description="the track's code, or the module's for a module award")
    track_version: int
    language: str
    pdf_languages: list[str] = Field(
        default_factory=list,
        description=(
            "the languages its PDF can be printed in (`?lang=`): its own first, then those its"
            " track has a text in"
        ),
    )
    template_version: str
    issued_on: date
    expires_on: date | None
    status: Status = Field(description="as of today: expiry is applied even before the scan")
    previous_certificate_id: str | None = Field(description="recertification: the one before")
    supersedes_id: str | None
    superseded_by_id: str | None
    revoked_on: date | None = Field(description="date of revocation (or of the correction)")
    revocation_reason: str | None = Field(
        description="academy staff, admin and hr only; never published or shown on verification"
    )
    created_at: datetime


class Revocation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, MultiLine(2000, min_length=3)] = Field(
        description="why (kept for the academy's records; never in events or verification)"
    )


class CredentialOut(BaseModel):
    """The signed credential and, for convenience, what it says."""

    format: Literal["vc+jwt"] = "vc+jwt"
    kid: str = Field(description="key id of the signature, in /.well-known/jwks.json")
    jwt: str = Field(description="compact JWS (EdDSA / Ed25519); the credential is its `vc` claim")
    credential: dict[str, Any] = Field(description="the OpenBadgeCredential, decoded")
    status: Status = Field(description="as of today; revocation is checked at /v1/verify")


class Verification(BaseModel):
    """All a verifier learns: nothing beyond what the certificate itself shows publicly. A
    superseded certificate names nobody and points nowhere: it was replaced by a correction."""

    status: Status
    holder_name: Printed | None
    track_title: dict[str, Printed]
    track_code: str
    academy_name: Printed = Field(description="as the certificate prints it, in `language`")
    academy_names: dict[str, Printed] = Field(
        default_factory=dict,
        description="the academy's name per language, as it was when the certificate was issued",
    )
    academy_languages: list[str] = Field(
        default_factory=list, description="the academy's languages, best first (its fallback order)"
    )
    language: str = Field(description="the language the certificate is printed in: en, ru or kk")
    title: Printed = Field(description="the training's title as the certificate prints it")
    number: str
    issued_on: date
    expires_on: date | None
    revoked_on: date | None = Field(description="revoked: since when (never why)")
    superseded_on: date | None


ImageId = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="an uploaded image's id")]


class ImageOut(BaseModel):
    id: ImageId
    width: int
    height: int
    media_type: Literal["image/png"] = "image/png"


class Signatory(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="as printed under the signature")
    title: Annotated[str, SingleLine(200)] = Field(
        default="", description="e.g. Head of the Academy"
    )
    signature_image_id: ImageId | None = Field(
        default=None, description="an image uploaded to /v1/certificate-images/{academy_id}"
    )


class SignaturesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signatories: list[Signatory] = Field(default_factory=list, max_length=3)
    seal_image_id: ImageId | None = None


class SignaturesOut(BaseModel):
    academy_id: str
    signatories: list[Signatory]
    seal_image_id: str | None
    version: int = Field(description="0 until the academy first sets its signatories")
    updated_at: datetime | None
    updated_by: str | None
