"""Academy oversight: the compliance dashboard and its CSV/XLSX exports, gender-disaggregated
reports with their withheld small cells, and the academy's certificates (revoke, reissue)."""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from wps_common.auth import Role
from wps_common.fields import spreadsheet_safe
from wps_portal.backend import Backend, ServiceError
from wps_portal.i18n import N_, localised
from wps_portal.pages.scope import required_scope
from wps_portal.web import User, call, checked_form, flash, for_roles, language, redirect, render

router = APIRouter(include_in_schema=False)

COMPLIANCE_STATUSES = {
    "compliant": N_("Compliant"),
    "due": N_("Due"),
    "overdue": N_("Overdue"),
    "expired": N_("Expired"),
    "exempt": N_("Exempt"),
}
CERTIFICATE_STATUSES = {
    "valid": N_("Valid"),
    "revoked": N_("Revoked"),
    "expired": N_("Expired"),
    "superseded": N_("Replaced"),
}
VIEWS = {
    "overdue": N_("Overdue"),
    "expiring": N_("Expiring within 30 days"),
    "all": N_("All records"),
}
EXPIRING_DAYS = 30
PAGE_SIZE = 50
API_PAGE = 500  # the services' largest page
PARALLEL_PAGES = 4
BREAKDOWN_CAP = 5_000  # rows read for the by-unit table (the summary has no units)
EXPIRING_CAP = 20_000
EXPORT_CAP = 100_000
MAX_OFFSET = 1_000_000

EXPORT_COLUMNS = (
    ("employee_number", N_("Employee number")),
    ("family_name", N_("Family name")),
    ("given_name", N_("Given name")),
    ("rank", N_("Rank")),
    ("unit", N_("Unit")),
    ("requirement_code", N_("Requirement code")),
    ("requirement_title", N_("Requirement")),
    ("status", N_("Status")),
    ("due_on", N_("Due by or valid until")),
    ("since", N_("Status since")),
    ("exemption_reason", N_("Reason for exemption")),
)

MEASURES = {
    "participation": {
        "title": N_("Participation"),
        "explanation": N_(
            "Of the active trainees, how many took part in a cohort (one starting in the "
            "period, if a period is chosen)."
        ),
        "count": N_("Took part"),
        "total": N_("Active trainees"),
    },
    "completion": {
        "title": N_("Completion"),
        "explanation": N_(
            "Of the places held in cohorts (starting in the period, if a period is chosen), "
            "how many were completed."
        ),
        "count": N_("Completed"),
        "total": N_("Places held"),
    },
    "compliance": {
        "title": N_("Compliance with mandatory training"),
        "explanation": N_(
            "Of the records of trainees against the requirements that apply to them, how many "
            "are compliant or exempt: today, or, when a period is chosen, at its end (everyone "
            "a requirement applied to during the period)."
        ),
        "count": N_("Compliant or exempt"),
        "total": N_("Records"),
    },
}
DIMENSIONS = {"gender": N_("Gender"), "rank": N_("Rank"), "unit": N_("Unit"), "track": N_("Track")}
ACROSS = {"rank": N_("Rank"), "unit": N_("Unit"), "gender": N_("Gender")}  # a cross table's columns
GROUP_NAMES = {
    "female": N_("Women"),
    "male": N_("Men"),
    "other": N_("Other"),
    "undisclosed": N_("Not disclosed"),
    "unspecified": N_("Not recorded"),
}

Overseer = for_roles(Role.ACADEMY_ADMIN, Role.ADMIN)


# --- what every page here shares ---------------------------------------------------------------


def _zone(academy: dict[str, Any]) -> ZoneInfo:
    try:
        return ZoneInfo(academy.get("time_zone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _today(academy: dict[str, Any]) -> date:
    """Today where the academy is: "within 30 days" is counted on its calendar."""
    return datetime.now(_zone(academy)).date()


def _offset(request: Request) -> int:
    raw = request.query_params.get("offset", "0")
    return min(int(raw), MAX_OFFSET) if raw.isdigit() else 0


def _text(request: Request, name: str, limit: int = 200) -> str | None:
    return request.query_params.get(name, "").strip()[:limit] or None


async def _every_row(
    request: Request, service: Any, path: str, params: dict[str, Any], cap: int
) -> tuple[list[dict[str, Any]], int]:
    """All items of a paged list (at most `cap`), a few pages at a time; and the total."""
    first = await call(request, service, "GET", path, params={**params, "limit": API_PAGE})
    rows: list[dict[str, Any]] = list(first["items"])
    total = int(first["total"])
    offsets = list(range(API_PAGE, min(total, cap), API_PAGE))
    gate = asyncio.Semaphore(PARALLEL_PAGES)

    async def one(offset: int) -> list[dict[str, Any]]:
        async with gate:
            page = await call(
                request,
                service,
                "GET",
                path,
                params={**params, "limit": API_PAGE, "offset": offset},
            )
            return list(page["items"])

    for items in await asyncio.gather(*(one(o) for o in offsets)):
        rows.extend(items)
    return rows[:cap], total


async def _requirements(request: Request) -> dict[str, dict[str, Any]]:
    """Requirement rules by code, for their titles and reminder windows; empty (codes shown
    instead) when curriculum cannot answer."""
    try:
        listed = await call(
            request, "curriculum", "GET", "/v1/requirements", params={"limit": API_PAGE}
        )
    except ServiceError:
        return {}
    return {r["code"]: r for r in listed["items"]}


async def _tracks(request: Request) -> dict[str, dict[str, str]]:
    """Published tracks' titles by code; empty (codes shown instead) when curriculum cannot
    answer."""
    try:
        listed = await call(
            request,
            "curriculum",
            "GET",
            "/v1/tracks",
            params={"status": "published", "limit": API_PAGE},
        )
    except ServiceError:
        return {}
    return {t["code"]: t.get("title") or {} for t in listed["items"]}


# --- compliance ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComplianceQuery:
    """What the dashboard's list shows: a view (overdue, expiring, all) and its filters."""

    academy_id: str
    view: str
    status: str | None
    unit: str | None
    rank: str | None
    requirement: str | None

    @classmethod
    def of(cls, request: Request, academy_id: str) -> ComplianceQuery:
        view = request.query_params.get("view", "overdue")
        status = request.query_params.get("status")
        return cls(
            academy_id=academy_id,
            view=view if view in VIEWS else "overdue",
            status=status if status in COMPLIANCE_STATUSES and view == "all" else None,
            unit=_text(request, "unit"),
            rank=_text(request, "rank", 100),
            requirement=_text(request, "requirement", 40),
        )

    def api_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"academy_id": self.academy_id}
        for name, value in (
            ("unit", self.unit),
            ("rank", self.rank),
            ("requirement_code", self.requirement),
        ):
            if value is not None:
                params[name] = value
        if self.view == "overdue":
            params["status"] = "overdue"
        elif self.view == "all" and self.status:
            params["status"] = self.status
        return params

    def link(self, path: str = "/academy/compliance", **changes: Any) -> str:
        values = {
            "academy": self.academy_id,
            "view": self.view,
            "status": self.status,
            "unit": self.unit,
            "rank": self.rank,
            "requirement": self.requirement,
            **changes,
        }
        return f"{path}?{urlencode({k: v for k, v in values.items() if v})}"

    @property
    def narrowed(self) -> bool:
        return any((self.status, self.unit, self.rank, self.requirement))


async def _expiring(
    request: Request,
    query: ComplianceQuery,
    requirements: dict[str, dict[str, Any]],
    today: date,
) -> tuple[list[dict[str, Any]], bool]:
    """Records held by a certificate (or recognised training) that stops counting within 30
    days, soonest first; and whether every candidate could be read. The API cannot filter by
    date, so this reads the `due` records (enrolment marks those inside the reminder window)
    and the `compliant` ones of requirements whose reminder window is shorter than 30 days."""
    until = today + timedelta(days=EXPIRING_DAYS)
    base = query.api_params()
    wanted = [{**base, "status": "due"}]
    short_window = [
        code
        for code, rule in requirements.items()
        if max(rule.get("reminder_days") or [0]) < EXPIRING_DAYS
        and (query.requirement is None or code == query.requirement)
    ]
    if not requirements:  # no reminder windows known: read every compliant record
        wanted.append({**base, "status": "compliant"})
    wanted += [{**base, "status": "compliant", "requirement_code": c} for c in short_window]
    found = await asyncio.gather(
        *(_every_row(request, "enrolment", "/v1/compliance", p, EXPIRING_CAP) for p in wanted)
    )
    rows: list[dict[str, Any]] = []
    complete = True
    for items, total in found:
        complete = complete and total <= EXPIRING_CAP
        rows += [
            r
            for r in items
            if (r.get("certificate_id") or r.get("recognition_id"))
            and r.get("due_on")
            and r["due_on"] <= until.isoformat()
        ]
    rows.sort(key=lambda r: (r["due_on"], r["family_name"], r["given_name"]))
    return rows, complete


def _by_unit(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    counts: dict[str | None, Counter[str]] = {}
    for row in rows:
        counts.setdefault(row.get("unit"), Counter())[row["status"]] += 1
    ordered = sorted(counts.items(), key=lambda pair: (pair[0] is None, (pair[0] or "").casefold()))
    return [{"unit": unit, "counts": dict(c), "total": sum(c.values())} for unit, c in ordered]


@router.get("/academy/compliance")
async def compliance(request: Request, user: User = Overseer) -> Response:
    """Counts by status, by requirement and by unit; the overdue, expiring or filtered list."""
    scope = await required_scope(request, user, remember=False)
    academy = scope.academy
    query = ComplianceQuery.of(request, academy["id"])
    offset = _offset(request)
    today = _today(academy)
    summary, requirements, (everyone, everyone_total) = await asyncio.gather(
        call(
            request,
            "enrolment",
            "GET",
            "/v1/compliance/summary",
            params={"academy_id": academy["id"]},
        ),
        _requirements(request),
        _every_row(
            request, "enrolment", "/v1/compliance", {"academy_id": academy["id"]}, BREAKDOWN_CAP
        ),
    )
    complete = True
    expiring_recognised = 0
    if query.view == "expiring":
        rows, complete = await _expiring(request, query, requirements, today)
        # The summary says what runs out: certificates, recognised training, or both.
        expiring_recognised = sum(1 for r in rows if not r.get("certificate_id"))
        page = {
            "items": rows[offset : offset + PAGE_SIZE],
            "total": len(rows),
            "limit": PAGE_SIZE,
            "offset": offset,
        }
    else:
        page = await call(
            request,
            "enrolment",
            "GET",
            "/v1/compliance",
            params={**query.api_params(), "limit": PAGE_SIZE, "offset": offset},
        )
    lang = language(request).code
    titles = {code: localised(rule.get("title"), lang, code) for code, rule in requirements.items()}
    broken_down = everyone_total <= BREAKDOWN_CAP
    return render(
        request,
        "academy/oversight/compliance.html",
        academy=academy,
        scope=scope,
        summary=summary,
        query=query,
        page=page,
        complete=complete,
        titles=titles,
        by_requirement=[
            {
                "code": code,
                "counts": counts,
                "total": sum(counts.values()),
            }
            for code, counts in sorted(summary["by_requirement"].items())
        ],
        by_unit=_by_unit(everyone) if broken_down else None,
        units=sorted({r["unit"] for r in everyone if r.get("unit")}, key=str.casefold),
        ranks=sorted({r["rank"] for r in everyone if r.get("rank")}, key=str.casefold),
        requirement_codes=sorted(set(summary["by_requirement"]) | set(requirements)),
        statuses=COMPLIANCE_STATUSES,
        views=VIEWS,
        breakdown_cap=BREAKDOWN_CAP,
        expiring_until=today + timedelta(days=EXPIRING_DAYS),
        expiring_recognised=expiring_recognised,
    )


async def _export_rows(
    request: Request, user: User
) -> tuple[dict[str, Any], ComplianceQuery, list[Any]]:
    """The dashboard's current list, every page of it, as rows of export cells."""
    academy = (await required_scope(request, user, remember=False)).academy
    query = ComplianceQuery.of(request, academy["id"])
    requirements = await _requirements(request)
    speaking = language(request)
    if query.view == "expiring":
        rows, complete = await _expiring(request, query, requirements, _today(academy))
    else:
        rows, total = await _every_row(
            request, "enrolment", "/v1/compliance", query.api_params(), EXPORT_CAP
        )
        complete = total <= EXPORT_CAP
    if not complete:
        raise ServiceError(
            422,
            speaking.gettext("More than %(cap)s records match: narrow the filters to export them.")
            % {"cap": speaking.number(EXPORT_CAP)},
        )
    zone = _zone(academy)
    cells: list[list[Any]] = []
    for row in rows:
        since = datetime.fromisoformat(row["since"].replace("Z", "+00:00")).astimezone(zone)
        values = {
            **row,
            "requirement_title": localised(
                (requirements.get(row["requirement_code"]) or {}).get("title"),
                speaking.code,
                row["requirement_code"],
            ),
            "status": speaking.gettext(COMPLIANCE_STATUSES.get(row["status"], row["status"])),
            "due_on": date.fromisoformat(row["due_on"]) if row.get("due_on") else None,
            "since": since.date(),
        }
        cells.append([values.get(key) for key, _ in EXPORT_COLUMNS])
    return academy, query, cells


def _export_name(academy: dict[str, Any], query: ComplianceQuery, extension: str) -> str:
    return f"compliance-{academy['code']}-{query.view}-{_today(academy).isoformat()}.{extension}"


def _as_csv(header: list[str], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in [header, *rows]:
        writer.writerow(
            [
                ""
                if cell is None
                else cell.isoformat()
                if isinstance(cell, date)
                else spreadsheet_safe(str(cell))
                for cell in row
            ]
        )
    # With a byte-order mark, spreadsheet programs read the Cyrillic names as UTF-8.
    return out.getvalue().encode("utf-8-sig")


def _as_xlsx(title: str, header: list[str], rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
    from openpyxl.styles import Font  # type: ignore[import-untyped]

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31])
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    heading = []
    for text in header:
        cell = WriteOnlyCell(sheet, value=spreadsheet_safe(text))
        cell.font = bold
        heading.append(cell)
    sheet.append(heading)
    for row in rows:
        written = []
        for value in row:
            if isinstance(value, date):
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "yyyy-mm-dd"
            else:
                # A text is written as text: never a formula, even if it starts like one.
                cell = WriteOnlyCell(
                    sheet, value=None if value is None else spreadsheet_safe(str(value))
                )
                if value is not None:
                    cell.data_type = "s"
            written.append(cell)
        sheet.append(written)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _download(content: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/academy/compliance.csv")
async def compliance_csv(request: Request, user: User = Overseer) -> Response:
    """The dashboard's current list as CSV (UTF-8, headers in the page language)."""
    academy, query, rows = await _export_rows(request, user)
    header = [language(request).gettext(label) for _, label in EXPORT_COLUMNS]
    content = await asyncio.to_thread(_as_csv, header, rows)
    return _download(content, "text/csv; charset=utf-8", _export_name(academy, query, "csv"))


@router.get("/academy/compliance.xlsx")
async def compliance_xlsx(request: Request, user: User = Overseer) -> Response:
    """The dashboard's current list as an Excel workbook."""
    academy, query, rows = await _export_rows(request, user)
    speaking = language(request)
    header = [speaking.gettext(label) for _, label in EXPORT_COLUMNS]
    content = await asyncio.to_thread(_as_xlsx, speaking.gettext(VIEWS[query.view]), header, rows)
    return _download(
        content,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _export_name(academy, query, "xlsx"),
    )


# --- reports ------------------------------------------------------------------------------------


def _day(request: Request, name: str, errors: dict[str, str]) -> date | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        errors[name] = language(request).gettext("Enter a date as YYYY-MM-DD.")
        return None


@router.get("/academy/reports")
async def reports(request: Request, user: User = Overseer) -> Response:
    """Participation, completion and compliance by gender, rank, unit or track, with the cells
    the service withholds (too few people to publish) shown as withheld and explained."""
    scope = await required_scope(request, user, remember=False)
    academy = scope.academy
    by = request.query_params.get("by", "gender")
    by = by if by in DIMENSIONS else "gender"
    across = request.query_params.get("across", "")
    across = across if across in ACROSS else ""
    speaking = language(request)
    errors: dict[str, str] = {}
    date_from, date_to = _day(request, "from", errors), _day(request, "to", errors)
    if date_from and date_to and date_to < date_from:
        errors["to"] = speaking.gettext("The end of the period must not be before its start.")
    if across and across == by:
        errors["across"] = speaking.gettext("Cross with another grouping than the breakdown.")
    elif across and by == "track":
        errors["across"] = speaking.gettext("Tracks cannot be crossed with another grouping.")
    tables: list[dict[str, Any]] = []
    series: dict[str, Any] | None = None
    series_note = ""
    status = 200
    params = _report_params(academy, by, across, date_from, date_to)
    if not errors:
        try:
            built = await asyncio.gather(
                *(
                    call(request, "enrolment", "GET", f"/v1/reports/{measure}", params=params)
                    for measure in MEASURES
                )
            )
            if date_from and date_to and _months(date_from, date_to) > SERIES_MONTHS:
                # The tables cover any period; only the series is cut, with what to change.
                series_note = speaking.gettext(
                    "The month-by-month series covers at most %(months)s months: for this end, "
                    "start the period on %(date)s or later."
                ) % {
                    "months": SERIES_MONTHS,
                    "date": speaking.date(_series_start(date_to)),
                }
            elif date_from and date_to:
                series = await call(
                    request,
                    "enrolment",
                    "GET",
                    "/v1/reports/compliance/monthly",
                    params={k: v for k, v in params.items() if k in ("academy_id", "from", "to")},
                )
        except ServiceError as error:
            if error.status != 422:
                raise
            errors = error.field_errors() or {"": error.detail}
            status = 422
        else:
            tracks = await _tracks(request) if by == "track" else {}
            tables = [_report_table(request, report, tracks) for report in built]
    else:
        status = 422
    return render(
        request,
        "academy/oversight/reports.html",
        status=status,
        academy=academy,
        scope=scope,
        by=by,
        across=across,
        dimensions=DIMENSIONS,
        crossings=ACROSS,
        date_from=request.query_params.get("from", "")[:10],
        date_to=request.query_params.get("to", "")[:10],
        errors=errors,
        tables=tables,
        series=_series(request, series) if series else None,
        series_note=series_note,
        k=tables[0]["k"] if tables else None,
        withheld=any(t["withheld"] for t in tables) or bool(series and _any_withheld(series)),
        csv_query=urlencode({k: v for k, v in params.items()}),
    )


SERIES_MONTHS = 120
"""The most months enrolment's monthly series covers."""


def _months(date_from: date, date_to: date) -> int:
    """The calendar months a period touches."""
    return (date_to.year - date_from.year) * 12 + date_to.month - date_from.month + 1


def _series_start(date_to: date) -> date:
    """The earliest start whose series ending on `date_to` fits in SERIES_MONTHS months."""
    index = date_to.year * 12 + date_to.month - 1 - (SERIES_MONTHS - 1)
    return date(index // 12, index % 12 + 1, 1)


def _report_params(
    academy: dict[str, Any], by: str, across: str, date_from: date | None, date_to: date | None
) -> dict[str, str]:
    params = {"academy_id": academy["id"], "by": by}
    if across:
        params["across"] = across
    if date_from:
        params["from"] = date_from.isoformat()
    if date_to:
        params["to"] = date_to.isoformat()
    return params


@router.get("/academy/reports/{measure}.csv")
async def report_csv(request: Request, measure: str, user: User = Overseer) -> Response:
    """A report as enrolment exports it (a cross table's too; withheld numbers left empty), or
    the monthly compliance series (`monthly`), for the academy in scope."""
    scope = await required_scope(request, user, remember=False)
    if measure not in (*MEASURES, "monthly"):
        raise HTTPException(status_code=404)
    query = {k: v for k, v in request.query_params.items() if k in ("by", "across", "from", "to")}
    query["academy_id"] = scope.academy["id"]
    path = "/v1/reports/compliance/monthly" if measure == "monthly" else f"/v1/reports/{measure}"
    if measure == "monthly":
        query = {k: v for k, v in query.items() if k in ("academy_id", "from", "to")}
    backend: Backend = request.app.state.backend
    upstream = await backend.request(  # an error answer is the error page (main.py)
        "enrolment",
        "GET",
        path,
        token=user.access_token,
        lang=language(request).code,
        params={**query, "format": "csv"},
    )
    name = "compliance-by-month" if measure == "monthly" else f"{measure}-report"
    # With a byte-order mark, as the portal's other CSVs: spreadsheet programs then read
    # Cyrillic ranks and units as UTF-8.
    content = upstream.content
    if not content.startswith(codecs.BOM_UTF8):
        content = codecs.BOM_UTF8 + content
    return _download(content, "text/csv; charset=utf-8", f"{name}.csv")


def _any_withheld(series: dict[str, Any]) -> bool:
    return any(
        cell["suppressed"]
        for month in series["months"]
        for cell in [*month["cells"], month["overall"]]
    )


def _series(request: Request, series: dict[str, Any]) -> dict[str, Any]:
    """The monthly series as rows (months) by columns (genders present in any month)."""
    speaking = language(request)
    groups = sorted({c["group"] for month in series["months"] for c in month["cells"]})
    return {
        "history_from": date.fromisoformat(series["history_from"])
        if series.get("history_from")
        else None,
        "columns": [
            {"group": g, "label": speaking.gettext(GROUP_NAMES[g]) if g in GROUP_NAMES else g}
            for g in groups
        ],
        "months": [
            {
                "month": date.fromisoformat(month["date_from"]),
                "history": month.get("history", True),
                "cells": {c["group"]: c for c in month["cells"]},
                "overall": month["overall"],
            }
            for month in series["months"]
        ],
    }


def _report_table(
    request: Request, report: dict[str, Any], tracks: dict[str, dict[str, str]]
) -> dict[str, Any]:
    speaking = language(request)

    def label(group: str) -> str:
        if group in GROUP_NAMES and (report["by"] == "gender" or group == "unspecified"):
            return speaking.gettext(GROUP_NAMES[group])
        if report["by"] == "track":
            return localised(tracks.get(group), speaking.code, group)
        return group

    def column_label(group: str) -> str:
        if group in GROUP_NAMES and (report["across"] == "gender" or group == "unspecified"):
            return speaking.gettext(GROUP_NAMES[group])
        return group

    rows = [{**cell, "label": label(cell["group"])} for cell in report["cells"]]
    published = [*report["cells"], report["overall"]]
    cross = None
    if report.get("across"):
        inner = {(c["group"], c["across"]): c for c in report["table"]}
        columns = [{**c, "label": column_label(c["group"])} for c in report["columns"]]
        cross = {
            "columns": columns,
            "rows": [
                {**row, "cells": [inner.get((row["group"], c["group"])) for c in columns]}
                for row in rows
            ],
        }
        published += [*report["columns"], *report["table"]]
    # A compliance range ending before the kept history began has no numbers: say why.
    history_from = report.get("history_from")
    before_history = ""
    if (
        report["measure"] == "compliance"
        and not report["cells"]
        and report["date_to"]
        and (history_from is None or report["date_to"] < history_from)
    ):
        before_history = (
            speaking.gettext(
                "No statuses are kept before %(date)s: choose a period ending on that day or later."
            )
            % {"date": speaking.date(history_from)}
            if history_from
            else speaking.gettext("No statuses have been kept yet.")
        )
    return {
        "before_history": before_history,
        "measure": report["measure"],
        **MEASURES[report["measure"]],
        "k": report["k"],
        "rows": rows,
        "cross": cross,
        "overall": report["overall"],
        "withheld": any(c["suppressed"] for c in published),
    }


# --- certificates -------------------------------------------------------------------------------


@router.get("/academy/certificates")
async def certificates(request: Request, user: User = Overseer) -> Response:
    """The academy's certificates, filtered by status, track and trainee, newest first."""
    scope = await required_scope(request, user, remember=False)
    academy = scope.academy
    status = request.query_params.get("status")
    status = status if status in CERTIFICATE_STATUSES else None
    track = _text(request, "track", 40)
    typed = _text(request, "trainee", 100)
    trainee_id = _text(request, "trainee_id", 100)
    offset = _offset(request)
    candidates: list[dict[str, Any]] | None = None
    if typed and not trainee_id:
        found = await call(
            request,
            "enrolment",
            "GET",
            "/v1/trainees",
            params={"academy_id": academy["id"], "q": typed, "limit": 20},
        )
        candidates = found["items"]
        if len(candidates) == 1:
            trainee_id, candidates = candidates[0]["id"], None
    filters = {
        "academy": academy["id"],
        "status": status,
        "track": track,
        "trainee": typed,
        "trainee_id": trainee_id,
    }
    base = "/academy/certificates?" + urlencode({k: v for k, v in filters.items() if v})
    page: dict[str, Any] = {"items": [], "total": 0, "limit": PAGE_SIZE, "offset": 0}
    if candidates is None:
        params = {
            "academy_id": academy["id"],
            "status": status,
            "track_code": track,
            "trainee_id": trainee_id,
            "limit": PAGE_SIZE,
            "offset": offset,
        }
        page = await call(
            request,
            "certification",
            "GET",
            "/v1/certificates",
            params={k: v for k, v in params.items() if v is not None},
        )
    tracks = await _tracks(request)
    lang = language(request).code
    return render(
        request,
        "academy/oversight/certificates.html",
        academy=academy,
        scope=scope,
        page=page,
        base=base,
        chosen_status=status,
        track=track,
        typed=typed or "",
        trainee_id=trainee_id,
        candidates=candidates,
        statuses=CERTIFICATE_STATUSES,
        tracks={code: localised(t, lang, code) for code, t in sorted(tracks.items())},
    )


async def _certificate_page(
    request: Request,
    certificate_id: str,
    *,
    status: int = 200,
    revoke_error: ServiceError | None = None,
    reissue_error: ServiceError | None = None,
    reason: str = "",
) -> Response:
    try:
        certificate = await call(
            request, "certification", "GET", f"/v1/certificates/{quote(certificate_id, safe='')}"
        )
    except ServiceError as error:
        if error.status in (404, 422):
            return render(request, "not_found.html", status=404)
        raise
    try:
        holder = await call(
            request, "enrolment", "GET", f"/v1/trainees/{quote(certificate['trainee_id'], safe='')}"
        )
    except ServiceError:
        holder = None  # the record is still shown; only the comparison is missing
    tracks = await _tracks(request)
    return render(
        request,
        "academy/oversight/certificate.html",
        status=status,
        certificate=certificate,
        holder=holder,
        title=localised(
            tracks.get(certificate["track_code"]), language(request).code, certificate["track_code"]
        ),
        statuses=CERTIFICATE_STATUSES,
        revoke_error=revoke_error,
        reissue_error=reissue_error,
        reason=reason,
    )


@router.get("/academy/certificates/{certificate_id}")
async def certificate(request: Request, certificate_id: str, user: User = Overseer) -> Response:
    """One certificate: its record, and revoking or re-issuing it."""
    return await _certificate_page(request, certificate_id)


@router.post("/academy/certificates/{certificate_id}/revoke")
async def revoke(request: Request, certificate_id: str, user: User = Overseer) -> Response:
    """Revoke with a reason (kept for the academy; verification shows only that and when)."""
    form = await checked_form(request)
    reason = str(form.get("reason", "")).strip()
    speaking = language(request)
    if len(reason) < 3:
        missing = ServiceError(
            422,
            speaking.gettext("Say why the certificate is revoked."),
            errors=[{"field": "reason", "message": speaking.gettext("Give a reason.")}],
        )
        return await _certificate_page(
            request, certificate_id, status=422, revoke_error=missing, reason=reason
        )
    try:
        revoked = await call(
            request,
            "certification",
            "POST",
            f"/v1/certificates/{quote(certificate_id, safe='')}/revoke",
            json={"reason": reason},
        )
    except ServiceError as error:
        if error.status == 404:
            return render(request, "not_found.html", status=404)
        if error.status in (409, 422):
            return await _certificate_page(
                request, certificate_id, status=error.status, revoke_error=error, reason=reason
            )
        raise
    flash(
        request,
        speaking.gettext("Certificate %(number)s is revoked.") % {"number": revoked["number"]},
    )
    return redirect(f"/academy/certificates/{quote(certificate_id, safe='')}")


@router.post("/academy/certificates/{certificate_id}/reissue")
async def reissue(request: Request, certificate_id: str, user: User = Overseer) -> Response:
    """A corrected edition from the holder's current details; the old one is replaced."""
    await checked_form(request)
    speaking = language(request)
    try:
        issued = await call(
            request,
            "certification",
            "POST",
            f"/v1/certificates/{quote(certificate_id, safe='')}/reissue",
        )
    except ServiceError as error:
        if error.status == 404:
            return render(request, "not_found.html", status=404)
        if error.status in (409, 422):
            return await _certificate_page(
                request, certificate_id, status=error.status, reissue_error=error
            )
        raise
    flash(
        request,
        speaking.gettext("Corrected certificate %(number)s is issued; it replaces the old one.")
        % {"number": issued["number"]},
    )
    return redirect(f"/academy/certificates/{quote(issued['id'], safe='')}")
