"""Reading certificates: one by id or a list, as far as the caller may see them, and a
certificate's current status on a given day."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Select, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_certification.models import Certificate
from wps_common.auth import Principal, Role
from wps_common.errors import NotFound
from wps_common.paging import Listing, keyset_page
from wps_common.tenancy import scoped

STATUSES = ("valid", "expired", "revoked", "superseded")


async def get_certificate(
    session: AsyncSession, *, certificate_id: str, who: Principal, for_update: bool = False
) -> Certificate:
    """The certificate if `who` may see it; anything else is 404 (never 403), so ids of other
    trainees and academies reveal nothing."""
    stmt = select(Certificate).where(Certificate.id == certificate_id)
    if for_update:
        stmt = stmt.with_for_update()
    certificate = await session.scalar(stmt)
    if certificate is None:
        raise NotFound("No such certificate.")
    if who.is_trainee_only():
        # A trainee's certificates are theirs wherever they serve now (a transfer to another
        # academy changes the token's academy, not whose certificates these are).
        if not who.is_trainee(certificate.trainee_id):
            raise NotFound("No such certificate.")
    else:
        who.check_academy(certificate.academy_id, "certificate")
    return certificate


async def list_certificates(
    session: AsyncSession,
    *,
    who: Principal,
    today: date,
    status: str | None = None,
    trainee_id: str | None = None,
    track_code: str | None = None,
    academy_id: str | None = None,
    limit: int,
    offset: int,
    cursor: str | None = None,
) -> Listing:
    stmt = select(Certificate)
    if who.is_trainee_only():
        stmt = stmt.where(Certificate.trainee_id == (who.trainee_id or ""))
    else:
        stmt = scoped(stmt, Certificate.academy_id, who)
    if status:
        stmt = _status_filter(stmt, status, today)
    if trainee_id:
        stmt = stmt.where(Certificate.trainee_id == trainee_id)
    if track_code:
        stmt = stmt.where(Certificate.track_code == track_code)
    if academy_id:
        # A filter within the caller's scope: naming another academy lists nothing.
        stmt = stmt.where(Certificate.academy_id == academy_id)
    return await keyset_page(
        session,
        stmt,
        order=(Certificate.created_at.desc(), Certificate.id.desc()),
        limit=limit,
        offset=offset,
        cursor=cursor,
    )


def _status_filter(stmt: Select[Any], status: str, today: date) -> Select[Any]:
    lapsed = and_(Certificate.expires_on.is_not(None), Certificate.expires_on < today)
    if status == "valid":
        return stmt.where(Certificate.status == "valid", ~lapsed)
    if status == "expired":
        return stmt.where(Certificate.status.in_(("valid", "expired")), lapsed)
    return stmt.where(Certificate.status == status)


def current_status(certificate: Certificate, today: date) -> str:
    """Revoked and superseded are decisions; expired follows from the date (the last valid day
    is `expires_on`), whether or not the scanner has got to it yet."""
    if certificate.status in ("revoked", "superseded"):
        return certificate.status
    if certificate.expires_on is not None and certificate.expires_on < today:
        return "expired"
    return "valid"


def may_see_reason(who: Principal) -> bool:
    """Whether `who` may read why a certificate was revoked (it never leaves the academy)."""
    return who.has(Role.ADMIN, Role.ACADEMY_ADMIN, Role.HR)
