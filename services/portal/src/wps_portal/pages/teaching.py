"""Instructor pages: my cohorts, and one cohort's attendance register and results, entered for
the whole cohort on one page."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from wps_common.auth import Role
from wps_portal.backend import ServiceError
from wps_portal.i18n import N_, localised
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
Teacher = for_roles(Role.INSTRUCTOR, Role.ACADEMY_ADMIN, Role.ADMIN)

PAGE = 500  # the services' largest page
MOST_COHORTS = 2000  # a list longer than this is not a teaching list any more
MOST_ENROLMENTS = 2000
PARALLEL_CALLS = 8
SEATED = ("enrolled", "completed", "failed")  # who sits in the room (not waitlisted/withdrawn)
ENTRY = re.compile(r"^entries\.(\d+)(?:\.(\w+))?")
KINDS = {
    "none": N_("Attendance only"),
    "quiz": N_("Quiz"),
    "practical": N_("Practical assessment"),
}
STATUSES = {
    "enrolled": N_("Enrolled"),
    "completed": N_("Completed"),
    "failed": N_("Failed"),
    "waitlisted": N_("Waitlisted"),
    "withdrawn": N_("Withdrawn"),
}

T = TypeVar("T")


async def gathered(calls: Iterable[Awaitable[T]]) -> list[T]:
    """Many reads at once, but not so many that a large cohort floods a service."""
    gate = asyncio.Semaphore(PARALLEL_CALLS)

    async def one(awaitable: Awaitable[T]) -> T:
        async with gate:
            return await awaitable

    return list(await asyncio.gather(*(one(c) for c in calls)))


async def every_page(
    request: Request, path: str, params: dict[str, Any], most: int
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while len(items) < most:
        page = await call(
            request,
            "enrolment",
            "GET",
            path,
            params={**params, "limit": PAGE, "offset": len(items)},
        )
        items.extend(page["items"])
        if not page["items"] or len(items) >= page["total"]:
            break
    return items


# --- my cohorts --------------------------------------------------------------------------------


def teaches(user: User, cohort: dict[str, Any]) -> bool:
    """Academy staff see every cohort of their academy; an instructor those that name them,
    or name nobody (then any instructor of the academy may enter results)."""
    if user.has(Role.ADMIN, Role.ACADEMY_ADMIN):
        return True
    instructors = cohort.get("instructors") or []
    return not instructors or user.subject in instructors


@router.get("/teaching")
async def my_cohorts(request: Request, user: User = Teacher) -> Response:
    """Current cohorts first, then upcoming ones, then those that have ended."""
    speaking = language(request)
    # The enrolment API has no instructor filter: the academy's cohorts, filtered here.
    cohorts = [
        c for c in await every_page(request, "/v1/cohorts", {}, MOST_COHORTS) if teaches(user, c)
    ]
    today = date.today()
    for cohort in cohorts:
        cohort["phase"] = phase(cohort, today)
    current = sorted(
        (c for c in cohorts if c["phase"] == "current"), key=lambda c: (c["ends_on"], c["title"])
    )
    upcoming = sorted(
        (c for c in cohorts if c["phase"] == "upcoming"), key=lambda c: (c["starts_on"], c["title"])
    )
    ended = sorted(
        (c for c in cohorts if c["phase"] == "ended"), key=lambda c: c["ends_on"], reverse=True
    )
    titles = await curriculum_titles(request, cohorts, speaking.code)
    academies: dict[str, str] = {}
    if user.has(Role.ADMIN):
        listed = await call(request, "enrolment", "GET", "/v1/academies", params={"limit": PAGE})
        academies = {a["id"]: a["code"] for a in listed["items"]}
    return render(
        request,
        "teaching/cohorts.html",
        groups=[
            ("current", N_("Running now"), current),
            ("upcoming", N_("Coming up"), upcoming),
            ("ended", N_("Ended"), ended),
        ],
        titles=titles,
        academies=academies,
        total=len(cohorts),
    )


def phase(cohort: dict[str, Any], today: date) -> str:
    starts, ends = date.fromisoformat(cohort["starts_on"]), date.fromisoformat(cohort["ends_on"])
    if starts > today:
        return "upcoming"
    return "current" if ends >= today else "ended"


async def curriculum_titles(
    request: Request, cohorts: list[dict[str, Any]], code: str
) -> dict[tuple[str, int], str]:
    """The title of each track (or single module) the cohorts teach, in the page language."""
    pinned = sorted(
        {
            ("tracks", c["track_code"], c["track_version"])
            if c.get("track_code")
            else ("modules", c["module_code"], c["module_version"])
            for c in cohorts
        }
    )

    async def title(kind: str, curriculum: str, version: int) -> tuple[tuple[str, int], str]:
        try:
            found = await call(
                request, "curriculum", "GET", f"/v1/{kind}/{quote(curriculum)}/versions/{version}"
            )
        except ServiceError:
            return (curriculum, version), curriculum  # the code still says what it is
        return (curriculum, version), localised(found.get("title"), code, curriculum)

    return dict(await gathered(title(*p) for p in pinned))


# --- the register ------------------------------------------------------------------------------


@dataclass
class Module:
    code: str
    version: int
    title: str
    kind: str
    pass_mark: int
    min_attendance: int

    @property
    def scored(self) -> bool:
        return self.kind != "none"


@dataclass
class Recorded:
    """The latest entry of one module for one enrolment (what the register shows)."""

    id: str
    attendance: float
    score: float | None
    passed: bool
    attempt: int


@dataclass
class Row:
    enrolment_id: str
    trainee_id: str
    name: str
    employee_number: str
    status: str
    recorded: dict[str, Recorded] = field(default_factory=dict)
    typed: dict[str, str] = field(default_factory=dict)  # field name → what was typed
    errors: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # msgid, values
    invalid: set[str] = field(default_factory=set)  # field names the errors are about

    @property
    def editable(self) -> bool:
        return self.status == "enrolled"


@dataclass
class Sheet:
    cohort: dict[str, Any]
    title: str
    modules: list[Module]
    rows: list[Row]
    may_enter: bool

    @property
    def resits_possible(self) -> bool:
        """Some trainee who can still be marked has a module not passed (re-sit or fix?)."""
        return any(
            row.editable and any(not r.passed for r in row.recorded.values()) for row in self.rows
        )

    def row(self, enrolment_id: str) -> Row | None:
        return next((r for r in self.rows if r.enrolment_id == enrolment_id), None)


def field_name(part: str, row: Row, module: Module) -> str:
    """`attendance.<enrolment>.<module>` / `score.<enrolment>.<module>`: stable while the
    cohort changes between showing the form and saving it."""
    return f"{part}.{row.enrolment_id}.{module.code}"


async def load_sheet(request: Request, user: User, cohort_id: str) -> Sheet:
    """The cohort, its curriculum as pinned, its seated trainees and their latest results."""
    speaking = language(request)
    path = f"/v1/cohorts/{quote(cohort_id, safe='')}"
    cohort = await call(request, "enrolment", "GET", path)
    if cohort.get("track_code"):
        track = await call(
            request,
            "curriculum",
            "GET",
            f"/v1/tracks/{quote(cohort['track_code'])}/versions/{cohort['track_version']}",
        )
        title = localised(track.get("title"), speaking.code, cohort["track_code"])
        pinned = [(m["code"], m["version"]) for m in track["modules"]]
    else:
        title = ""
        pinned = [(cohort["module_code"], cohort["module_version"])]
    modules = await gathered(module_facts(request, code, version) for code, version in pinned)
    if not cohort.get("track_code"):
        title = modules[0].title
    enrolments = [
        e
        for e in await every_page(request, f"{path}/enrolments", {}, MOST_ENROLMENTS)
        if e["status"] in SEATED
    ]
    trainees = await gathered(
        call(request, "enrolment", "GET", f"/v1/trainees/{quote(e['trainee_id'], safe='')}")
        for e in enrolments
    )
    histories = await gathered(
        every_item(request, "enrolment", f"/v1/enrolments/{quote(e['id'], safe='')}/results")
        for e in enrolments
    )
    rows = []
    for enrolment, trainee, history in zip(enrolments, trainees, histories, strict=True):
        latest: dict[str, Recorded] = {}
        for result in history:  # oldest first: the last one of a module is its latest
            latest[result["module_code"]] = Recorded(
                id=result["id"],
                attendance=result["attendance_pct"],
                score=result["score"],
                passed=result["passed"],
                attempt=result["attempt"],
            )
        rows.append(
            Row(
                enrolment_id=enrolment["id"],
                trainee_id=enrolment["trainee_id"],
                name=f"{trainee['family_name']} {trainee['given_name']}",
                employee_number=trainee["employee_number"],
                status=enrolment["status"],
                recorded=latest,
            )
        )
    rows.sort(key=lambda r: (r.name.casefold(), r.employee_number))
    may_enter = user.has(Role.ADMIN, Role.ACADEMY_ADMIN) or teaches(user, cohort)
    return Sheet(cohort=cohort, title=title, modules=modules, rows=rows, may_enter=may_enter)


async def module_facts(request: Request, code: str, version: int) -> Module:
    found = await call(
        request, "curriculum", "GET", f"/v1/modules/{quote(code)}/versions/{version}"
    )
    assessment = found.get("assessment") or {}
    return Module(
        code=code,
        version=version,
        title=localised(found.get("title"), language(request).code, code),
        kind=assessment.get("kind", "none"),
        pass_mark=int(assessment.get("pass_mark", 0)),
        min_attendance=int(found.get("min_attendance_pct", 0)),
    )


def show(request: Request, sheet: Sheet, status: int = 200, **context: Any) -> Response:
    return render(
        request,
        "teaching/register.html",
        status=status,
        sheet=sheet,
        kinds=KINDS,
        statuses=STATUSES,
        field_name=field_name,
        **context,
    )


@router.get("/teaching/cohorts/{cohort_id}")
async def register(request: Request, cohort_id: str, user: User = Teacher) -> Response:
    """Attendance and results of every seated trainee for every module, pre-filled."""
    try:
        sheet = await load_sheet(request, user, cohort_id)
    except ServiceError as error:
        if error.status == 404:
            return render(request, "not_found.html", status=404)
        raise
    return show(request, sheet)


@dataclass
class Entry:
    row: Row
    module: Module
    body: dict[str, Any]


def number(typed: str) -> float | None:
    """What a person types for a percentage or a mark: `85`, `85,5`, `85.5 %`."""
    cleaned = typed.strip().rstrip("%").strip().replace(",", ".").replace("\u00a0", "")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def same(recorded: float | None, typed: float | None) -> bool:
    if recorded is None or typed is None:
        return recorded is typed
    return abs(recorded - typed) < 0.0005


def read_entries(form: FormData, sheet: Sheet, resit: bool) -> list[Entry]:
    """What changed in the form, as result entries; rows with unreadable numbers get their
    error here and send nothing."""
    entries: list[Entry] = []
    for row in sheet.rows:
        if not row.editable:
            continue
        wanted: list[Entry] = []
        for module in sheet.modules:
            names = {"attendance": field_name("attendance", row, module)}
            if module.scored:
                names["score"] = field_name("score", row, module)
            typed = {part: str(form.get(name, "")).strip() for part, name in names.items()}
            row.typed.update({names[part]: value for part, value in typed.items()})
            if not any(typed.values()):
                continue  # nothing typed: nothing to record (a result is never deleted)
            values: dict[str, float | None] = {}
            for part, text in typed.items():
                values[part] = number(text) if text else None
                if text and values[part] is None:
                    row.errors.append(
                        (
                            N_("%(module)s: “%(typed)s” is not a number."),
                            {"module": module.code, "typed": text},
                        )
                    )
                    row.invalid.add(names[part])
            if values["attendance"] is None and not typed["attendance"]:
                row.errors.append(
                    (N_("%(module)s: enter the attendance too."), {"module": module.code})
                )
                row.invalid.add(names["attendance"])
                continue
            if any(v is None and typed[p] for p, v in values.items()):
                continue
            latest = row.recorded.get(module.code)
            score = values.get("score")
            if (
                latest is not None
                and same(latest.attendance, values["attendance"])
                and same(latest.score, score)
            ):
                continue  # as recorded (and as shown: rounded to three decimals)
            body: dict[str, Any] = {
                "trainee_id": row.trainee_id,
                "module_code": module.code,
                "attendance_pct": values["attendance"],
            }
            if module.scored:
                body["score"] = score
            if latest is not None and (latest.passed or not resit):
                body["corrects"] = latest.id  # a correction keeps the attempt number
            wanted.append(Entry(row=row, module=module, body=body))
        if not row.errors:
            entries.extend(wanted)
    return entries


async def send(
    request: Request, sheet: Sheet, entries: list[Entry]
) -> tuple[list[Entry], ServiceError | None]:
    """Everything in one bulk call; the service saves all or nothing, so the rows it names are
    taken out and the rest sent again, until what is left is saved (or nothing is left)."""
    path = f"/v1/cohorts/{quote(sheet.cohort['id'], safe='')}/results"
    pending = list(entries)
    while pending:
        try:
            await call(
                request, "enrolment", "POST", path, json={"entries": [e.body for e in pending]}
            )
        except ServiceError as error:
            if error.status != 422:
                return [], error
            failed: set[str] = set()
            for problem in error.errors:
                found = ENTRY.match(str(problem.get("field", "")))
                if not found or int(found.group(1)) >= len(pending):
                    continue
                entry = pending[int(found.group(1))]
                part = found.group(2)
                message = str(problem.get("message", ""))
                entry.row.errors.append(
                    (
                        N_("%(module)s: %(message)s"),
                        {"module": entry.module.code, "message": message},
                    )
                )
                if part in ("score", "attendance_pct"):
                    kind = "score" if part == "score" else "attendance"
                    entry.row.invalid.add(field_name(kind, entry.row, entry.module))
                failed.add(entry.row.enrolment_id)
            if not failed:
                return [], error  # not about any one row: say it for the whole form
            pending = [e for e in pending if e.row.enrolment_id not in failed]
            continue
        return pending, None
    return [], None


@router.post("/teaching/cohorts/{cohort_id}")
async def save(request: Request, cohort_id: str, user: User = Teacher) -> Response:
    """One Save for the whole register: good rows are saved, each bad row keeps what was typed
    and shows why next to it."""
    form = await checked_form(request)
    try:
        sheet = await load_sheet(request, user, cohort_id)
    except ServiceError as error:
        if error.status == 404:
            return render(request, "not_found.html", status=404)
        raise
    here = f"/teaching/cohorts/{quote(sheet.cohort['id'], safe='')}"
    resit = form.get("changes") == "resit"
    entries = read_entries(form, sheet, resit)
    saved, failure = await send(request, sheet, entries) if entries else ([], None)
    saved_rows = list({e.row.enrolment_id: e.row for e in saved}.values())
    failed_rows = [r for r in sheet.rows if r.errors]
    names = ", ".join(r.name for r in saved_rows)
    speaking = language(request)
    if failure is None and not failed_rows:
        if saved_rows:
            flash(
                request,
                speaking.ngettext(
                    "Saved the results of %(num)d trainee: %(names)s.",
                    "Saved the results of %(num)d trainees: %(names)s.",
                    len(saved_rows),
                )
                % {"num": len(saved_rows), "names": names},
            )
        else:
            flash(request, speaking.gettext("Nothing was changed, so nothing was saved."), "info")
        return redirect(here)
    # Show what is recorded now, with the failed rows as they were typed.
    fresh = await load_sheet(request, user, cohort_id)
    for row in fresh.rows:
        before = sheet.row(row.enrolment_id)
        if before is not None and (before.errors or failure is not None):
            row.typed, row.errors, row.invalid = before.typed, before.errors, before.invalid
    status = failure.status if failure is not None and failure.status != 422 else 422
    return show(
        request,
        fresh,
        status=status,
        failure=failure,
        saved_names=names,
        saved_count=len(saved_rows),
        failed_count=len(failed_rows),
        resit=resit,
    )
