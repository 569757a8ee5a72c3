"""Pages for a signed-in trainee about themselves: the mandatory trainings that apply to them,
their cohorts and results, and their certificates (PDF, signed credential, a link and a QR code
to share)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Iterable
from typing import Annotated, Any
from urllib.parse import quote

import segno
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from markupsafe import Markup, escape

from wps_common.auth import Role
from wps_portal.backend import Backend, Service, ServiceError
from wps_portal.i18n import FALLBACKS, N_, localised
from wps_portal.web import User, call, error_page, every_item, for_roles, language, render

log = logging.getLogger("wps.portal.trainee")
router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
# Certification prints certificates with labels in these languages (its pdf.LANGUAGES), the
# texts through the academy's languages; for another page language the portal asks for that
# language's fallback instead.
PDF_LANGUAGES = ("en", "ru", "kk")
# Most urgent first: what a trainee must act on comes before what is settled.
URGENCY = ("overdue", "expired", "due", "compliant", "exempt")
COMPLIANCE_LABELS = {
    "compliant": N_("Compliant"),
    "due": N_("Due"),
    "overdue": N_("Overdue"),
    "expired": N_("Expired"),
    "exempt": N_("Exempt"),
}
ENROLMENT_LABELS = {
    "enrolled": N_("Enrolled"),
    "waitlisted": N_("On the waiting list"),
    "completed": N_("Completed"),
    "failed": N_("Not passed"),
    "withdrawn": N_("Withdrawn"),
}
WITHDRAWAL_REASONS = {
    "trainee_request": N_("at your request"),
    "operational": N_("for operational reasons"),
    "medical": N_("for medical reasons"),
    "disciplinary": N_("for disciplinary reasons"),
    "other": N_("for another reason"),
}
CERTIFICATE_LABELS = {
    "valid": N_("Valid"),
    "expired": N_("Expired"),
    "revoked": N_("Revoked"),
    "superseded": N_("Replaced"),
}


async def _optional(request: Request, service: Service, path: str, **kwargs: Any) -> Any:
    """A lookup that only adds to a page (a title, a cohort's dates): without it the page
    still stands, showing codes instead."""
    try:
        return await call(request, service, "GET", path, **kwargs)
    except ServiceError as error:
        if error.status == 401:
            raise
        log.info("%s %s left out: %s", service, path, error.status)
        return None


async def _each(lookups: Iterable[Awaitable[Any]]) -> list[Any]:
    return list(await asyncio.gather(*lookups))


async def _my_record(request: Request) -> dict[str, Any] | Response:
    """My trainee record, or the page that says this account has none."""
    try:
        record: dict[str, Any] = await call(request, "enrolment", "GET", "/v1/trainees/me")
    except ServiceError as error:
        if error.status != 404:
            raise
        return render(request, "trainee/unlinked.html", detail=error.detail)
    return record


def _segment(value: str) -> str:
    return quote(value, safe="")


# --- my mandatory trainings ------------------------------------------------------------------


@router.get("/me/trainings")
async def my_trainings(request: Request, user: User = for_roles(Role.TRAINEE)) -> Response:
    """Each requirement that applies to me: its status, its date and what to do next."""
    me = await _my_record(request)
    if isinstance(me, Response):
        return me
    speaking = language(request).code
    rows: list[dict[str, Any]] = await call(
        request, "enrolment", "GET", f"/v1/trainees/{_segment(me['id'])}/compliance"
    )
    codes = sorted({row["requirement_code"] for row in rows})
    found = await _each(
        _optional(request, "curriculum", f"/v1/requirements/{_segment(code)}") for code in codes
    )
    requirements = {code: requirement for code, requirement in zip(codes, found, strict=True)}
    track_codes = sorted(
        {r["track_code"] for r in requirements.values() if r}
        | {
            r["refresher_track_code"]
            for r in requirements.values()
            if r and r.get("refresher_track_code")
        }
    )
    tracks = dict(
        zip(
            track_codes,
            await _each(
                _optional(request, "curriculum", f"/v1/tracks/{_segment(code)}")
                for code in track_codes
            ),
            strict=True,
        )
    )
    items = []
    for row in rows:
        requirement = requirements.get(row["requirement_code"]) or {}
        track_code = requirement.get("track_code")
        track = tracks.get(track_code) or {}
        # Someone who held the requirement renews it with the shorter refresher, if it has one.
        refresher_code = requirement.get("refresher_track_code")
        refresher = tracks.get(refresher_code) or {}
        items.append(
            {
                **row,
                "label": COMPLIANCE_LABELS.get(row["status"], row["status"]),
                "title": localised(requirement.get("title"), speaking) or row["requirement_code"],
                "track_code": track_code,
                "track_title": localised(track.get("title"), speaking) or track_code,
                "refresher_title": (
                    localised(refresher.get("title"), speaking) or refresher_code
                    if refresher_code
                    else None
                ),
            }
        )
    items.sort(
        key=lambda item: (
            URGENCY.index(item["status"]) if item["status"] in URGENCY else len(URGENCY),
            item["due_on"] or "9999-12-31",
            item["title"],
        )
    )
    return render(request, "trainee/trainings.html", me=me, items=items)


# --- my cohorts and results ------------------------------------------------------------------


@router.get("/me/cohorts")
async def my_cohorts(
    request: Request, offset: Offset = 0, user: User = for_roles(Role.TRAINEE)
) -> Response:
    """My enrolments, newest first, each with my latest result in every module."""
    me = await _my_record(request)
    if isinstance(me, Response):
        return me
    speaking = language(request).code
    page: dict[str, Any] = await call(
        request,
        "enrolment",
        "GET",
        f"/v1/trainees/{_segment(me['id'])}/enrolments",
        params={"limit": PAGE_SIZE, "offset": offset},
    )
    enrolments: list[dict[str, Any]] = page["items"]
    histories = await _each(
        every_item(request, "enrolment", f"/v1/enrolments/{_segment(e['id'])}/results")
        for e in enrolments
    )
    cohorts = await _cohorts(request, enrolments)
    certificates = await _certificates_by_enrolment(request)
    # The training each enrolment is for: from its cohort, else from its certificate.
    trainings: list[tuple[str, str, int] | None] = []
    for enrolment, cohort in zip(enrolments, cohorts, strict=True):
        certificate = certificates.get(enrolment["id"])
        if cohort and cohort.get("track_code") and cohort.get("track_version"):
            trainings.append(("tracks", cohort["track_code"], cohort["track_version"]))
        elif cohort and cohort.get("module_code") and cohort.get("module_version"):
            trainings.append(("modules", cohort["module_code"], cohort["module_version"]))
        elif certificate:
            kind = "tracks" if certificate["award"] == "track" else "modules"
            trainings.append((kind, certificate["track_code"], certificate["track_version"]))
        else:
            trainings.append(None)
    versions = await _versions(
        request,
        {t for t in trainings if t}
        | {
            ("modules", result["module_code"], result["module_version"])
            for history in histories
            for result in history
        },
    )
    items = []
    for enrolment, history, cohort, training in zip(
        enrolments, histories, cohorts, trainings, strict=True
    ):
        track = versions.get(training) if training else None
        planned: list[tuple[str, int | None]] = []
        if training and training[0] == "tracks" and track:
            planned = [(m["code"], m.get("version")) for m in track.get("modules", [])]
        elif training and training[0] == "modules":
            planned = [(training[1], training[2])]
        items.append(
            {
                **enrolment,
                "label": ENROLMENT_LABELS.get(enrolment["status"], enrolment["status"]),
                "reason": WITHDRAWAL_REASONS.get(enrolment.get("withdrawal_reason") or ""),
                "cohort": cohort,
                "training": (
                    localised((track or {}).get("title"), speaking) or training[1]
                    if training
                    else None
                ),
                "certificate": certificates.get(enrolment["id"]),
                "modules": _module_rows(history, planned, versions, speaking),
            }
        )
    return render(request, "trainee/cohorts.html", me=me, items=items, page=page)


async def _cohorts(
    request: Request, enrolments: list[dict[str, Any]]
) -> list[dict[str, Any] | None]:
    """Each enrolment's cohort as far as a trainee may read it: enrolment gives it with the
    trainee's own enrolments (title, training, dates, place); a trainee may not read the
    cohort itself (403), so one refusal is taken as the answer for all."""
    cohorts: list[dict[str, Any] | None] = []
    readable = True
    for enrolment in enrolments:
        cohort = enrolment.get("cohort")
        if cohort is None and readable:
            try:
                cohort = await call(
                    request, "enrolment", "GET", f"/v1/cohorts/{_segment(enrolment['cohort_id'])}"
                )
            except ServiceError as error:
                if error.status == 401:
                    raise
                readable = error.status != 403
                cohort = None
        cohorts.append(cohort)
    return cohorts


async def _certificates_by_enrolment(request: Request) -> dict[str, dict[str, Any]]:
    listed = await _optional(request, "certification", "/v1/certificates", params={"limit": 500})
    certificates: dict[str, dict[str, Any]] = {}
    for certificate in (listed or {}).get("items", []):
        # Newest first: a correction (the current one) wins over what it replaced.
        certificates.setdefault(certificate["enrolment_id"], certificate)
    return certificates


async def _versions(
    request: Request, wanted: set[tuple[str, str, int]]
) -> dict[tuple[str, str, int], dict[str, Any] | None]:
    keys = sorted(wanted)
    found = await _each(
        _optional(request, "curriculum", f"/v1/{kind}/{_segment(code)}/versions/{version}")
        for kind, code, version in keys
    )
    return dict(zip(keys, found, strict=True))


def _module_rows(
    history: list[dict[str, Any]],
    planned: list[tuple[str, int | None]],
    versions: dict[tuple[str, str, int], dict[str, Any] | None],
    speaking: str,
) -> list[dict[str, Any]]:
    """One row per module: the latest entry (a correction or a re-sit replaces the earlier
    ones; the history is oldest first), and the track's modules without a result yet."""
    latest: dict[str, dict[str, Any]] = {}
    for entry in history:
        latest[entry["module_code"]] = entry
    pinned = dict(planned)
    order = [code for code, _ in planned] + [c for c in latest if c not in pinned]
    rows = []
    for code in order:
        result = latest.get(code)
        version = result["module_version"] if result else pinned.get(code)
        module = versions.get(("modules", code, version)) if version else None
        assessment = (module or {}).get("assessment") or {}
        rows.append(
            {
                "code": code,
                "title": localised((module or {}).get("title"), speaking) or code,
                "result": result,
                "pass_mark": assessment.get("pass_mark")
                if assessment.get("kind") not in (None, "none")
                else None,
                "min_attendance": (module or {}).get("min_attendance_pct"),
            }
        )
    return rows


# --- my certificates -------------------------------------------------------------------------


@router.get("/me/certificates")
async def my_certificates(
    request: Request, offset: Offset = 0, user: User = for_roles(Role.TRAINEE)
) -> Response:
    """My certificates with their downloads and what to share."""
    me = await _my_record(request)
    if isinstance(me, Response):
        return me
    speaking = language(request)
    page: dict[str, Any] = await call(
        request,
        "certification",
        "GET",
        "/v1/certificates",
        params={"limit": PAGE_SIZE, "offset": offset},
    )
    certificates: list[dict[str, Any]] = page["items"]
    versions = await _versions(
        request,
        {
            ("tracks" if c["award"] == "track" else "modules", c["track_code"], c["track_version"])
            for c in certificates
        },
    )
    public = request.app.state.settings.public_url.rstrip("/")
    items = []
    for certificate in certificates:
        kind = "tracks" if certificate["award"] == "track" else "modules"
        version = versions.get((kind, certificate["track_code"], certificate["track_version"]))
        texts = (version or {}).get("certificate_title" if kind == "tracks" else "title")
        link = f"{public}/verify/{_segment(certificate['verification_code'])}"
        qr_label = speaking.gettext(
            "QR code: opens the verification page of certificate %(number)s"
        ) % {"number": certificate["number"]}
        items.append(
            {
                **certificate,
                "title": localised(texts, speaking.code) or certificate["track_code"],
                "label": CERTIFICATE_LABELS.get(certificate["status"], certificate["status"]),
                "link": link,
                "qr": qr_svg(link, qr_label),
                "pdf_language": printed_in(certificate, speaking.code),
            }
        )
    return render(
        request,
        "trainee/certificates.html",
        me=me,
        items=items,
        page=page,
    )


def printed_in(certificate: dict[str, Any], code: str) -> str:
    """The language the certificate's PDF comes in for a page in `code`: the page's (or its
    fallback) when the track has a text in it, else the certificate's own (certification
    prints no labels over a title in another language)."""
    asked = pdf_language(code)
    return asked if asked in certificate.get("pdf_languages", ()) else certificate["language"]


def pdf_language(code: str) -> str:
    for candidate in (code, *FALLBACKS.get(code, ())):
        if candidate in PDF_LANGUAGES:
            return candidate
    return "en"


def qr_svg(link: str, label: str) -> Markup:
    """The link as a QR code, inline SVG drawn here (no image request, works offline)."""
    svg = segno.make(link, error="m").svg_inline(
        scale=4,
        border=3,
        dark="#000",
        light="#fff",
        svgclass="qr-code",
        lineclass=None,
        omitsize=True,
    )
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1))


def _not_found(request: Request) -> Response:
    return render(request, "not_found.html", status=404)


@router.get("/me/certificates/{certificate_id}.pdf")
async def certificate_pdf(
    request: Request, certificate_id: str, user: User = for_roles(Role.TRAINEE)
) -> Response:
    """My certificate as PDF in the page's language, fetched with my own token."""
    backend: Backend = request.app.state.backend
    speaking = language(request).code
    try:
        upstream = await backend.request(
            "certification",
            "GET",
            f"/v1/certificates/{_segment(certificate_id)}.pdf",
            token=user.access_token,
            lang=speaking,
            params={"lang": pdf_language(speaking)},
        )
    except ServiceError as error:
        # Someone else's certificate is 404 at certification, never 403: the same here.
        if error.status in (404, 422):
            return _not_found(request)
        return error_page(request, error)
    disposition = upstream.headers.get("content-disposition", "")
    filename = _filename(disposition, "certificate") + ".pdf"
    return Response(
        upstream.content,
        media_type="application/pdf",
        headers=_download_headers(filename),
    )


@router.get("/me/certificates/{certificate_id}/credential.jwt")
async def certificate_credential(
    request: Request, certificate_id: str, user: User = for_roles(Role.TRAINEE)
) -> Response:
    """My certificate's signed Open Badges 3.0 credential (VC-JWT) as a file."""
    backend: Backend = request.app.state.backend
    speaking = language(request)
    path = f"/v1/certificates/{_segment(certificate_id)}"
    try:
        certificate: dict[str, Any] = await call(request, "certification", "GET", path)
        upstream = await backend.request(
            "certification",
            "GET",
            f"{path}/credential",
            token=user.access_token,
            lang=speaking.code,
            headers={"Accept": "application/vc+jwt"},
        )
    except ServiceError as error:
        if error.status in (404, 422):
            return _not_found(request)
        if error.status == 409:
            message = speaking.gettext(
                "This certificate is no longer valid, so no signed credential is issued for it."
            )
            return error_page(request, ServiceError(409, message))
        return error_page(request, error)
    filename = _filename(f'filename="{certificate["number"]}"', "certificate") + ".jwt"
    return Response(
        upstream.content,
        media_type="application/vc+jwt",
        headers=_download_headers(filename),
    )


def _filename(disposition: str, default: str) -> str:
    """The certificate number from certification's Content-Disposition, made a safe name."""
    found = re.search(r'filename="([^"]+)"', disposition)
    stem = (found.group(1) if found else default).removesuffix(".pdf")
    return re.sub(r"[^A-Za-z0-9._-]", "_", stem) or default


def _download_headers(filename: str) -> dict[str, str]:
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        # Personal data: kept by neither shared caches nor the browser's cache.
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    }
