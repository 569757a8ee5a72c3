"""Public verification: a certificate found by its printed code, and what anyone may learn of
it (a superseded certificate no longer names its holder)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_certification.certificates import current_status
from wps_certification.codes import normalise
from wps_certification.language import academy_name_on, title_on
from wps_certification.models import Certificate
from wps_certification.schemas import Verification
from wps_common.errors import NotFound


async def find_by_code(session: AsyncSession, typed_code: str) -> Certificate:
    code = normalise(typed_code)
    certificate = (
        await session.scalar(select(Certificate).where(Certificate.verification_code == code))
        if code
        else None
    )
    if certificate is None:
        raise NotFound("No certificate has this verification code. Check it and try again.")
    return certificate


async def verify(session: AsyncSession, *, code: str, today: date) -> Verification:
    """The public answer for a typed verification code; 404 when no certificate has it."""
    certificate = await find_by_code(session, code)
    status = current_status(certificate, today)
    superseded = status == "superseded"
    return Verification(
        status=status,
        holder_name=None if superseded else certificate.holder_name,
        track_title=certificate.track["certificate_title"],
        track_code=certificate.track_code,
        academy_name=academy_name_on(certificate),
        academy_names=certificate.academy_names or {},
        academy_languages=certificate.academy_languages or [],
        language=certificate.language,
        title=title_on(certificate),
        number=certificate.number,
        issued_on=certificate.issued_on,
        expires_on=certificate.expires_on,
        revoked_on=certificate.revoked_on if status == "revoked" else None,
        superseded_on=certificate.revoked_on if superseded else None,
    )
