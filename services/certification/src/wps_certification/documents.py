"""What a certificate's PDF shows, in the language asked for."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from wps_certification import signatures
from wps_certification.certificates import current_status, get_certificate
from wps_certification.credential import open_badge, sign_credential
from wps_certification.language import (
    LANGUAGES,
    academy_name_on,
    printed_language,
    text_on,
    title_on,
)
from wps_certification.models import Certificate
from wps_certification.pdf import CertificateDocument, CertificateModule
from wps_certification.signing import Keyring
from wps_common.auth import Principal


def verification_url(certificate: Certificate, base_url: str, language: str) -> str:
    """The QR code's address: it carries the language the PDF is printed in, so the page it
    opens speaks it unless the reader chose another."""
    return f"{base_url.rstrip('/')}/v1/verify/{certificate.verification_code}?lang={language}"


def document(
    certificate: Certificate,
    *,
    language: str,
    base_url: str,
    today: date,
    signed: signatures.Printed | None = None,
    credential_jwt: str | None = None,
) -> CertificateDocument:
    """What the PDF shows, in `language`: its labels, and the texts in it where the track has
    them (else in the academy's next language that has them)."""
    language = language if language in LANGUAGES else "en"
    track = certificate.track

    def pick(texts: dict[str, str]) -> str:
        return text_on(texts, certificate, language)

    return CertificateDocument(
        language=language,
        holder_name=certificate.holder_name,
        employee_number=certificate.employee_number,
        academy_name=academy_name_on(certificate, language),
        track_title=title_on(certificate, language),
        modules=tuple(
            CertificateModule(code=m["code"], title=pick(m["title"]), hours=m["duration_hours"])
            for m in track["modules"]
        ),
        issued_on=certificate.issued_on,
        expires_on=certificate.expires_on,
        number=certificate.number,
        verification_code=certificate.verification_code,
        verification_url=verification_url(certificate, base_url, language),
        status=current_status(certificate, today),
        template_version=certificate.template_version,
        signatories=signed.signatories if signed else (),
        seal=signed.seal if signed else None,
        credential_jwt=credential_jwt,
    )


async def certificate_document(
    session: AsyncSession,
    *,
    certificate_id: str,
    who: Principal,
    language: str | None,
    base_url: str,
    today: date,
    keyring: Keyring,
) -> CertificateDocument:
    """What the PDF of a certificate `who` may see shows, in `language` when its track has
    a text in it, else in its own, with its signed credential embedded (none once it is
    revoked or superseded)."""
    certificate = await get_certificate(session, certificate_id=certificate_id, who=who)
    token = (
        None
        if current_status(certificate, today) in ("revoked", "superseded")
        else sign_credential(
            open_badge(certificate, base_url=base_url),
            certificate,
            keyring=keyring,
            issuer=base_url,
        )
    )
    signed = await signatures.printed(session, certificate.academy_id, certificate.signature_set_id)
    return document(
        certificate,
        language=printed_language(certificate, language),
        base_url=base_url,
        today=today,
        signed=signed,
        credential_jwt=token,
    )
