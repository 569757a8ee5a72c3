"""Revocation and correction: revoking a certificate, and re-issuing it as a new edition when
the holder's details were corrected; the `certificate.revoked` event."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from wps_certification import status_list
from wps_certification.certificates import get_certificate
from wps_certification.codes import new_verification_code
from wps_certification.holders import holder_snapshot
from wps_certification.issuance import issued_event, next_number
from wps_certification.models import Certificate, Holder, outbox
from wps_certification.pdf import TEMPLATE_VERSION
from wps_common.auth import Principal
from wps_common.db import new_id
from wps_common.errors import Conflict
from wps_common.events.contracts import CertificateRevoked


async def revoke_certificate(
    session: AsyncSession, *, certificate_id: str, who: Principal, reason: str, today: date
) -> Certificate:
    """Revoke; the reason is kept for the academy and never leaves the API."""
    certificate = await get_certificate(
        session, certificate_id=certificate_id, who=who, for_update=True
    )
    if certificate.status in ("revoked", "superseded"):
        raise Conflict(f"This certificate is already {certificate.status}.")
    certificate.status = "revoked"
    certificate.revoked_on = today
    certificate.revocation_reason = reason
    certificate.revoked_by = who.subject
    await session.flush()
    await outbox.add(session, revoked_event(certificate))
    return certificate


async def reissue_certificate(
    session: AsyncSession, *, certificate_id: str, who: Principal, today: date
) -> Certificate:
    """A correction: a new edition from the holder's current details supersedes the old one."""
    old = await get_certificate(session, certificate_id=certificate_id, who=who, for_update=True)
    if old.status in ("revoked", "superseded"):
        raise Conflict(
            f"This certificate is {old.status}; only a current certificate can be corrected."
        )
    holder = await session.get(Holder, old.trainee_id)
    if holder is None:
        raise Conflict("The holder's details have not reached certification; retry shortly.")
    # The language is decided again from the holder's details now, as at issue: it stays the
    # same unless the holder's language (or the academy's languages) changed since.
    snapshot = holder_snapshot(holder, old.track)
    if all(
        getattr(old, key) == value
        for key, value in snapshot.items()
        if key not in ("language", "academy_languages")
    ):
        raise Conflict(
            "The holder's name, employee number and academy are unchanged since this "
            "certificate was issued; correct them in enrolment first, then re-issue."
        )
    new = Certificate(
        id=new_id(),
        enrolment_id=old.enrolment_id,
        awarded_for=old.awarded_for,
        edition=old.edition + 1,
        number=await next_number(session, holder, old.issued_on.year),
        verification_code=new_verification_code(),
        trainee_id=old.trainee_id,
        academy_id=old.academy_id,
        track_code=old.track_code,
        track_version=old.track_version,
        track=old.track,
        template_version=TEMPLATE_VERSION,
        issued_on=old.issued_on,
        expires_on=old.expires_on,
        status="valid",
        previous_certificate_id=old.previous_certificate_id,
        supersedes_id=old.id,
        status_index=(await status_list.allocate(session, [old.academy_id]))[0],
        signature_set_id=old.signature_set_id,  # a correction, signed as the original was
        **snapshot,
    )
    old.status = "superseded"
    old.superseded_by_id = new.id
    old.revoked_on = today
    old.revoked_by = who.subject
    await session.flush()  # the old edition first: the new one's uniqueness is checked after
    session.add(new)
    await session.flush()
    await outbox.add(session, revoked_event(old))
    await outbox.add(session, issued_event(new))
    return new


def revoked_event(certificate: Certificate) -> CertificateRevoked:
    assert certificate.revoked_on is not None
    return CertificateRevoked(
        certificate_id=certificate.id,
        number=certificate.number,
        enrolment_id=certificate.enrolment_id,
        trainee_id=certificate.trainee_id,
        employee_number=certificate.employee_number,
        academy_id=certificate.academy_id,
        track_code=certificate.track_code,
        revoked_on=certificate.revoked_on,
        superseded_by=certificate.superseded_by_id,
    )
