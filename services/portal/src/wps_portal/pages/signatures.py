"""The certificate's signatories and seal, as an academy admin sets them: the current set with
its images, and a form that uploads new images to certification, then saves the next set."""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from wps_portal.backend import Backend, ServiceError
from wps_portal.pages.academy import STAFF, text
from wps_portal.pages.scope import Clock, Scope, required_scope
from wps_portal.web import User, call, checked_form, flash, for_roles, language, redirect, render

router = APIRouter(prefix="/academy", include_in_schema=False)
ROWS = 3  # certification's most signatories a certificate prints
IMAGE_TYPES = ("image/png", "image/jpeg")
# Certification refuses images over 512 KiB with its own sentence (413); the portal forwards
# anything up to this many bytes so that the sentence is the service's, and stops beyond it.
FORWARD_LIMIT = 4 * 1024 * 1024
IMAGE_ID = re.compile(r"[0-9a-f]{64}")


@dataclass
class Row:
    """One signatory as the form shows it: what is typed, and the image it keeps or got."""

    name: str = ""
    title: str = ""
    image_id: str | None = None
    error: str | None = None


@dataclass
class Draft:
    rows: list[Row]
    seal_image_id: str | None = None
    seal_error: str | None = None
    problems: list[str] = field(default_factory=list)


def _path(scope: Scope) -> str:
    return f"/v1/certificate-signatures/{quote(scope.id, safe='')}"


def _image_id(value: Any) -> str | None:
    return value if isinstance(value, str) and IMAGE_ID.fullmatch(value) else None


@router.get("/signatures")
async def signatures_page(request: Request, user: User = for_roles(*STAFF)) -> Response:
    """Who signs the academy's certificates, with their images and the seal; and the form."""
    scope = await required_scope(request, user)
    current = await call(request, "certification", "GET", _path(scope))
    rows = [
        Row(s["name"], s.get("title") or "", _image_id(s.get("signature_image_id")))
        for s in current["signatories"]
    ]
    draft = Draft(rows + [Row() for _ in range(ROWS - len(rows))], current.get("seal_image_id"))
    return _page(request, scope, current, draft)


@router.post("/signatures")
async def save_signatures(request: Request, user: User = for_roles(*STAFF)) -> Response:
    """Upload each newly chosen image, then save the signatories and seal as the next set."""
    form = await checked_form(request)
    scope = await required_scope(request, user)
    speaking = language(request)
    _ = speaking.gettext
    draft = Draft(
        [
            Row(
                text(form, f"name-{n}", 200),
                text(form, f"title-{n}", 200),
                None if form.get(f"remove-{n}") else _image_id(form.get(f"image_id-{n}")),
            )
            for n in range(1, ROWS + 1)
        ],
        None if form.get("remove-seal") else _image_id(form.get("seal_image_id")),
    )
    status = 200
    for n, row in enumerate(draft.rows, 1):
        if not row.name:  # dropped: its file is not worth storing
            continue
        try:
            row.image_id = await _uploaded(request, scope, form, f"image-{n}") or row.image_id
        except ServiceError as error:
            if error.status in (401, 403):
                raise
            row.error = error.detail
            draft.problems.append(
                _("Signature image of signatory %(number)s: %(problem)s")
                % {"number": n, "problem": error.detail}
            )
            status = max(status, error.status)
    try:
        draft.seal_image_id = await _uploaded(request, scope, form, "seal") or draft.seal_image_id
    except ServiceError as error:
        if error.status in (401, 403):
            raise
        draft.seal_error = error.detail
        draft.problems.append(_("Seal image: %(problem)s") % {"problem": error.detail})
        status = max(status, error.status)
    if draft.problems:
        return await _again(request, scope, draft, status)
    body = {
        "signatories": [
            {"name": r.name, "title": r.title, "signature_image_id": r.image_id}
            for r in draft.rows
            if r.name
        ],
        "seal_image_id": draft.seal_image_id,
    }
    try:
        await call(request, "certification", "PUT", _path(scope), json=body)
    except ServiceError as error:
        if error.status >= 500 or error.status in (401, 403, 404):
            raise
        draft.problems = [error.detail]
        return await _again(request, scope, draft, error.status)
    flash(request, _("The signatures are saved. Certificates issued from now on carry them."))
    carried = f"?academy={quote(scope.id)}" if scope.choices else ""
    return redirect(f"/academy/signatures{carried}")


async def _uploaded(request: Request, scope: Scope, form: FormData, name: str) -> str | None:
    """The id certification gives the chosen file (None when none was chosen); the service's
    sentence as a ServiceError when it refuses it."""
    upload = form.get(name)
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    content = await upload.read(FORWARD_LIMIT + 1)
    _ = language(request).gettext
    if len(content) > FORWARD_LIMIT:
        raise ServiceError(413, _("The file is too large: at most 512 KB can be uploaded."))
    if not content:
        raise ServiceError(422, _("The file is empty."))
    media_type = (upload.content_type or "").split(";")[0].strip().lower()
    if media_type not in IMAGE_TYPES:
        # Some browsers send a PNG as application/octet-stream: go by its name then.
        media_type = mimetypes.guess_type(upload.filename)[0] or media_type
    stored = await call(
        request,
        "certification",
        "POST",
        f"/v1/certificate-images/{quote(scope.id, safe='')}",
        content=content,
        headers={"Content-Type": media_type or "application/octet-stream"},
    )
    return str(stored["id"])


async def _again(request: Request, scope: Scope, draft: Draft, status: int) -> Response:
    """The form as it was sent, with what went wrong; images that did upload are kept."""
    current = await call(request, "certification", "GET", _path(scope))
    return _page(request, scope, current, draft, status=status)


def _page(
    request: Request,
    scope: Scope,
    current: dict[str, Any],
    draft: Draft,
    *,
    status: int = 200,
) -> Response:
    return render(
        request,
        "academy/signatures.html",
        status=status,
        scope=scope,
        current=current,
        draft=draft,
        changed=Clock.of(scope.academy).moment(current.get("updated_at")),
        image_base=f"/academy/signatures/{quote(scope.id, safe='')}/images/",
        carried=f"?academy={quote(scope.id)}" if scope.choices else "",
    )


@router.get("/signatures/{academy_id}/images/{image_id}")
async def signature_image(
    request: Request, academy_id: str, image_id: str, user: User = for_roles(*STAFF)
) -> Response:
    """An uploaded signature or seal image (PNG), for the page's previews; certification
    decides who may see it (the academy's admins, and admins)."""
    if not IMAGE_ID.fullmatch(image_id) or len(academy_id) > 36:
        raise HTTPException(status_code=404)
    backend: Backend = request.app.state.backend
    try:
        upstream = await backend.request(
            "certification",
            "GET",
            f"/v1/certificate-images/{quote(academy_id, safe='')}/{image_id}",
            token=user.access_token,
        )
    except ServiceError as error:
        if error.status in (403, 404, 422):
            raise HTTPException(status_code=404) from None
        raise
    return Response(
        upstream.content,
        media_type="image/png",
        # The id is the image's hash: the same address never shows another image.
        headers={
            "Cache-Control": "private, max-age=86400, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )
