"""Certification REST API (/v1/certificates, /v1/verify)."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select

from wps_certification import service
from wps_certification.models import Certificate
from wps_certification.rendering import Renderer
from wps_certification.schemas import CertificateOut, CertificatePage, Verification
from wps_certification.settings import CertificationSettings
from wps_common.app import DbSession
from wps_common.auth import Principal, Role, require

router = APIRouter(prefix="/v1")

Reader = Annotated[
    Principal,
    Depends(require(Role.ADMIN, Role.HR, Role.ACADEMY_ADMIN, Role.INSTRUCTOR, Role.TRAINEE)),
]
Language = Annotated[str | None, Query(pattern=r"^[a-z]{2}$", description="override: en, ru")]


def _today() -> datetime:
    return datetime.now(UTC)


@router.get("/certificates", tags=["certificates"])
async def list_certificates(
    session: DbSession,
    who: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CertificatePage:
    """Certificates the caller may see, newest first (trainees: their own)."""
    stmt = select(Certificate)
    if who.is_trainee_only():
        stmt = stmt.where(Certificate.trainee_id == who.subject)
    elif not who.sees_all_academies:
        stmt = stmt.where(Certificate.academy_id == who.academy_id)
    total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = await session.scalars(
        stmt.order_by(Certificate.created_at.desc(), Certificate.id).limit(limit).offset(offset)
    )
    return CertificatePage(
        items=[CertificateOut.model_validate(c) for c in rows],
        total=total or 0,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/certificates/{certificate_id}.pdf",
    tags=["certificates"],
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, 304: {"description": "not modified"}},
)
async def certificate_pdf(
    certificate_id: str, request: Request, session: DbSession, who: Reader, lang: Language = None
) -> Response:
    """The certificate as PDF, in the trainee's language unless `?lang=` says otherwise."""
    certificate = await service.get_certificate(session, certificate_id=certificate_id, who=who)
    settings: CertificationSettings = request.app.state.settings
    renderer: Renderer = request.app.state.renderer
    doc = service.document(
        certificate,
        language=lang or certificate.language,
        base_url=settings.public_base_url,
        today=_today().date(),
    )
    etag = renderer.etag(doc)
    headers = {"ETag": etag, "Cache-Control": "private, max-age=0, must-revalidate"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    pdf, _ = await renderer.render(doc)
    headers["Content-Disposition"] = f'inline; filename="{certificate.number}.pdf"'
    return Response(pdf, media_type="application/pdf", headers=headers)


@router.get("/certificates/{certificate_id}", tags=["certificates"])
async def get_certificate(certificate_id: str, session: DbSession, who: Reader) -> CertificateOut:
    """One certificate's record."""
    return CertificateOut.model_validate(
        await service.get_certificate(session, certificate_id=certificate_id, who=who)
    )


@router.get(
    "/verify/{code}",
    tags=["verification"],
    response_model=Verification,
    responses={200: {"content": {"text/html": {}}}},
)
async def verify(code: str, request: Request, session: DbSession) -> Verification | HTMLResponse:
    """Public: is this certificate genuine and valid? (HTML for browsers, JSON otherwise)."""
    certificate = await service.find_by_code(session, code)
    result = Verification(
        status=service.current_status(certificate, _today().date()),
        holder_name=certificate.holder_name,
        track_title=certificate.track["certificate_title"],
        track_code=certificate.track_code,
        academy_name=certificate.academy_name,
        number=certificate.number,
        issued_on=certificate.issued_on,
        expires_on=certificate.expires_on,
    )
    if "text/html" in request.headers.get("accept", ""):
        return HTMLResponse(_verification_page(result))
    return result


def _verification_page(result: Verification) -> str:
    e = html.escape
    colour = {"valid": "#1b7f3b"}.get(result.status, "#b00020")
    expiry = result.expires_on.isoformat() if result.expires_on else "no expiry"
    title = result.track_title.get("en") or next(iter(result.track_title.values()), "")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Certificate {e(result.number)} — {e(result.status)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}}
.status{{font-size:2rem;font-weight:700;color:{colour};text-transform:uppercase}}
dt{{font-weight:600;margin-top:.6rem}}</style></head><body>
<p class="status">{e(result.status)}</p>
<dl><dt>Holder</dt><dd>{e(result.holder_name)}</dd>
<dt>Training</dt><dd>{e(title)} ({e(result.track_code)})</dd>
<dt>Issued by</dt><dd>{e(result.academy_name)}</dd>
<dt>Certificate number</dt><dd>{e(result.number)}</dd>
<dt>Issued on</dt><dd>{e(result.issued_on.isoformat())}</dd>
<dt>Valid until</dt><dd>{e(expiry)}</dd></dl></body></html>"""
