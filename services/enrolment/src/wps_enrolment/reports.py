"""Aggregated, gender-disaggregated reports with small-cell suppression (k-anonymity).

A group's numbers are withheld when fewer than k people are in it, or when fewer than k meet
(or fail) the measure; then further groups are withheld until the withheld cells cannot be
recovered from the published totals (complementary suppression): at least two withheld, and
their sums (of people, of those meeting the measure, and of those not) each at least k.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal
from wps_common.tenancy import academy_scope, in_academy
from wps_enrolment.models import (
    Academy,
    Cohort,
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


@dataclass
class Cell:
    group: str
    count: int
    total: int
    hide_count: bool = False
    hide_total: bool = False

    def as_dict(self) -> dict[str, Any]:
        count = None if self.hide_count else self.count
        total = None if self.hide_total else self.total
        rate = round(count / total, 4) if count is not None and total else None
        return {
            "group": self.group,
            "count": count,
            "total": total,
            "rate": rate,
            "suppressed": self.hide_count or self.hide_total,
        }


def _primary(cell: Cell, k: int) -> None:
    if 0 < cell.total < k:
        cell.hide_total = cell.hide_count = True
    elif 0 < cell.count < k or 0 < cell.total - cell.count < k:
        cell.hide_count = True


def suppress(cells: list[Cell], overall: Cell, k: int) -> None:
    """Primary suppression of small cells, then complementary suppression per column."""
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
            victim = min(visible, key=lambda c: (getattr(c, column), c.group))
            setattr(victim, f"hide_{column}", True)
            if column == "total":
                victim.hide_count = True
    # A withheld total withholds its count too, which may need complements of its own.
    if not overall.hide_count:
        hidden = [c for c in cells if c.hide_count]
        sums = [sum(c.count for c in hidden), sum(c.total - c.count for c in hidden)]
        while not safe(hidden, sums):
            visible = [c for c in cells if not c.hide_count]
            min(visible, key=lambda c: (c.count, c.group)).hide_count = True
            hidden = [c for c in cells if c.hide_count]
            sums = [sum(c.count for c in hidden), sum(c.total - c.count for c in hidden)]


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
) -> dict[str, Any]:
    scope = academy_scope(who, academy_id)
    if measure == "participation":
        pairs = await _participation(session, by, scope, date_from, date_to)
    elif measure == "completion":
        pairs = await _completion(session, by, scope, date_from, date_to)
    else:
        pairs = await _compliance(session, by, scope)
    groups, overall_pair = pairs
    cells = [Cell(g or UNSPECIFIED, count, total) for g, count, total in groups]
    overall = Cell("all", *overall_pair)
    suppress(cells, overall, k)
    return {
        "measure": measure,
        "by": by,
        "academy_id": scope,
        "date_from": date_from,
        "date_to": date_to,
        "k": k,
        "cells": [c.as_dict() for c in sorted(cells, key=lambda c: c.group)],
        "overall": overall.as_dict(),
    }


Groups = tuple[list[tuple[str | None, int, int]], tuple[int, int]]


def _in_range(stmt: Any, date_from: date | None, date_to: date | None) -> Any:
    if date_from:
        stmt = stmt.where(Cohort.starts_on >= date_from)
    if date_to:
        stmt = stmt.where(Cohort.starts_on <= date_to)
    return stmt


async def _participation(
    session: AsyncSession, by: str, scope: str | None, date_from: date | None, date_to: date | None
) -> Groups:
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
    if by == "track":
        code = func.coalesce(part.c.track_code, part.c.module_code)
        rows = await session.execute(
            select(code, func.count(distinct(part.c.trainee_id)))
            .where(part.c.trainee_id.in_(people))
            .group_by(code)
        )
        return [(g, int(n), population) for g, n in rows.all()], (participants, population)
    attribute = ATTRIBUTES[by]
    rows = await session.execute(
        select(
            attribute,
            func.count(distinct(Trainee.id)),
            func.count(distinct(case((Trainee.id.in_(select(part.c.trainee_id)), Trainee.id)))),
        )
        .join(Academy, Academy.id == Trainee.academy_id)
        .where(Trainee.id.in_(people))
        .group_by(attribute)
    )
    return [(g, int(p), int(t)) for g, t, p in rows.all()], (participants, population)


async def _completion(
    session: AsyncSession, by: str, scope: str | None, date_from: date | None, date_to: date | None
) -> Groups:
    """Of the enrolments holding a seat in cohorts starting in range, how many completed."""
    key = func.coalesce(Cohort.track_code, Cohort.module_code) if by == "track" else ATTRIBUTES[by]
    stmt = _in_range(
        select(
            key,
            func.count(Enrolment.id),
            func.count(case((Enrolment.status == "completed", Enrolment.id))),
        )
        .join(Cohort, Cohort.id == Enrolment.cohort_id)
        .join(Trainee, Trainee.id == Enrolment.trainee_id)
        .join(Academy, Academy.id == Enrolment.academy_id)
        .where(Enrolment.status.in_(("enrolled", "completed", "failed")))
        .group_by(key),
        date_from,
        date_to,
    )
    if scope is not None:
        stmt = in_academy(stmt, Enrolment.academy_id, scope)
    groups = [(g, int(done), int(total)) for g, total, done in (await session.execute(stmt))]
    return groups, (sum(g[1] for g in groups), sum(g[2] for g in groups))


async def _compliance(session: AsyncSession, by: str, scope: str | None) -> Groups:
    """Of the current trainee × requirement statuses, how many are compliant (or exempt)."""
    key = Requirement.track_code if by == "track" else ATTRIBUTES[by]
    stmt = (
        select(
            key,
            func.count(ComplianceRecord.id),
            func.count(
                case((ComplianceRecord.status.in_(("compliant", "exempt")), ComplianceRecord.id))
            ),
        )
        .join(Trainee, Trainee.id == ComplianceRecord.trainee_id)
        .join(Academy, Academy.id == Trainee.academy_id)
        .join(Requirement, Requirement.code == ComplianceRecord.requirement_code)
        .group_by(key)
    )
    if scope is not None:
        stmt = in_academy(stmt, ComplianceRecord.academy_id, scope)
    groups = [(g, int(ok), int(total)) for g, total, ok in (await session.execute(stmt)).all()]
    return groups, (sum(g[1] for g in groups), sum(g[2] for g in groups))


def as_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["measure", "by", "group", "count", "total", "rate", "suppressed"])
    for cell in [*report["cells"], report["overall"]]:
        writer.writerow(
            [
                report["measure"],
                report["by"],
                cell["group"],
                "" if cell["count"] is None else cell["count"],
                "" if cell["total"] is None else cell["total"],
                "" if cell["rate"] is None else cell["rate"],
                "true" if cell["suppressed"] else "false",
            ]
        )
    return out.getvalue()
