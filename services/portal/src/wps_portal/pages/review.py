"""Curriculum review pages: the reviewers' queue of submitted module and track versions, one
version side by side with the previous published one (with the review discussion, the audit
trail and the decision), and the authors' own drafts on their way to publication. Every fact
comes from the curriculum API; fields are read defensively, so an API that adds fields keeps
these pages working."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from wps_common.auth import Role
from wps_portal.backend import ServiceError
from wps_portal.i18n import N_, NAMES, Language, in_language
from wps_portal.web import (
    User,
    call,
    checked_form,
    every_item,
    flash,
    for_roles,
    language,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)

KINDS = {"modules": "module", "tracks": "track"}
CODE = re.compile(r"^[A-Z]{2,6}-[A-Z0-9]{2,8}$")
MAX_VERSION = 2**31 - 1
LIST_LIMIT = 500  # the service's largest page: a review queue never gets near it
OPEN_STATUSES = ("draft", "in_review", "approved")
ACTIONS = ("submit", "approve", "reject", "publish")

# The service's statuses as people name them; a draft sent back by a reviewer is "rejected".
STATUS_LABELS = {
    "draft": N_("Draft"),
    "rejected": N_("Rejected"),
    "submitted": N_("Submitted"),
    "approved": N_("Approved"),
    "published": N_("Published"),
    "retired": N_("Retired"),
}
SHOWN_STATUS = {"in_review": "submitted"}
STEPS = ("draft", "submitted", "approved", "published")

HISTORY_ACTIONS = {
    "created": N_("Created"),
    "updated": N_("Edited"),
    "submitted": N_("Submitted for review"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "published": N_("Published"),
    "retired": N_("Retired"),
    "commented": N_("Commented"),
}
TRANSITION_ACTIONS = ("submitted", "approved", "rejected", "published", "retired")

DONE = {
    "submit": N_("Submitted for review. A reviewer will look at it."),
    "approve": N_("Approved. The author can now publish it."),
    "reject": N_("Sent back to the author with your comment."),
    "publish": N_("Published."),
}

KIND_LABELS = {"module": N_("Module"), "track": N_("Track")}
DELIVERY_MODES = {
    "classroom": N_("Classroom"),
    "e-learning": N_("E-learning"),
    "blended": N_("Blended"),
    "field-exercise": N_("Field exercise"),
}
ASSESSMENTS = {"none": N_("No assessment"), "quiz": N_("Quiz"), "practical": N_("Practical")}

# (path in the content, label, how to show it) in the order a reader checks them.
MODULE_FIELDS = (
    ("title", N_("Title"), "texts"),
    ("summary", N_("Summary"), "texts"),
    ("objectives", N_("Learning objectives"), "lists"),
    ("duration_hours", N_("Duration, hours"), "number"),
    ("delivery_mode", N_("Delivery"), "delivery"),
    ("assessment.kind", N_("Assessment"), "assessment"),
    ("assessment.pass_mark", N_("Pass mark"), "percent"),
    ("min_attendance_pct", N_("Minimum attendance"), "percent"),
    ("prerequisites", N_("Prerequisites"), "list"),
    ("references", N_("References"), "list"),
    ("tags", N_("Tags"), "list"),
    ("grants_certificate", N_("Grants a certificate"), "yes_no"),
)
TRACK_FIELDS = (
    ("title", N_("Title"), "texts"),
    ("certificate_title", N_("Certificate title"), "texts"),
    ("description", N_("Description"), "texts"),
    ("modules", N_("Modules"), "modules"),
    ("validity_months", N_("Certificate validity, months"), "validity"),
    ("target_roles", N_("Target roles"), "list"),
)
META_KEYS = {
    "code",
    "owner_academy",
    "version",
    "status",
    "content_hash",
    "author",
    "author_name",
    "languages",
    "created_at",
    "updated_at",
    "submitted_at",
    "approved_at",
    "approved_by",
    "published_at",
    "retired_at",
    "language",
    "fallback_languages",
}


# --- reading texts and statuses ------------------------------------------------------------------


def shown_status(version: dict[str, Any], rejection: dict[str, Any] | None = None) -> str:
    status = str(version.get("status") or "draft")
    if status == "draft" and rejection is not None:
        return "rejected"
    return SHOWN_STATUS.get(status, status)


def last_rejection(entries: list[dict[str, Any]], version: int) -> dict[str, Any] | None:
    """The rejection a draft is answering, if its latest move was being sent back."""
    moves = [
        e for e in entries if e.get("version") == version and e.get("action") in TRANSITION_ACTIONS
    ]
    if moves and moves[-1].get("action") == "rejected":
        return moves[-1]
    return None


def author_name(version: dict[str, Any], entries: list[dict[str, Any]]) -> str:
    """Who wrote the version, by name when the API or the audit trail gives it."""
    if version.get("author_name"):
        return str(version["author_name"])
    author = str(version.get("author") or "")
    for entry in entries:
        if entry.get("action") == "created" and entry.get("version") == version.get("version"):
            return str(entry.get("actor_name") or entry.get("actor") or author)
    return author


def _date_part(value: Any) -> str | None:
    return str(value)[:10] if value else None


def _item(kind: str, version: dict[str, Any], lang: str) -> dict[str, Any]:
    title, title_lang = in_language(version.get("title"), lang)
    plural = "modules" if kind == "module" else "tracks"
    return {
        "kind": kind,
        "kind_label": KIND_LABELS[kind],
        "code": str(version.get("code", "")),
        "version": version.get("version"),
        "title": title or str(version.get("code", "")),
        "title_lang": title_lang if title_lang != lang else None,
        "href": f"/review/{plural}/{version.get('code')}/versions/{version.get('version')}",
        "raw": version,
    }


async def _versions(
    request: Request, plural: str, statuses: tuple[str, ...], owner: str | None = None
) -> tuple[list[dict[str, Any]], int]:
    params: dict[str, Any] = {"status": list(statuses), "limit": LIST_LIMIT, "sort": "created_at"}
    if owner:
        params["owner"] = owner
    page = await call(request, "curriculum", "GET", f"/v1/{plural}", params=params)
    items = [v for v in (page or {}).get("items", []) if isinstance(v, dict)]
    return items, int((page or {}).get("total", len(items)))


async def _trail(request: Request, plural: str, code: str, version: Any) -> list[dict[str, Any]]:
    """The audit trail of one version; empty when the service will not give it."""
    try:
        page = await call(
            request,
            "curriculum",
            "GET",
            f"/v1/{plural}/{code}/history",
            params={"version": version, "limit": 500},
        )
    except ServiceError as error:
        if error.status >= 500 or error.status == 401:
            raise
        return []
    return [e for e in (page or {}).get("items", []) if isinstance(e, dict)]


async def _gather(calls: list[Awaitable[Any]]) -> list[Any]:
    return list(await asyncio.gather(*calls))


# --- the queue -----------------------------------------------------------------------------------


@router.get("/review")
async def queue(
    request: Request, user: User = for_roles(Role.REVIEWER, Role.ADMIN, Role.ACADEMY_ADMIN)
) -> Response:
    """Every submitted module and track version, oldest first."""
    if not user.has(Role.REVIEWER, Role.ADMIN):
        # The header's "Curriculum review" link leads academy admins here: their side of
        # review is their drafts.
        return redirect("/review/drafts")
    lang = language(request).code
    (modules, module_total), (tracks, track_total) = await _gather(
        [
            _versions(request, "modules", ("in_review",)),
            _versions(request, "tracks", ("in_review",)),
        ]
    )
    items = [_item("module", v, lang) for v in modules] + [_item("track", v, lang) for v in tracks]
    items.sort(key=lambda i: (str(i["raw"].get("submitted_at") or "~"), i["code"]))
    trails = await _gather(
        [
            _trail(
                request, "modules" if i["kind"] == "module" else "tracks", i["code"], i["version"]
            )
            for i in items
        ]
    )
    for item, trail in zip(items, trails, strict=True):
        item["author"] = author_name(item["raw"], trail)
        item["submitted_on"] = _date_part(item["raw"].get("submitted_at"))
    more = module_total + track_total - len(items)
    return render(request, "review/queue.html", items=items, more=max(more, 0))


# --- the author's drafts -------------------------------------------------------------------------


@router.get("/review/drafts")
async def drafts(
    request: Request, user: User = for_roles(Role.ACADEMY_ADMIN, Role.ADMIN)
) -> Response:
    """Versions on their way to publication that this person may take further."""
    lang = language(request).code
    # An academy admin's are their academy's; platform admins change every one.
    owner = None if user.has(Role.ADMIN) else user.academy
    (modules, module_total), (tracks, track_total) = await _gather(
        [
            _versions(request, "modules", OPEN_STATUSES, owner),
            _versions(request, "tracks", OPEN_STATUSES, owner),
        ]
    )
    items = [_item("module", v, lang) for v in modules] + [_item("track", v, lang) for v in tracks]
    trails = await _gather(
        [
            _trail(
                request, "modules" if i["kind"] == "module" else "tracks", i["code"], i["version"]
            )
            for i in items
        ]
    )
    for item, trail in zip(items, trails, strict=True):
        raw = item["raw"]
        rejection = (
            last_rejection(trail, raw.get("version")) if raw.get("status") == "draft" else None
        )
        item["status"] = shown_status(raw, rejection)
        item["rejection"] = rejection
        item["mine"] = raw.get("author") == user.subject
        since = {
            "rejected": (rejection or {}).get("at"),
            "submitted": raw.get("submitted_at"),
            "approved": raw.get("approved_at"),
        }.get(item["status"])
        item["changed_on"] = _date_part(since or raw.get("updated_at") or raw.get("created_at"))
    order = {"rejected": 0, "draft": 1, "approved": 2, "submitted": 3}
    items.sort(key=lambda i: (order.get(i["status"], 9), i["code"]))
    more = module_total + track_total - len(items)
    return render(
        request,
        "review/drafts.html",
        items=items,
        more=max(more, 0),
        labels=STATUS_LABELS,
    )


# --- one version ---------------------------------------------------------------------------------


def _checked_path(kind: str, code: str, version: str) -> tuple[str, int] | None:
    if kind not in KINDS or not CODE.fullmatch(code) or not version.isdigit():
        return None
    number = int(version)
    if not 1 <= number <= MAX_VERSION:
        return None
    return KINDS[kind], number


def _not_found(request: Request) -> Response:
    return render(request, "not_found.html", status=404)


@router.get("/review/{kind}/{code}/versions/{version}")
async def version_page(
    request: Request,
    kind: str,
    code: str,
    version: str,
    user: User = for_roles(Role.REVIEWER, Role.ADMIN, Role.ACADEMY_ADMIN),
) -> Response:
    """One version beside the previous published one, its discussion and what can be done."""
    checked = _checked_path(kind, code, version)
    if checked is None:
        return _not_found(request)
    return await _show_version(request, user, kind, code, checked[1])


async def _show_version(
    request: Request,
    user: User,
    plural: str,
    code: str,
    number: int,
    *,
    status: int = 200,
    problem: ServiceError | None = None,
    typed: str = "",
    typed_for: str | None = None,
) -> Response:
    speaking = language(request)
    kind = KINDS[plural]
    base = f"/v1/{plural}/{code}"
    try:
        current, versions, trail = await _gather(
            [
                call(request, "curriculum", "GET", f"{base}/versions/{number}"),
                every_item(request, "curriculum", f"{base}/versions"),
                _trail(request, plural, code, number),
            ]
        )
    except ServiceError as error:
        if error.status == 404:
            return _not_found(request)
        raise
    previous = _previous_published(versions or [], number)
    changes: list[dict[str, Any]] | None = None
    if previous is not None:
        try:
            diff = await call(
                request,
                "curriculum",
                "GET",
                f"{base}/diff",
                params={"from": previous["version"], "to": number},
            )
            changes = [c for c in (diff or {}).get("changes", []) if isinstance(c, dict)]
        except ServiceError as error:
            if error.status >= 500 or error.status == 401:
                raise
            changes = None  # compared here instead
    rows = comparison(kind, previous, current, changes, speaking)
    rejection = last_rejection(trail, number) if current.get("status") == "draft" else None
    shown = shown_status(current, rejection)
    title, title_lang = in_language(current.get("title"), speaking.code)
    owner = current.get("owner_academy")
    is_owner = user.has(Role.ADMIN) or (
        user.has(Role.ACADEMY_ADMIN) and ("owner_academy" not in current or owner == user.academy)
    )
    raw_status = current.get("status")
    comments = [e for e in trail if e.get("comment")]
    field_errors = problem.field_errors() if problem is not None else {}
    return render(
        request,
        "review/version.html",
        status=status,
        kind=kind,
        plural=plural,
        kind_label=KIND_LABELS[kind],
        code=code,
        number=number,
        version=current,
        title=title or code,
        title_lang=title_lang if title_lang != speaking.code else None,
        status_name=shown,
        labels=STATUS_LABELS,
        steps=STEPS,
        step_index=STEPS.index(shown) if shown in STEPS else (0 if shown == "rejected" else None),
        previous=previous,
        rows=rows,
        changed=[r for r in rows if r["changed"]],
        author=author_name(current, trail),
        approver=_name_of(current.get("approved_by"), trail),
        owner=owner,
        trail=trail,
        comments=comments,
        actions_labels=HISTORY_ACTIONS,
        rejection=rejection,
        can_review=user.has(Role.REVIEWER) and raw_status in ("in_review", "approved"),
        can_approve=user.has(Role.REVIEWER) and raw_status == "in_review",
        can_submit=is_owner and raw_status == "draft",
        can_publish=is_owner and raw_status == "approved",
        can_comment=user.has(Role.REVIEWER) or is_owner,
        problem=problem,
        field_errors=field_errors,
        typed=typed,
        typed_for=typed_for,
        back="/review" if user.has(Role.REVIEWER, Role.ADMIN) else "/review/drafts",
    )


def _name_of(subject: Any, trail: list[dict[str, Any]]) -> str | None:
    if not subject:
        return None
    for entry in trail:
        if entry.get("actor") == subject and entry.get("actor_name"):
            return str(entry["actor_name"])
    return str(subject)


def _previous_published(versions: list[Any], number: int) -> dict[str, Any] | None:
    """The newest version before this one that was published (it may be retired since)."""
    earlier = [
        v
        for v in versions
        if isinstance(v, dict)
        and isinstance(v.get("version"), int)
        and v["version"] < number
        and (v.get("published_at") or v.get("status") in ("published", "retired"))
    ]
    return max(earlier, key=lambda v: v["version"]) if earlier else None


# --- the comparison ------------------------------------------------------------------------------


def _at(content: dict[str, Any] | None, path: str) -> Any:
    value: Any = content
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _touches(path: str, changed: set[str]) -> bool:
    return any(c == path or c.startswith(path + ".") or path.startswith(c + ".") for c in changed)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def comparison(
    kind: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    changes: list[dict[str, Any]] | None,
    speaking: Language,
) -> list[dict[str, Any]]:
    """Rows of (field, language) with both sides shown as text or lists, and whether it
    changed: by the service's diff when it answered, else by comparing the two versions."""
    _ = speaking.gettext
    changed = {str(c.get("field", "")) for c in changes or []}
    rows: list[dict[str, Any]] = []
    covered: list[str] = []

    def add(path: str, label: str, old: Any, new: Any, how: str, lang: str | None = None) -> None:
        if before is None:
            is_changed = False
        elif changes is not None:
            is_changed = _touches(path, changed)
        else:
            is_changed = old != new and not (_empty(old) and _empty(new))
        rows.append(
            {
                "id": "f-" + re.sub(r"[^a-z0-9]+", "-", path.lower()),
                "path": path,
                "label": _(label),
                "lang": lang,
                "lang_name": _language_name(lang),
                "old": _shown(old, how, speaking) if before is not None else None,
                "new": _shown(new, how, speaking),
                "changed": is_changed,
            }
        )

    for path, label, how in MODULE_FIELDS if kind == "module" else TRACK_FIELDS:
        covered.append(path)
        old, new = _at(before, path), _at(after, path)
        if how in ("texts", "lists"):
            old_map = old if isinstance(old, dict) else {}
            new_map = new if isinstance(new, dict) else {}
            languages = _ordered_languages({*old_map, *new_map})
            if not languages:
                add(path, label, None, None, "text")
            for lang in languages:
                add(
                    f"{path}.{lang}",
                    label,
                    old_map.get(lang),
                    new_map.get(lang),
                    "text" if how == "texts" else "list",
                    lang,
                )
        else:
            add(path, label, old, new, how)
    # Whatever else the service changed or added (a field this page does not know yet).
    known = {k for k in (before or {})} | {k for k in after}
    for key in sorted(known - META_KEYS - {p.split(".")[0] for p in covered}):
        add(key, key, _at(before, key), _at(after, key), "raw")
    for path in sorted(changed):
        if not any(_touches(path, {c}) for c in covered) and path.split(".")[0] not in known:
            add(path, path, _at(before, path), _at(after, path), "raw")
    return rows


def _ordered_languages(languages: set[str]) -> list[str]:
    first = [code for code in ("en", "ru", "kk") if code in languages]
    return first + sorted(languages - set(first))


def _language_name(code: str | None) -> str | None:
    if code is None:
        return None
    return NAMES.get(code, code)


def _shown(value: Any, how: str, speaking: Language) -> dict[str, Any]:
    """A value as the template shows it: its kind (text, list or empty) and its text or values."""
    _ = speaking.gettext
    if _empty(value):
        if how == "yes_no":
            return {"kind": "text", "text": _("No")}
        if how == "validity" and value is None:
            return {"kind": "text", "text": _("Does not expire")}
        return {"kind": "empty"}
    if how == "list":
        items = value if isinstance(value, list) else [value]
        return {"kind": "list", "values": [str(i) for i in items]}
    if how == "modules":
        items = value if isinstance(value, list) else [value]
        shown = []
        for module in items:
            if isinstance(module, dict):
                shown.append(
                    _("%(code)s, version %(version)s")
                    % {"code": module.get("code", ""), "version": module.get("version", "")}
                )
            else:
                shown.append(str(module))
        return {"kind": "list", "values": shown}
    if how == "number" and isinstance(value, int | float):
        return {"kind": "text", "text": speaking.number(value)}
    if how == "percent" and isinstance(value, int | float):
        return {"kind": "text", "text": speaking.percent(value / 100)}
    if how == "validity" and isinstance(value, int):
        return {"kind": "text", "text": speaking.number(value)}
    if how == "yes_no":
        return {"kind": "text", "text": _("Yes") if value else _("No")}
    if how in ("delivery", "assessment"):
        names = DELIVERY_MODES if how == "delivery" else ASSESSMENTS
        return {"kind": "text", "text": _(names[value]) if value in names else str(value)}
    if isinstance(value, list):
        return {"kind": "list", "values": [str(i) for i in value]}
    if isinstance(value, dict):
        return {"kind": "list", "values": [f"{k}: {v}" for k, v in value.items()]}
    return {"kind": "text", "text": str(value)}


# --- acting on a version -------------------------------------------------------------------------


@router.post("/review/{kind}/{code}/versions/{version}/comments")
async def add_comment(
    request: Request,
    kind: str,
    code: str,
    version: str,
    user: User = for_roles(Role.REVIEWER, Role.ADMIN, Role.ACADEMY_ADMIN),
) -> Response:
    form = await checked_form(request)
    checked = _checked_path(kind, code, version)
    if checked is None:
        return _not_found(request)
    comment = str(form.get("comment", ""))
    path = f"/review/{kind}/{code}/versions/{checked[1]}"
    try:
        await call(
            request,
            "curriculum",
            "POST",
            f"/v1/{kind}/{code}/versions/{checked[1]}/comments",
            json={"comment": comment},
        )
    except ServiceError as error:
        if error.status == 404:
            return _not_found(request)
        if error.status >= 500 or error.status == 401:
            raise
        return await _show_version(
            request,
            user,
            kind,
            code,
            checked[1],
            status=error.status,
            problem=error,
            typed=comment,
            typed_for="comments",
        )
    flash(request, language(request).gettext(N_("Your comment was added.")))
    return redirect(path + "#discussion")


@router.post("/review/{kind}/{code}/versions/{version}/{action}")
async def act(
    request: Request,
    kind: str,
    code: str,
    version: str,
    action: str,
    user: User = for_roles(Role.REVIEWER, Role.ADMIN, Role.ACADEMY_ADMIN),
) -> Response:
    """Submit, approve, reject or publish: the service decides who may, and says why not."""
    form = await checked_form(request)
    checked = _checked_path(kind, code, version)
    if checked is None or action not in ACTIONS:
        return _not_found(request)
    number = checked[1]
    comment = str(form.get("comment", "")).strip()
    body = {"comment": comment} if action in ("approve", "reject") and comment else None
    if action == "reject" and not comment:
        body = {"comment": ""}  # the service says what a rejection needs
    try:
        await call(
            request,
            "curriculum",
            "POST",
            f"/v1/{kind}/{code}/versions/{number}/{action}",
            json=body,
        )
    except ServiceError as error:
        if error.status == 404:
            return _not_found(request)
        if error.status >= 500 or error.status == 401:
            raise
        return await _show_version(
            request,
            user,
            kind,
            code,
            number,
            status=error.status,
            problem=error,
            typed=comment,
            typed_for="decision",
        )
    flash(request, language(request).gettext(DONE[action]))
    return redirect(f"/review/{kind}/{code}/versions/{number}")
