"""Certification REST API (/v1/certificates, /v1/verify, /.well-known/jwks.json)."""

from __future__ import annotations

import html
from datetime import date
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from wps_certification import (
    certificates,
    credential,
    documents,
    revocation,
    signatures,
    status_list,
    verification,
)
from wps_certification.credential import MEDIA_TYPE_JWT
from wps_certification.language import LANGUAGES, printed_languages
from wps_certification.models import Certificate
from wps_certification.ratelimit import RateLimiter
from wps_certification.rendering import Renderer
from wps_certification.schemas import (
    CertificateOut,
    CredentialOut,
    ImageOut,
    Revocation,
    SignaturesIn,
    SignaturesOut,
    Status,
    Verification,
)
from wps_certification.settings import CertificationSettings
from wps_certification.signing import Keyring
from wps_common.app import DbSession, runtime_of
from wps_common.auth import Principal, Role, require
from wps_common.clock import Now, Today
from wps_common.errors import InvalidInput
from wps_common.fields import Code, Id, Limit, Offset, SingleLine, printable
from wps_common.paging import Cursor, Page

router = APIRouter(prefix="/v1")
well_known = APIRouter(tags=["verification"])

Reader = Annotated[
    Principal,
    Depends(require(Role.ADMIN, Role.HR, Role.ACADEMY_ADMIN, Role.INSTRUCTOR, Role.TRAINEE)),
]
Revoker = Annotated[Principal, Depends(require(Role.ADMIN, Role.ACADEMY_ADMIN))]
ETAG = {
    "description": "The rendered document's version",
    "required": True,
    "schema": {"type": "string"},
}
Language = Annotated[
    str | None,
    Query(
        pattern=r"^[a-z]{2}$",
        description=(
            "another language to print in: en, ru or kk; the certificate's own language when"
            " its track has no text in the one asked for"
        ),
    ),
]


def _printable(lang: str | None) -> str | None:
    """`?lang=` is a language the template has labels in, or a 422 naming them."""
    if lang is not None and lang not in LANGUAGES:
        allowed = ", ".join(LANGUAGES)
        raise InvalidInput(
            f"Certificates are printed in {allowed}; {lang!r} is not one of them.",
            field="lang",
        )
    return lang


def _settings(request: Request) -> CertificationSettings:
    settings: CertificationSettings = request.app.state.settings
    return settings


def _out(certificate: Certificate, who: Principal, today: date) -> CertificateOut:
    out = CertificateOut.model_validate(certificate)
    return out.model_copy(
        update={
            "status": certificates.current_status(certificate, today),
            "pdf_languages": printed_languages(certificate),
            "revocation_reason": (
                certificate.revocation_reason if certificates.may_see_reason(who) else None
            ),
        }
    )


@router.get("/certificates", tags=["certificates"])
async def list_certificates(
    session: DbSession,
    who: Reader,
    today: Today,
    status: Status | None = None,
    trainee_id: Id | None = None,
    track_code: Code | None = None,
    academy_id: Id | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> Page[CertificateOut]:
    """Certificates the caller may see, newest first (trainees: their own; staff: their academy)."""
    listing = await certificates.list_certificates(
        session,
        who=who,
        today=today,
        status=status,
        trainee_id=trainee_id,
        track_code=track_code,
        academy_id=academy_id,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    return Page.of(
        listing, [_out(c, who, today) for c in listing.items], limit=limit, offset=offset
    )


@router.get(
    "/certificates/{certificate_id}.pdf",
    tags=["certificates"],
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "headers": {"ETag": ETAG}},
        304: {
            "description": "Not modified: the If-None-Match ETag is current.",
            "headers": {"ETag": ETAG},
        },
    },
)
async def certificate_pdf(
    certificate_id: Id, request: Request, who: Reader, today: Today, lang: Language = None
) -> Response:
    """The certificate as PDF, in its language (decided at issue) unless `?lang=` asks."""
    # A transaction of its own that ends before rendering: holding it for the render would keep
    # a connection (and SQLite's write lock, which every transaction takes) for ~40 ms each.
    async with runtime_of(request).db.session() as session:
        doc = await documents.certificate_document(
            session,
            certificate_id=certificate_id,
            who=who,
            language=_printable(lang),
            base_url=_settings(request).public_base_url,
            today=today,
            keyring=request.app.state.keyring,
        )
    renderer: Renderer = request.app.state.renderer
    etag = renderer.etag(doc)
    headers = {"ETag": etag, "Cache-Control": "private, max-age=0, must-revalidate"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    pdf, _ = await renderer.render(doc)
    headers["Content-Disposition"] = f'inline; filename="{doc.number}.pdf"'
    return Response(pdf, media_type="application/pdf", headers=headers)


@router.get(
    "/certificates/{certificate_id}/credential",
    tags=["certificates"],
    response_model=CredentialOut,
    responses={
        200: {"content": {MEDIA_TYPE_JWT: {}, "application/json": {}}},
        409: {"description": "The certificate is revoked or superseded: no credential."},
    },
)
async def certificate_credential(
    certificate_id: Id, request: Request, session: DbSession, who: Reader, today: Today
) -> CredentialOut | Response:
    """The Open Badges 3.0 credential as VC-JWT: JSON with the JWT and the decoded credential,
    or the bare JWT when `Accept: application/vc+jwt`."""
    keyring: Keyring = request.app.state.keyring
    signed = await credential.current_credential(
        session,
        certificate_id=certificate_id,
        who=who,
        today=today,
        keyring=keyring,
        base_url=_settings(request).public_base_url,
    )
    accept = request.headers.get("accept", "")
    if MEDIA_TYPE_JWT in accept or "application/jwt" in accept:
        return Response(signed.jwt, media_type=MEDIA_TYPE_JWT)
    return CredentialOut(
        kid=keyring.kid, jwt=signed.jwt, credential=signed.credential, status=signed.status
    )


@router.get("/certificates/{certificate_id}", tags=["certificates"])
async def get_certificate(
    certificate_id: Id, session: DbSession, who: Reader, today: Today
) -> CertificateOut:
    """One certificate's record."""
    certificate = await certificates.get_certificate(
        session, certificate_id=certificate_id, who=who
    )
    return _out(certificate, who, today)


@router.post("/certificates/{certificate_id}/revoke", tags=["certificates"])
async def revoke_certificate(
    certificate_id: Id, body: Revocation, session: DbSession, who: Revoker, today: Today
) -> CertificateOut:
    """Revoke a certificate (academy admin of its academy, or admin); emits certificate.revoked."""
    certificate = await revocation.revoke_certificate(
        session, certificate_id=certificate_id, who=who, reason=body.reason, today=today
    )
    return _out(certificate, who, today)


@router.post("/certificates/{certificate_id}/reissue", tags=["certificates"], status_code=201)
async def reissue_certificate(
    certificate_id: Id, session: DbSession, who: Revoker, today: Today
) -> CertificateOut:
    """Correct a certificate after the holder's details were fixed: a new one supersedes it."""
    certificate = await revocation.reissue_certificate(
        session, certificate_id=certificate_id, who=who, today=today
    )
    return _out(certificate, who, today)


def _client(request: Request) -> str:
    # The peer address, or — behind proxies named in WPS_TRUSTED_PROXIES — the address they
    # report (wps_common.app installs the proxy-headers middleware for that, and nothing else
    # reads X-Forwarded-For, so a client cannot pick its own rate-limit bucket).
    return request.client.host if request.client else "unknown"


@router.get(
    "/verify/{code}",
    tags=["verification"],
    response_model=Verification,
    responses={
        200: {"content": {"text/html": {}}},
        303: {"description": "a browser, sent to the portal's verification page (portal_url)"},
        429: {"description": "too many lookups from this address (see Retry-After)"},
    },
)
async def verify(
    code: str,
    request: Request,
    session: DbSession,
    today: Today,
    lang: Annotated[
        str | None,
        Query(
            max_length=8,
            description=(
                "the language the printed certificate is in (its QR code carries it): the"
                " portal's page speaks it unless the reader chose another; others are ignored"
            ),
        ),
    ] = None,
) -> Verification | Response:
    """Public: is this certificate genuine and valid? (HTML for browsers, JSON otherwise)."""
    portal = _settings(request).portal_url
    if portal and _prefers_html(request.headers.get("accept", "")):
        # Before the rate limit and the lookup: the portal's page makes the one lookup, in the
        # reader's language (else the certificate's, which the QR code carries), on behalf of
        # this same client.
        carried = f"?lang={lang}" if lang in LANGUAGES else ""
        return RedirectResponse(
            f"{portal.rstrip('/')}/verify/{quote(code, safe='')}{carried}", status_code=303
        )
    limiter: RateLimiter = request.app.state.verify_limiter
    limiter.take(_client(request))
    result = await verification.verify(session, code=code, today=today)
    if "text/html" in request.headers.get("accept", ""):
        return HTMLResponse(_verification_page(result))
    return result


def _prefers_html(accept: str) -> bool:
    """A browser rather than a JSON client: `text/html` is named, and weighs no less than
    `application/json` (a bare `*/*`, as curl sends, is not a preference for HTML)."""
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[media.lower()] = max(weight, weights.get(media.lower(), 0.0))
    html = weights.get("text/html", 0.0)
    return html > 0 and html >= weights.get("application/json", 0.0)


Signer = Annotated[Principal, Depends(require(Role.ADMIN, Role.ACADEMY_ADMIN))]
ImageIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]
# an academy's id as certification keeps it (a UUID: 36 characters)
AcademyId = Annotated[str, SingleLine(36, min_length=1)]


@router.post(
    "/certificate-images/{academy_id}",
    tags=["signatures"],
    status_code=201,
    response_model=ImageOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media: {"schema": {"type": "string", "format": "binary"}}
                for media in signatures.MEDIA_TYPES
            },
        }
    },
)
async def upload_certificate_image(
    academy_id: AcademyId, request: Request, session: DbSession, who: Signer
) -> ImageOut:
    """A signature or seal image (PNG or JPEG, at most 512 KiB and 2000×2000 pixels), sent as
    the raw body. It is stored re-encoded as PNG from its pixels alone (no metadata or hidden
    payload survives); its id is the PNG's SHA-256, so the same image is stored once."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    return await signatures.store_image(
        session, academy_id=academy_id, data=body, media_type=media_type, who=who
    )


@router.get(
    "/certificate-images/{academy_id}/{image_id}",
    tags=["signatures"],
    response_class=Response,
    responses={200: {"content": {"image/png": {"schema": {"type": "string"}}}}},
)
async def certificate_image(
    academy_id: AcademyId, image_id: ImageIdPath, session: DbSession, who: Signer
) -> Response:
    """An uploaded signature or seal image, as stored (PNG)."""
    png = await signatures.image(session, academy_id=academy_id, image_id=image_id, who=who)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/certificate-signatures/{academy_id}", tags=["signatures"])
async def certificate_signatures(
    academy_id: AcademyId, session: DbSession, who: Signer
) -> SignaturesOut:
    """Who signs the academy's certificates, and its seal (version 0: none set yet)."""
    return await signatures.current_signatures(session, academy_id=academy_id, who=who)


@router.put("/certificate-signatures/{academy_id}", tags=["signatures"])
async def set_certificate_signatures(
    academy_id: AcademyId, body: SignaturesIn, session: DbSession, who: Signer
) -> SignaturesOut:
    """Up to three signatories (name, title, signature image) and a seal, for certificates
    issued from now on; those issued before keep the signatories they were issued with."""
    return await signatures.set_signatures(session, academy_id=academy_id, signatures=body, who=who)


@router.get(
    "/status-lists/{academy_id}/{number}",
    tags=["verification"],
    response_class=Response,
    responses={
        200: {
            "description": "The BitstringStatusListCredential, signed as VC-JWT",
            "content": {MEDIA_TYPE_JWT: {"schema": {"type": "string"}}},
        },
        404: {"description": "The academy has no such list."},
    },
)
async def revocation_list(
    academy_id: AcademyId,
    number: Annotated[int, Path(ge=0, le=1_000_000)],
    request: Request,
    session: DbSession,
    now: Now,
) -> Response:
    """Public: an academy's revocation list (W3C Bitstring Status List), which a certificate's
    credential names in its `credentialStatus`. Signed with the key in /.well-known/jwks.json;
    an entry is set once its certificate is revoked or superseded by a correction."""
    base_url = _settings(request).public_base_url
    listed = await status_list.status_list(
        session, academy_id=academy_id, number=number, base_url=base_url, now=now
    )
    keyring: Keyring = request.app.state.keyring
    token = status_list.signed_status_list(listed, keyring=keyring, issuer=base_url)
    # a revocation reaches verifiers that cache the list within five minutes
    return Response(token, media_type=MEDIA_TYPE_JWT, headers={"Cache-Control": "max-age=300"})


@well_known.get("/.well-known/jwks.json")
async def jwks(request: Request) -> JSONResponse:
    """Public keys (Ed25519, by `kid`) that verify the certificates' signed credentials."""
    keyring: Keyring = request.app.state.keyring
    return JSONResponse(keyring.jwks(), headers={"Cache-Control": "public, max-age=300"})


# The page speaks the certificate's language (en, ru or kk): whoever holds the certificate can
# read it, and its texts are the ones the certificate prints.
_PAGE: dict[str, dict[str, str]] = {
    "en": {
        "valid": "valid",
        "expired": "expired",
        "revoked": "revoked",
        "superseded": "superseded",
        "explain_valid": "This certificate is genuine and valid.",
        "explain_expired": "This certificate is genuine but has expired.",
        "explain_revoked": (
            "This certificate was revoked by the issuing academy and is no longer valid."
        ),
        "explain_superseded": (
            "This certificate was replaced by a corrected one and is no longer valid. "
            "Ask the holder for the current certificate."
        ),
        "holder": "Holder",
        "training": "Training",
        "academy": "Issued by",
        "number": "Certificate number",
        "issued": "Issued on",
        "expires": "Valid until",
        "no_expiry": "no expiry",
        "revoked_on": "Revoked on",
        "superseded_on": "Replaced on",
        "certificate": "Certificate",
    },
    "ru": {
        "valid": "действителен",
        "expired": "истёк",
        "revoked": "отозван",
        "superseded": "заменён",
        "explain_valid": "Сертификат подлинный и действителен.",
        "explain_expired": "Сертификат подлинный, но срок его действия истёк.",
        "explain_revoked": "Выдавшая академия отозвала этот сертификат; он недействителен.",
        "explain_superseded": (
            "Этот сертификат заменён исправленным и недействителен. "
            "Попросите у владельца действующий сертификат."
        ),
        "holder": "Владелец",
        "training": "Обучение",
        "academy": "Выдан",
        "number": "Номер сертификата",
        "issued": "Дата выдачи",
        "expires": "Действителен до",
        "no_expiry": "бессрочно",
        "revoked_on": "Отозван",
        "superseded_on": "Заменён",
        "certificate": "Сертификат",
    },
    "kk": {
        "valid": "жарамды",
        "expired": "мерзімі өткен",
        "revoked": "күші жойылды",
        "superseded": "ауыстырылған",
        "explain_valid": "Бұл сертификат түпнұсқа және жарамды.",
        "explain_expired": "Бұл сертификат түпнұсқа, бірақ жарамдылық мерзімі өтті.",
        "explain_revoked": "Бұл сертификаттың күшін берген академия жойды; ол жарамсыз.",
        "explain_superseded": (
            "Бұл сертификат түзетілген сертификатпен ауыстырылды және жарамсыз. "
            "Иесінен қолданыстағы сертификатты сұраңыз."
        ),
        "holder": "Иесі",
        "training": "Оқу",
        "academy": "Берген ұйым",
        "number": "Сертификат нөмірі",
        "issued": "Берілген күні",
        "expires": "Жарамдылық мерзімі",
        "no_expiry": "мерзімсіз",
        "revoked_on": "Күші жойылған күні",
        "superseded_on": "Ауыстырылған күні",
        "certificate": "Сертификат",
    },
}


def _verification_page(result: Verification) -> str:
    e = html.escape
    lang = result.language if result.language in _PAGE else "en"
    says = _PAGE[lang]
    colour = {"valid": "#1b7f3b"}.get(result.status, "#b00020")
    expiry = result.expires_on.isoformat() if result.expires_on else says["no_expiry"]
    rows = []
    if result.holder_name is not None:
        rows.append((says["holder"], result.holder_name))
    rows += [
        (says["training"], f"{result.title} ({result.track_code})"),
        (says["academy"], result.academy_name),
        (says["number"], result.number),
        (says["issued"], result.issued_on.isoformat()),
        (says["expires"], expiry),
    ]
    if result.revoked_on is not None:
        rows.append((says["revoked_on"], result.revoked_on.isoformat()))
    if result.superseded_on is not None:
        rows.append((says["superseded_on"], result.superseded_on.isoformat()))
    # printable(): names from records older than today's validation may still hold controls
    # that would make the page show a name reordered.
    details = "\n".join(
        f"<dt>{e(label)}</dt><dd>{e(printable(value))}</dd>" for label, value in rows
    )
    status = says[result.status]
    return f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex">
<title>{e(says["certificate"])} {e(result.number)} — {e(status)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}}
.status{{font-size:2rem;font-weight:700;color:{colour};text-transform:uppercase}}
dt{{font-weight:600;margin-top:.6rem}}</style></head><body>
<p class="status" data-status="{e(result.status)}">{e(status)}</p>
<p class="explanation">{e(says["explain_" + result.status])}</p>
<dl>{details}</dl></body></html>"""
