"""Aggregated, gender-disaggregated reports with small-cell suppression (k-anonymity).

A group's numbers are withheld when fewer than k people are in it, or when fewer than k meet
(or fail) the measure; then further groups are withheld until the withheld cells cannot be
recovered from the published totals (complementary suppression): at least two withheld, and
their sums (of people, of those meeting the measure, and of those not) each at least k.

A cross table (`by` × `across`, e.g. gender × rank) applies the same rule to every row against
its row total, every column against its column total, and the row and column totals against
the overall one, until no line has a withheld cell it would give away (ADR 0030). Compliance
over a date range, and its monthly series, come from the kept history of statuses.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal
from wps_common.tenancy import academy_scope, in_academy
from wps_enrolment.models import (
    Academy,
    Cohort,
    ComplianceChange,
    ComplianceRecord,
    Enrolment,
    Requirement,
    Trainee,
)

UNSPECIFIED = "unspecified"
ATTRIBUTES = {
    "gender": Trainee.gender,
    "rank": Trainee.rank,
    "unit": Trainee.unit,
    "academy": Academy.code,
}
ACROSS = ("gender", "rank", "unit", "academy")  # what a cross table's columns may be
MEETS = ("compliant", "exempt")
WOMEN_LAST = ("female",)  # of a gender report's complements, withheld last (ADR 0030)


@dataclass
class Cell:
    group: str
    count: int
    total: int
    hide_count: bool = False
    hide_total: bool = False
    across: str | None = None  # the column of a cross table's inner cell

    def as_dict(self) -> dict[str, Any]:
        count = None if self.hide_count else self.count
        total = None if self.hide_total else self.total
        rate = round(count / total, 4) if count is not None and total else None
        cell = {
            "group": self.group,
            "count": count,
            "total": total,
            "rate": rate,
            "suppressed": self.hide_count or self.hide_total,
        }
        return cell if self.across is None else {**cell, "across": self.across}


def _primary(cell: Cell, k: int) -> None:
    """A group of fewer than k people is withheld; so are the numbers of a group in which fewer
    than k meet the measure, or fewer than k fail it, none included: "0 of 103" (or "103 of
    103") says of each of them, and of every withheld cell of its line, what they did (k = 1
    withholds nothing)."""
    if 0 < cell.total < k:
        cell.hide_total = cell.hide_count = True
    elif k > 1 and cell.total and (cell.count < k or cell.total - cell.count < k):
        cell.hide_count = True


def suppress(cells: list[Cell], overall: Cell, k: int, keep: Sequence[str] = ()) -> None:
    """Primary suppression of small cells, then complementary suppression per column: the
    smallest published cells are withheld first, those of the groups in `keep` last."""
    for cell in [*cells, overall]:
        _primary(cell, k)

    def safe(hidden: list[Cell], sums: list[int]) -> bool:
        return not hidden or len(hidden) == len(cells) or (len(hidden) >= 2 and min(sums) >= k)

    for column in ("total", "count"):
        if getattr(overall, f"hide_{column}"):
            continue  # nothing to subtract from
        while True:
            hidden = [c for c in cells if getattr(c, f"hide_{column}")]
            if column == "total":
                sums = [sum(c.total for c in hidden)]
            else:
                sums = [sum(c.count for c in hidden), sum(c.total - c.count for c in hidden)]
            if safe(hidden, sums):
                break
            visible = [c for c in cells if not getattr(c, f"hide_{column}")]
            victim = min(visible, key=lambda c: (c.group in keep, getattr(c, column), c.group))
            setattr(victim, f"hide_{column}", True)
            if column == "total":
                victim.hide_count = True
    # A withheld total withholds its count too, which may need complements of its own.
    if not overall.hide_count:
        hidden = [c for c in cells if c.hide_count]
        sums = [sum(c.count for c in hidden), sum(c.total - c.count for c in hidden)]
        while not safe(hidden, sums):
            visible = [c for c in cells if not c.hide_count]
            min(visible, key=lambda c: (c.group in keep, c.count, c.group)).hide_count = True
            hidden = [c for c in cells if c.hide_count]
            sums = [sum(c.count for c in hidden), sum(c.total - c.count for c in hidden)]


def _complement(cells: list[Cell], total: Cell, k: int, keep: Sequence[str] = ()) -> bool:
    """One line of a table (a row, a column, or the margins) and its published total: withhold
    further cells of the line until its withheld ones cannot be recovered from the total.
    Returns whether anything more was withheld."""
    more = False
    for column in ("total", "count"):
        hide = f"hide_{column}"
        while True:
            hidden = [c for c in cells if getattr(c, hide)]
            visible = [c for c in cells if not getattr(c, hide)]
            if getattr(total, hide):
                # The total is withheld: it is the sum of the line's cells, so one of them
                # must be withheld too, or the total can be added up.
                safe = bool(hidden) or not visible
            elif column == "total":
                people = sum(c.total for c in hidden)
                safe = not hidden or not visible or (len(hidden) >= 2 and people >= k)
            else:
                met = sum(c.count for c in hidden)
                missed = sum(c.total - c.count for c in hidden)
                safe = not hidden or not visible or (len(hidden) >= 2 and min(met, missed) >= k)
            if safe:
                break
            victim = min(
                visible,
                key=lambda c: (
                    c.group in keep or c.across in keep,
                    getattr(c, column),
                    c.group,
                    c.across or "",
                ),
            )
            setattr(victim, hide, True)
            if column == "total":
                victim.hide_count = True  # a withheld total withholds its count
            more = True
    return more


def suppress_cross(
    inner: list[Cell],
    rows: list[Cell],
    columns: list[Cell],
    overall: Cell,
    k: int,
    keep: Sequence[str] = (),
) -> None:
    """Primary suppression of every cell, the margins and the overall; then the complementary
    rule on every row (against its row total), every column (against its column total) and
    both margins (against the overall), again until no line changes."""
    for cell in [*inner, *rows, *columns, overall]:
        _primary(cell, k)
    lines = [([c for c in inner if c.group == row.group], row) for row in rows]
    lines += [([c for c in inner if c.across == column.group], column) for column in columns]
    lines += [(rows, overall), (columns, overall)]
    while any([_complement(cells, total, k, keep) for cells, total in lines]):
        pass


@dataclass
class Grouped:
    """A measure's counts per group (a key per dimension) and overall."""

    groups: list[tuple[tuple[str | None, ...], int, int]] = field(default_factory=list)
    overall: tuple[int, int] = (0, 0)


async def build(
    session: AsyncSession,
    *,
    who: Principal,
    measure: str,
    by: str,
    academy_id: str | None,
    date_from: date | None,
    date_to: date | None,
    k: int,
    across: str | None = None,
) -> dict[str, Any]:
    scope = academy_scope(who, academy_id)
    keys = [by] if across is None else [by, across]
    if measure == "participation":
        grouped = await _participation(session, keys, scope, date_from, date_to)
    elif measure == "completion":
        grouped = await _completion(session, keys, scope, date_from, date_to)
    elif date_from is None and date_to is None:
        grouped = await _compliance(session, keys, scope)
    else:
        [grouped] = await _compliance_in(session, keys, scope, [(date_from, date_to)])
    history: dict[str, Any] = {}
    if measure == "compliance" and (date_from or date_to):
        history["history_from"] = await _history_from(session, scope)
    report: dict[str, Any] = {
        "measure": measure,
        "by": by,
        "across": across,
        "academy_id": scope,
        "date_from": date_from,
        "date_to": date_to,
        "k": k,
    }
    # Women's figure is what a gender report is read for (Women, Peace and Security): it is
    # the last one withheld to protect another cell; a larger complement protects no less.
    keep = WOMEN_LAST if "gender" in (by, across) else ()
    return (
        report
        | history
        | (_one_way(grouped, k, keep) if across is None else _cross(grouped, k, keep))
    )


async def _history_from(session: AsyncSession, scope: str | None) -> date | None:
    """The first day the kept history of statuses holds (in the academy, or anywhere)."""
    first = select(func.min(ComplianceChange.changed_on))
    if scope is not None:
        first = in_academy(first, ComplianceChange.academy_id, scope)
    return await session.scalar(first)


def _one_way(grouped: Grouped, k: int, keep: Sequence[str] = ()) -> dict[str, Any]:
    cells = [Cell(g or UNSPECIFIED, count, total) for (g,), count, total in grouped.groups]
    overall = Cell("all", *grouped.overall)
    suppress(cells, overall, k, keep)
    return {
        "cells": [c.as_dict() for c in sorted(cells, key=lambda c: c.group)],
        "overall": overall.as_dict(),
    }


def _cross(grouped: Grouped, k: int, keep: Sequence[str] = ()) -> dict[str, Any]:
    """Inner cells, row totals (`cells`, as in a one-way report), column totals (`columns`)."""
    inner = [
        Cell(g or UNSPECIFIED, count, total, across=a or UNSPECIFIED)
        for (g, a), count, total in grouped.groups
    ]
    rows = _margins(inner, lambda c: c.group)
    columns = _margins(inner, lambda c: c.across or UNSPECIFIED)
    overall = Cell("all", *grouped.overall)
    suppress_cross(inner, rows, columns, overall, k, keep)
    return {
        "cells": [c.as_dict() for c in rows],
        "columns": [c.as_dict() for c in columns],
        "table": [c.as_dict() for c in sorted(inner, key=lambda c: (c.group, c.across or ""))],
        "overall": overall.as_dict(),
    }


def _margins(inner: list[Cell], key: Any) -> list[Cell]:
    sums: dict[str, list[int]] = {}
    for cell in inner:
        into = sums.setdefault(key(cell), [0, 0])
        into[0] += cell.count
        into[1] += cell.total
    return [Cell(group, count, total) for group, (count, total) in sorted(sums.items())]


def _in_range(stmt: Any, date_from: date | None, date_to: date | None) -> Any:
    if date_from:
        stmt = stmt.where(Cohort.starts_on >= date_from)
    if date_to:
        stmt = stmt.where(Cohort.starts_on <= date_to)
    return stmt


async def _participation(
    session: AsyncSession,
    keys: list[str],
    scope: str | None,
    date_from: date | None,
    date_to: date | None,
) -> Grouped:
    """Of the active trainees, how many took part (held a seat) in a cohort starting in range."""
    people = (
        select(Trainee.id)
        .join(Academy, Academy.id == Trainee.academy_id)
        .where(Trainee.active.is_(True))
    )
    taking_part = _in_range(
        select(Enrolment.trainee_id, Cohort.track_code, Cohort.module_code)
        .join(Cohort, Cohort.id == Enrolment.cohort_id)
        .where(Enrolment.status.in_(("enrolled", "completed", "failed"))),
        date_from,
        date_to,
    )
    if scope is not None:
        people = in_academy(people, Trainee.academy_id, scope)
        taking_part = in_academy(taking_part, Enrolment.academy_id, scope)
    population = int(await session.scalar(select(func.count()).select_from(people.subquery())) or 0)
    part = taking_part.subquery()
    participants = int(
        await session.scalar(
            select(func.count(distinct(part.c.trainee_id))).where(part.c.trainee_id.in_(people))
        )
        or 0
    )
    if keys == ["track"]:
        code = func.coalesce(part.c.track_code, part.c.module_code)
        rows = await session.execute(
            select(code, func.count(distinct(part.c.trainee_id)))
            .where(part.c.trainee_id.in_(people))
            .group_by(code)
        )
        return Grouped(
            [((g,), int(n), population) for g, n in rows.all()], (participants, population)
        )
    attributes = [ATTRIBUTES[key] for key in keys]
    rows = await session.execute(
        select(
            *attributes,
            func.count(distinct(Trainee.id)),
            func.count(distinct(case((Trainee.id.in_(select(part.c.trainee_id)), Trainee.id)))),
        )
        .join(Academy, Academy.id == Trainee.academy_id)
        .where(Trainee.id.in_(people))
        .group_by(*attributes)
    )
    n = len(keys)
    return Grouped(
        [(tuple(row[:n]), int(row[n + 1]), int(row[n])) for row in rows.all()],
        (participants, population),
    )


async def _completion(
    session: AsyncSession,
    keys: list[str],
    scope: str | None,
    date_from: date | None,
    date_to: date | None,
) -> Grouped:
    """Of the enrolments holding a seat in cohorts starting in range, how many completed."""
    columns = [
        func.coalesce(Cohort.track_code, Cohort.module_code) if key == "track" else ATTRIBUTES[key]
        for key in keys
    ]
    stmt = _in_range(
        select(
            *columns,
            func.count(Enrolment.id),
            func.count(case((Enrolment.status == "completed", Enrolment.id))),
        )
        .join(Cohort, Cohort.id == Enrolment.cohort_id)
        .join(Trainee, Trainee.id == Enrolment.trainee_id)
        .join(Academy, Academy.id == Enrolment.academy_id)
        .where(Enrolment.status.in_(("enrolled", "completed", "failed")))
        .group_by(*columns),
        date_from,
        date_to,
    )
    if scope is not None:
        stmt = in_academy(stmt, Enrolment.academy_id, scope)
    return _summed(await session.execute(stmt), len(keys))


def _summed(rows: Iterable[Any], n: int) -> Grouped:
    """Rows of (*keys, total, count) as groups, and the overall sums."""
    groups = [(tuple(row[:n]), int(row[n + 1]), int(row[n])) for row in rows]
    return Grouped(groups, (sum(g[1] for g in groups), sum(g[2] for g in groups)))


def _compliance_keys(keys: list[str]) -> list[Any]:
    return [Requirement.track_code if key == "track" else ATTRIBUTES[key] for key in keys]


async def _compliance(session: AsyncSession, keys: list[str], scope: str | None) -> Grouped:
    """Of the current trainee × requirement statuses, how many are compliant (or exempt)."""
    columns = _compliance_keys(keys)
    stmt = (
        select(
            *columns,
            func.count(ComplianceRecord.id),
            func.count(case((ComplianceRecord.status.in_(MEETS), ComplianceRecord.id))),
        )
        .join(Trainee, Trainee.id == ComplianceRecord.trainee_id)
        .join(Academy, Academy.id == Trainee.academy_id)
        .join(Requirement, Requirement.code == ComplianceRecord.requirement_code)
        .group_by(*columns)
    )
    if scope is not None:
        stmt = in_academy(stmt, ComplianceRecord.academy_id, scope)
    return _summed((await session.execute(stmt)).all(), len(keys))


Range = tuple[date | None, date | None]


async def _compliance_in(
    session: AsyncSession, keys: list[str], scope: str | None, ranges: Sequence[Range]
) -> list[Grouped]:
    """Compliance over each date range, from the history of statuses: every trainee ×
    requirement that applied on some day of the range, with its status on the last such day
    (the range's end, or the day it stopped applying), compliant or exempt counting as met."""
    columns = _compliance_keys(keys)
    ends = [end for _, end in ranges if end is not None]
    last = max(ends) if len(ends) == len(ranges) else None
    stmt = (
        select(
            ComplianceChange.trainee_id,
            ComplianceChange.requirement_code,
            ComplianceChange.changed_on,
            ComplianceChange.status,
            *columns,
        )
        .join(Trainee, Trainee.id == ComplianceChange.trainee_id)
        .join(Academy, Academy.id == Trainee.academy_id)
        .join(Requirement, Requirement.code == ComplianceChange.requirement_code)
        .order_by(
            ComplianceChange.trainee_id,
            ComplianceChange.requirement_code,
            ComplianceChange.changed_on,
            ComplianceChange.id,
        )
    )
    if last is not None:
        stmt = stmt.where(ComplianceChange.changed_on <= last)
    if scope is not None:
        stmt = in_academy(stmt, ComplianceChange.academy_id, scope)
    pairs: dict[tuple[str, str], tuple[tuple[Any, ...], list[tuple[date, str | None]]]] = {}
    for row in await session.execute(stmt):
        trainee_id, code, on, status = row[:4]
        pairs.setdefault((trainee_id, code), (tuple(row[4:]), []))[1].append((on, status))
    out = []
    for start, end in ranges:
        counts: dict[tuple[Any, ...], list[int]] = {}
        for key, changes in pairs.values():
            found = status_in(changes, start, end)
            if found is None:
                continue
            into = counts.setdefault(key, [0, 0])
            into[0] += 1
            into[1] += found in MEETS
        out.append(_summed([(*g, total, met) for g, (total, met) in counts.items()], len(keys)))
    return out


def status_in(
    changes: Sequence[tuple[date, str | None]], start: date | None, end: date | None
) -> str | None:
    """A trainee's status against a requirement over a range, from its changes in order (a
    None status: it stopped applying that day): the status on the range's end if it applied
    then, else the one it had when it stopped applying within the range, else None. Without a
    start the range is its end alone (a status on a day), and without either, today's."""
    current: str | None = None
    stopped_in_range: str | None = None
    for day, status in changes:
        if end is not None and day > end:
            break
        if status is None and current is not None and start is not None and day >= start:
            stopped_in_range = current
        current = status
    return current if current is not None else stopped_in_range


def month_ranges(date_from: date, date_to: date) -> list[tuple[date, date]]:
    """The calendar months from `date_from`'s to `date_to`'s, each cut to the range."""
    months = []
    start = date_from.replace(day=1)
    while start <= date_to:
        following = (start + timedelta(days=32)).replace(day=1)
        months.append((max(start, date_from), min(following - timedelta(days=1), date_to)))
        start = following
    return months


async def monthly(
    session: AsyncSession,
    *,
    who: Principal,
    academy_id: str | None,
    date_from: date,
    date_to: date,
    k: int,
) -> dict[str, Any]:
    """Compliance by gender for each month of the range (each month as a ranged report of its
    own, suppressed on its own), and the first day the history of statuses holds."""
    scope = academy_scope(who, academy_id)
    months = month_ranges(date_from, date_to)
    grouped = await _compliance_in(session, ["gender"], scope, months)
    history_from = await _history_from(session, scope)
    return {
        "measure": "compliance",
        "by": "gender",
        "academy_id": scope,
        "date_from": date_from,
        "date_to": date_to,
        "k": k,
        "history_from": history_from,
        "months": [
            _month(start, end, g, k, history_from)
            for (start, end), g in zip(months, grouped, strict=True)
        ],
    }


def _month(
    start: date, end: date, grouped: Grouped, k: int, history_from: date | None
) -> dict[str, Any]:
    """A month of the series; one that ended before the history began has no numbers (not
    zeros: nothing is known of it) and `history` false."""
    month = {"month": start.strftime("%Y-%m"), "date_from": start, "date_to": end}
    if history_from is None or end < history_from:
        nothing = {"group": "all", "count": None, "total": None, "rate": None}
        return month | {"history": False, "cells": [], "overall": nothing | {"suppressed": False}}
    return month | {"history": True, **_one_way(grouped, k, WOMEN_LAST)}


def _numbers(cell: dict[str, Any]) -> list[Any]:
    return [
        "" if cell["count"] is None else cell["count"],
        "" if cell["total"] is None else cell["total"],
        "" if cell["rate"] is None else cell["rate"],
        "true" if cell["suppressed"] else "false",
    ]


def as_csv(report: dict[str, Any]) -> str:
    """One line per group and one for all; a cross table's lines also name the column (`all`
    for a row's total, and a column's total has the group `all`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    across = report.get("across")
    if across is None:
        writer.writerow(["measure", "by", "group", "count", "total", "rate", "suppressed"])
        for cell in [*report["cells"], report["overall"]]:
            writer.writerow([report["measure"], report["by"], cell["group"], *_numbers(cell)])
        return out.getvalue()
    writer.writerow(
        ["measure", "by", "group", "across", "column", "count", "total", "rate", "suppressed"]
    )
    lines = [(cell["group"], cell["across"], cell) for cell in report["table"]]
    lines += [(cell["group"], "all", cell) for cell in report["cells"]]
    lines += [("all", cell["group"], cell) for cell in report["columns"]]
    lines.append(("all", "all", report["overall"]))
    for group, column, cell in lines:
        writer.writerow([report["measure"], report["by"], group, across, column, *_numbers(cell)])
    return out.getvalue()


def monthly_csv(report: dict[str, Any]) -> str:
    """One line per month and gender, and one per month for all; `history` false: the month
    ended before the kept history began, and its numbers are empty (unknown, not zero)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["month", "group", "count", "total", "rate", "suppressed", "history"])
    for month in report["months"]:
        history = "true" if month["history"] else "false"
        for cell in [*month["cells"], month["overall"]]:
            writer.writerow([month["month"], cell["group"], *_numbers(cell), history])
    return out.getvalue()
